"""Admin stock: goods receipts, corrections and the movement history per product."""

import streamlit as st

from portal.ui.context import admin_page_context

context = admin_page_context()
st.title(context.t("nav.admin_stock"))
# TODO: this screen is being built; until then it shows its title only.
