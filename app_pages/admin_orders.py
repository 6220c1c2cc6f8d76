"""Admin orders: review, accept, cancel, deliver and enter orders."""

import streamlit as st

from portal.ui.context import admin_page_context

context = admin_page_context()
st.title(context.t("nav.admin_orders"))
# TODO: this screen is being built; until then it shows its title only.
