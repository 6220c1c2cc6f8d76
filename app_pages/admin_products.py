"""Admin products: the product table editor, photos, import and export."""

import streamlit as st

from portal.ui.context import admin_page_context

context = admin_page_context()
st.title(context.t("nav.admin_products"))
# TODO: this screen is being built; until then it shows its title only.
