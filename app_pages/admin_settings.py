"""Admin settings: greeting, stock display, VAT rates, currency, time zone, name and logo."""

import streamlit as st

from portal import settings as portal_settings
from portal.models import StockDisplay
from portal.settings import SettingsInput
from portal.text import sanitize_markdown
from portal.ui.context import admin_page_context, perform, show_flash

context = admin_page_context()
show_flash()
t = context.t

st.title(t("nav.admin_settings"))
with context.database.read() as session:
    current = portal_settings.load_settings(session)

with st.form("settings"):
    name = st.text_input(t("admin_settings.portal_name"), value=current.portal_name, max_chars=200)
    english_column, dutch_column = st.columns(2)
    greeting_en = english_column.text_area(
        t("admin_settings.greeting_en"),
        value=current.greeting_en,
        height=260,
        max_chars=portal_settings.MAX_GREETING_LENGTH,
    )
    greeting_nl = dutch_column.text_area(
        t("admin_settings.greeting_nl"),
        value=current.greeting_nl,
        height=260,
        max_chars=portal_settings.MAX_GREETING_LENGTH,
    )
    modes = {mode.value: t(f"admin_settings.stock_display_{mode.value}") for mode in StockDisplay}
    stock_display = st.radio(
        t("admin_settings.stock_display"),
        list(modes),
        index=list(modes).index(current.stock_display.value),
        format_func=modes.__getitem__,
        horizontal=True,
    )
    threshold_column, rates_column, currency_column, zone_column = st.columns(4)
    threshold = threshold_column.text_input(
        t("admin_settings.low_stock_threshold"), value=str(current.low_stock_threshold), max_chars=7
    )
    vat_rates = rates_column.text_input(t("admin_settings.vat_rates"), value=current.vat_rates, max_chars=100)
    currency = currency_column.text_input(t("admin_settings.currency"), value=current.currency, max_chars=3)
    time_zone = zone_column.text_input(t("admin_settings.time_zone"), value=current.time_zone, max_chars=64)
    if st.form_submit_button(t("admin_settings.save"), type="primary"):
        values = SettingsInput(name, greeting_en, greeting_nl, stock_display, threshold, vat_rates, currency, time_zone)
        perform(
            context,
            lambda session: portal_settings.update_settings(session, values, context.user.id),
            lambda _: t("admin_settings.saved"),
        )

st.subheader(t("admin_settings.preview"))
preview_language = st.radio(
    t("nav.language"), ["nl", "en"], horizontal=True, format_func={"nl": "Nederlands", "en": "English"}.__getitem__
)
with st.container(border=True):
    st.markdown(sanitize_markdown(current.greeting_nl if preview_language == "nl" else current.greeting_en))

st.subheader(t("admin_settings.logo"))
if current.logo:
    st.image(current.logo, width=200)
    if st.button(t("admin_settings.remove_logo")):
        perform(
            context,
            lambda session: portal_settings.remove_logo(session, context.user.id),
            lambda _: t("admin_settings.logo_removed"),
        )
upload = st.file_uploader(t("admin_settings.upload_logo"), type=["png", "jpg", "jpeg"])
if upload is not None and st.button(t("admin_settings.save_logo")):
    data = upload.getvalue()
    perform(
        context,
        lambda session: portal_settings.store_logo(session, data, context.user.id),
        lambda _: t("admin_settings.logo_saved"),
    )
