"""Admin stock: goods receipts, corrections and the movement history per product."""

import pandas as pd
import streamlit as st

from portal import stock
from portal.errors import PortalError
from portal.quantities import parse_quantity
from portal.ui.context import admin_page_context, error_text, perform, show_flash

context = admin_page_context()
show_flash()
t = context.t

st.title(t("nav.admin_stock"))
query = st.text_input(t("admin_stock.search"), placeholder=t("products.search_placeholder"), max_chars=100)
with context.database.read() as session:
    matches = stock.find_products(session, query)
if not matches:
    st.info(t("products.none_found"))
    st.stop()

inactive = f" ({t('admin_stock.inactive')})"
labels = {row.id: f"{row.sku} · {row.name}" + ("" if row.active else inactive) for row in matches}
product_id = st.selectbox(t("admin_stock.product"), list(labels), format_func=labels.__getitem__)
row = next(row for row in matches if row.id == product_id)

on_hand_column, allocated_column, free_column = st.columns(3)
on_hand_column.metric(t("admin_stock.on_hand"), context.fmt.number(row.on_hand))
allocated_column.metric(t("admin_stock.allocated"), context.fmt.number(row.allocated))
free_column.metric(t("admin_stock.free"), context.fmt.number(row.free))


def book(action, success_key: str) -> None:
    perform(
        context,
        action,
        lambda result: t(success_key, on_hand=result.on_hand, allocated=result.allocated_to_backorders),
    )


receipt_column, correction_column = st.columns(2)
with receipt_column, st.form("receipt", clear_on_submit=True):
    st.subheader(t("admin_stock.receipt_title"))
    received = st.text_input(t("admin_stock.quantity"), max_chars=8)
    reference = st.text_input(t("admin_stock.reference"), max_chars=stock.MAX_REFERENCE_LENGTH)
    if st.form_submit_button(t("admin_stock.receive")):
        try:
            quantity = parse_quantity(received)
        except PortalError as error:
            st.error(error_text(context, error))
        else:
            book(
                lambda session: stock.receive_stock(session, product_id, quantity, reference, context.user.id),
                "admin_stock.received",
            )

with correction_column, st.form("correction", clear_on_submit=True):
    st.subheader(t("admin_stock.correction_title"))
    change_text = st.text_input(t("admin_stock.change"), max_chars=9, help=t("admin_stock.change_help"))
    reason = st.text_input(t("admin_stock.reason"), max_chars=stock.MAX_REFERENCE_LENGTH)
    if st.form_submit_button(t("admin_stock.correct")):
        text = change_text.strip()
        sign = -1 if text.startswith("-") else 1
        try:
            change = sign * parse_quantity(text.lstrip("+-"))
        except PortalError as error:
            st.error(error_text(context, error))
        else:
            book(
                lambda session: stock.correct_stock(session, product_id, change, reason, context.user.id),
                "admin_stock.corrected",
            )

st.subheader(t("admin_stock.history"))
with context.database.read() as session:
    movements = stock.list_movements(session, product_id)
if not movements:
    st.caption(t("admin_stock.no_movements"))
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("admin_stock.column_when"): context.fmt.datetime(movement.created_at),
                    t("admin_stock.column_kind"): t(f"admin_stock.kind_{movement.kind.value}"),
                    t("admin_stock.column_on_hand_change"): movement.on_hand_change,
                    t("admin_stock.column_allocated_change"): movement.allocated_change,
                    t("admin_stock.column_reference"): movement.reference,
                    t("admin_stock.column_user"): movement.username or "",
                }
                for movement in movements
            ]
        ),
        hide_index=True,
        width="stretch",
    )
