"""Products: the customer's catalogue with search and paging, each product linked to its own page."""

import streamlit as st

from portal import cart, catalog
from portal.ui import routes
from portal.ui.context import fragment_page_context, page_context, require_customer, show_flash
from portal.ui.widgets import (
    PRODUCT_LIST_FRAGMENT,
    detail_page_link,
    order_row_ui,
    row_message,
    show_added_toast,
    stock_label,
)

CURSORS_KEY = "catalog_cursors"
# Rows per page on screen. Each row draws about eight elements, which every rerun sends to
# the browser. The catalogue query itself is as fast for 50 rows.
ROWS_PER_PAGE = 25
# Widths of the list's cells: code, name, price, stock and the quantity with its Add button.
CELL_PIXELS = (80, "stretch", 100, 130, 260)

context = page_context()
customer = require_customer(context)
routes.forward_saved_link("product", routes.PRODUCT)
show_flash()


def reset_paging() -> None:
    st.session_state[CURSORS_KEY] = [None]


def next_page(cursor: list) -> None:
    st.session_state[CURSORS_KEY].append(cursor)


def previous_page() -> None:
    st.session_state[CURSORS_KEY].pop()


def show_list() -> None:
    st.title(context.t("products.title"))
    st.fragment(product_list, key=PRODUCT_LIST_FRAGMENT)()


def product_list() -> None:
    """Draw the search box, one page of products and the paging buttons.

    It runs as a fragment, so a search, a page turn or an Add reruns the list alone, not
    the menu and the sidebar around it.
    """
    # A fragment rerun skips Home.py, so the sign-in and the customer's prices are read afresh.
    list_context = fragment_page_context()
    list_customer = require_customer(list_context)
    st.text_input(
        list_context.t("products.search"),
        key="product_search",
        placeholder=list_context.t("products.search_placeholder"),
        on_change=reset_paging,
        max_chars=catalog.MAX_SEARCH_LENGTH,
    )
    cursors = st.session_state.setdefault(CURSORS_KEY, [None])
    after = tuple(cursors[-1]) if cursors[-1] is not None else None

    with list_context.database.read() as session:
        page = catalog.search_products(
            session, list_customer, st.session_state.get("product_search", ""), after, page_size=ROWS_PER_PAGE
        )
        in_order = cart.cart_quantities(session, list_context.user.id, list_customer.customer_id)

    show_added_toast()
    if not page.rows:
        st.info(list_context.t("products.none_found"))
        return
    # Each row is one horizontal container with fixed-width cells, so the cells line up
    # from row to row. st.columns would add an element per cell, and each element adds
    # to the rerun's cost.
    with st.container(horizontal=True, vertical_alignment="center"):
        for key, width in zip(("sku", "name", "price", "stock", "add"), CELL_PIXELS, strict=True):
            st.caption(list_context.t(f"products.column_{key}"), width=width)
    product_page = routes.PRODUCT.page()
    for row in page.rows:
        with st.container(horizontal=True, vertical_alignment="center"):
            st.text(row.sku, width=CELL_PIXELS[0])
            detail_page_link(row.name, product_page, "product", row.sku, width=CELL_PIXELS[1])
            st.text(list_context.fmt.unit_price(row.unit_price), width=CELL_PIXELS[2])
            st.markdown(stock_label(list_context, row.stock, row.unit) or " ", width=CELL_PIXELS[3])
            order_row_ui(list_context, row, in_order.get(row.id))
        row_message(row.id)

    previous_column, position_column, next_column = st.columns([1, 2, 1])
    if len(cursors) > 1:
        previous_column.button(list_context.t("paging.previous"), key="catalog_previous", on_click=previous_page)
    position_column.caption(list_context.t("paging.page", number=len(cursors)))
    if page.next_cursor is not None:
        next_column.button(
            list_context.t("paging.next"), key="catalog_next", on_click=next_page, args=(list(page.next_cursor),)
        )


show_list()
