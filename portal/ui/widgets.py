"""Widgets that several pages draw: stock labels and the add-to-order control."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Literal

import streamlit as st

from portal import cart
from portal.catalog import ProductRow, StockInfo
from portal.errors import PortalError
from portal.i18n import catalog
from portal.models import StockDisplay
from portal.text import escape_markdown
from portal.ui.context import PageContext, checked_page_context, error_text

log = logging.getLogger(__name__)

ROW_MESSAGE_KEY = "row_message"
# The product list, which an Add from one of its rows reruns with the cart summary.
PRODUCT_LIST_FRAGMENT = "product_list"
# The sidebar's cart summary, rerun with the product list after an Add from the list.
CART_SUMMARY_FRAGMENT = "cart_summary"
# The toast that the product list shows after an Add from one of its rows.
TOAST_KEY = "row_toast"
QUANTITY_FIELD_PIXELS = 100


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
    """Add the typed quantity to the current order and put the default back in the quantity field."""
    # Callbacks run before Home.py's sign-in gate, so the sign-in is checked here.
    context = checked_page_context()
    quantity = _add_typed_quantity(context, product_id, input_key)
    if quantity is not None:
        st.session_state[input_key] = default
        st.toast(context.t("cart.added", quantity=quantity))


def _add_typed_quantity(context: PageContext, product_id: int, input_key: str) -> int | None:
    """Add the quantity typed in the field to the current order and return the line's new quantity.

    On an invalid quantity, store the error for row_message and return None.
    """
    customer = context.request.customer
    if customer is None:
        return None
    raw = st.session_state.get(input_key, "")
    try:
        with context.database.write() as session:
            quantity = cart.add_to_cart(session, customer, context.user.id, product_id, raw)
    except PortalError as error:
        st.session_state[ROW_MESSAGE_KEY] = (product_id, error_text(context, error))
        return None
    st.session_state.pop(ROW_MESSAGE_KEY, None)
    return quantity


def add_to_order_ui(context: PageContext, row: ProductRow, key_prefix: str) -> None:
    """Draw a quantity field and an Add button that adds to the current order and reruns the page."""
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


def order_row_ui(context: PageContext, row: ProductRow, in_order: int | None) -> None:
    """Draw a product list row's quantity field, Add button and in-order badge as cells of the row.

    Draw them inside the PRODUCT_LIST_FRAGMENT fragment: an Add reruns the list and the
    sidebar's cart summary instead of the whole page. `in_order` is the quantity in the
    current order. The caller shows the Add's error, with row_message.
    """
    # The key contains the quantity in the order, so after an Add the row draws a new field
    # with the default in it. Setting the old key's value in the callback does not reach
    # the browser when st.rerun names the fragments to rerun (Streamlit 1.67).
    input_key = f"list_quantity_{row.id}" if not in_order else f"list_quantity_{row.id}_{in_order}"
    # A default, not a value written to st.session_state: in Streamlit 1.67 every value
    # widget copies the whole session state as it draws, so each entry slows all of them.
    st.text_input(
        context.t("products.quantity_for", sku=escape_markdown(row.sku)),
        value=str(row.min_quantity),
        key=input_key,
        label_visibility="collapsed",
        max_chars=8,
        # A fixed width keeps the Add buttons of all rows in one line.
        width=QUANTITY_FIELD_PIXELS,
    )
    st.button(
        context.t("products.add"), key=f"list_add_{row.id}", on_click=_add_clicked_in_row, args=(row.id, input_key)
    )
    in_order_badge(in_order)


def show_added_toast() -> None:
    """Show the toast of the last Add from the product list, once."""
    message = st.session_state.pop(TOAST_KEY, None)
    if message is not None:
        st.toast(message)


def _add_clicked_in_row(product_id: int, input_key: str) -> None:
    """Add from a product list row, then rerun only the list and the sidebar's cart summary."""
    # Callbacks run before Home.py's sign-in gate, and in a fragment rerun without it.
    context = checked_page_context()
    quantity = _add_typed_quantity(context, product_id, input_key)
    if quantity is None:
        return
    del st.session_state[input_key]
    # Shown by the list: a toast drawn in a callback of a fragment rerun makes Streamlit warn.
    st.session_state[TOAST_KEY] = context.t("cart.added", quantity=quantity)
    # Replaces the default rerun of the list alone, so the sidebar shows the new total too.
    st.rerun([PRODUCT_LIST_FRAGMENT, CART_SUMMARY_FRAGMENT])


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


def detail_page_link(
    label: str, page: st.Page, parameter: str, value: str, width: int | Literal["content", "stretch"] = "content"
) -> None:
    """Draw a link to `page`, the detail page of one object, with the query parameter that names it.

    A link keeps nothing in the session. A link-styled button is a widget: it costs about
    700 bytes per session (tracemalloc in the server) and makes every rerun that draws it
    longer. Link to another page: a link to the page already open does not put the
    parameter in the address bar (Streamlit 1.67).
    """
    st.page_link(page, label=escape_markdown(label), query_params={parameter: value}, width=width)
