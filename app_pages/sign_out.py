"""Sign out: ends the session here and invalidates the user's cookies everywhere."""

import streamlit as st

from portal.ui import auth
from portal.ui.context import page_context

context = page_context()
auth.sign_out(context.database, context.user)
st.switch_page("app_pages/home.py")
