"""Sign out: ends the session here and invalidates the user's cookies everywhere.

Signing out takes a click on this page, so a link to /sign-out from another site
cannot sign the user out.
"""

import streamlit as st

from portal.ui import auth
from portal.ui.context import page_context

context = page_context()
st.title(context.t("sign_out.title"))
st.write(context.t("sign_out.explanation"))
if st.button(context.t("sign_out.confirm"), type="primary", key="confirm_sign_out"):
    auth.sign_out(context.database, context.user)
    st.switch_page("app_pages/home.py")
