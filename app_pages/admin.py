"""Admin: the entry point of the supplier's screens."""

import streamlit as st

from portal.ui.context import page_context

context = page_context()
if not context.user.is_admin:
    # Navigation never offers this page to customers; this guards a direct run anyway.
    st.stop()

st.title(context.t("admin.title"))
st.info(context.t("admin.intro"))
