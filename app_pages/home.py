"""Home: the supplier's greeting."""

import streamlit as st

from portal.settings import greeting
from portal.text import escape_markdown, sanitize_markdown
from portal.ui.context import page_context, show_flash

context = page_context()
show_flash()

with context.database.read() as session:
    portal_name, text = greeting(session, context.request.language)

st.title(escape_markdown(portal_name))
st.caption(context.t("home.signed_in_as", name=escape_markdown(context.user.name)))
st.markdown(sanitize_markdown(text))
