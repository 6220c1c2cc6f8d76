"""Admin: the entry point of the supplier's screens."""

import streamlit as st

from portal.ui.context import admin_page_context

context = admin_page_context()

st.title(context.t("admin.title"))
st.markdown(context.t("admin.intro"))
