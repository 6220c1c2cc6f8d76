"""Widgets that several pages draw: stock labels and the add-to-order control."""

from __future__ import annotations

import logging
from decimal import Decimal

import streamlit as st

from portal import cart
from portal.catalog import ProductRow, StockInfo
from portal.errors import PortalError
from portal.i18n import catalog
from portal.models import StockDisplay
from portal.text import escape_markdown
from portal.ui.context import PageContext, error_text, page_context

log = logging.getLogger(__name__)

ROW_MESSAGE_KEY = "row_message"


def unit_label(context: PageContext, unit: str) -> str:
    """Return a unit in the user's language when it is one the catalogs know, else as stored."""
    key = f"unit.{unit.strip().lower()}"
    return context.t(key) if key in catalog(context.request.language) else unit


def stock_label(context: PageContext, stock: StockInfo, unit: str) -> str:
    """Return stock as the supplier's stock display setting allows the customer to see it."""
    if stock.mode is StockDisplay.HIDDEN:
        return ""
    if stock.mode is StockDisplay.EXACT:
        if stock.quantity:
            return context.t("stock.exact", quantity=context.fmt.number(stock.quantity), unit=unit_label(context, unit))
        return "🔴 " + context.t("stock.out")
    icon = {"in_stock": "🟢", "low": "🟠", "out": "🔴"}[stock.level]
    return f"{icon} {context.t('stock.' + stock.level)}"


def in_order_badge(quantity: int | None) -> None:
    """Show a green check mark with the quantity for a product in the current order."""
    if quantity:
        st.markdown(f":green-badge[✅ {int(quantity)}]")


def _add_clicked(product_id: int, input_key: str, default: str) -> None:
    context = page_context()
    customer = context.request.customer
    if customer is None:
        return
    raw = st.session_state.get(input_key, "")
    try:
        with context.database.write() as session:
            quantity = cart.add_to_cart(session, customer, context.user.id, product_id, raw)
    except PortalError as error:
        st.session_state[ROW_MESSAGE_KEY] = (product_id, error_text(context, error))
        return
    st.session_state.pop(ROW_MESSAGE_KEY, None)
    st.session_state[input_key] = default
    st.toast(context.t("cart.added", quantity=quantity))


def add_to_order_ui(context: PageContext, row: ProductRow, key_prefix: str) -> None:
    """Draw a quantity field and an Add button that adds to the current order."""
    input_key = f"{key_prefix}_quantity_{row.id}"
    default = str(row.min_quantity)
    if input_key not in st.session_state:
        st.session_state[input_key] = default
    quantity_column, button_column = st.columns([1, 1], vertical_alignment="bottom")
    quantity_column.text_input(
        context.t("products.quantity_for", sku=escape_markdown(row.sku)),
        key=input_key,
        label_visibility="collapsed",
        max_chars=8,
    )
    button_column.button(
        context.t("products.add"),
        key=f"{key_prefix}_add_{row.id}",
        on_click=_add_clicked,
        args=(row.id, input_key, default),
    )


def row_message(product_id: int) -> None:
    """Show, once, the error of the last Add on this product's row."""
    message = st.session_state.get(ROW_MESSAGE_KEY)
    if message is not None and message[0] == product_id:
        del st.session_state[ROW_MESSAGE_KEY]
        st.error(message[1])


def totals_ui(context: PageContext, subtotal: Decimal, vat_by_rate: dict[Decimal, Decimal], total: Decimal) -> None:
    """Show subtotal excl. VAT, VAT per rate and total incl. VAT."""
    money = context.fmt.money
    st.markdown(f"{context.t('cart.subtotal')}: **{escape_markdown(money(subtotal))}**")
    for rate, amount in vat_by_rate.items():
        label = context.t("cart.vat", rate=escape_markdown(context.fmt.percent(rate)))
        st.markdown(f"{label}: {escape_markdown(money(amount))}")
    st.markdown(f"**{context.t('cart.total')}: {escape_markdown(money(total))}**")


def _open_detail(parameter: str, value: str) -> None:
    st.query_params[parameter] = value


def _close_detail(parameter: str) -> None:
    if parameter in st.query_params:
        del st.query_params[parameter]


def detail_link(label: str, parameter: str, value: str, key: str) -> None:
    """Draw a link-styled button that opens a detail view by setting a query parameter.

    Writing st.query_params puts the parameter in the browser's address bar, so the
    detail view survives reruns and reloads and its URL can be shared. st.page_link
    with query_params does not change the address bar in Streamlit 1.67.
    """
    st.button(escape_markdown(label), key=key, type="tertiary", on_click=_open_detail, args=(parameter, value))


def back_link(label: str, parameter: str) -> None:
    """Draw a link-styled button that closes the detail view named by the query parameter."""
    st.button(f"⬅️ {label}", key=f"back_{parameter}", type="tertiary", on_click=_close_detail, args=(parameter,))
