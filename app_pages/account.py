"""Account: change the signed-in user's own password."""

import streamlit as st

from portal.errors import PortalError
from portal.ui import auth
from portal.ui.context import error_text, flash, page_context, show_flash

context = page_context()
show_flash()
t = context.t

st.title(t("account.title"))
st.caption(t("account.signed_in_as", username=context.user.username))
with st.form("change_password", clear_on_submit=True):
    current = st.text_input(t("account.current_password"), type="password")
    new = st.text_input(t("account.new_password"), type="password", help=t("account.password_rules"))
    repeated = st.text_input(t("account.repeat_password"), type="password")
    if st.form_submit_button(t("account.change"), type="primary"):
        if new != repeated:
            st.error(t("account.passwords_differ"))
        else:
            try:
                auth.change_password(context.database, context.user, current, new)
            except PortalError as error:
                st.error(error_text(context, error))
            else:
                flash("success", t("account.changed"))
                st.rerun()
