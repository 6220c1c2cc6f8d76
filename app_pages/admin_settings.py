"""Admin settings: greeting, stock display, VAT rates, currency, time zone, name and logo."""

import streamlit as st

from portal.ui.context import admin_page_context

context = admin_page_context()
st.title(context.t("nav.admin_settings"))
# TODO: this screen is being built; until then it shows its title only.
