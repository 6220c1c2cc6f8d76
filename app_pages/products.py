"""Products: the customer's catalogue with search, paging and a detail view per product."""

import streamlit as st

from portal import cart, catalog
from portal.errors import NotFound
from portal.text import escape_markdown
from portal.ui.context import fragment_page_context, page_context, require_customer, show_flash
from portal.ui.widgets import (
    PRODUCT_LIST_FRAGMENT,
    add_to_order_ui,
    back_link,
    detail_page_link,
    in_order_badge,
    order_row_ui,
    row_message,
    show_added_toast,
    stock_label,
    unit_label,
)

CURSORS_KEY = "catalog_cursors"
# Rows per page on screen. Each row draws about eight elements, which every rerun sends to
# the browser. The catalogue query itself is as fast for 50 rows.
ROWS_PER_PAGE = 25
# Widths of the list's cells: code, name, price, stock and the quantity with its Add button.
CELL_PIXELS = (80, "stretch", 100, 130, 260)

# The link target of a product name. A st.Page object, not a path: a fragment rerun skips
# Home.py's st.navigation, and st.page_link then cannot look a path up.
PRODUCTS_PAGE = st.Page("app_pages/products.py", url_path="products")

context = page_context()
customer = require_customer(context)
show_flash()


def reset_paging() -> None:
    st.session_state[CURSORS_KEY] = [None]


def next_page(cursor: list) -> None:
    st.session_state[CURSORS_KEY].append(cursor)


def previous_page() -> None:
    st.session_state[CURSORS_KEY].pop()


def show_detail(sku: str) -> None:
    # Puts the parameter in the address bar after a click on a product link (see detail_page_link).
    st.query_params["product"] = sku
    back_link(context.t("products.back"), "product")
    try:
        if not catalog.looks_like_sku(sku):
            raise NotFound("product")
        with context.database.read() as session:
            detail = catalog.get_product(session, customer, sku)
            image = catalog.product_image(session, customer, detail.row.id) if detail.has_image else None
            in_order = cart.cart_quantities(session, context.user.id, customer.customer_id).get(detail.row.id)
    except NotFound:
        st.warning(context.t("error.not_found"))
        return

    row = detail.row
    st.title(escape_markdown(row.name))
    photo_column, info_column = st.columns([1, 2])
    with photo_column:
        if image:
            st.image(image, width="stretch")
        else:
            st.markdown("# 📷")
            st.caption(context.t("products.no_photo"))
    with info_column:
        st.markdown(f"**{context.t('products.sku')}:** {escape_markdown(row.sku)}")
        if row.ean:
            st.markdown(f"**{context.t('products.ean')}:** {escape_markdown(row.ean)}")
        if row.product_group:
            st.markdown(f"**{context.t('products.group')}:** {escape_markdown(row.product_group)}")
        st.markdown(f"### {escape_markdown(context.fmt.unit_price(row.unit_price))}")
        st.caption(context.t("products.per_unit_excl_vat", unit=escape_markdown(unit_label(context, row.unit))))
        for from_quantity, price in detail.tiers:
            st.caption(
                context.t(
                    "products.volume_price",
                    quantity=from_quantity,
                    price=escape_markdown(context.fmt.unit_price(price)),
                )
            )
        st.caption(context.t("products.vat_rate", rate=context.fmt.percent(row.vat_rate)))
        label = stock_label(context, row.stock, row.unit)
        if label:
            st.markdown(label)
        if row.min_quantity > 1 or row.order_multiple > 1:
            st.caption(context.t("products.quantity_rules", minimum=row.min_quantity, multiple=row.order_multiple))
        add_to_order_ui(context, row, "detail")
        row_message(row.id)
        in_order_badge(in_order)
    if detail.description:
        st.divider()
        st.text(detail.description)


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
    for row in page.rows:
        with st.container(horizontal=True, vertical_alignment="center"):
            st.text(row.sku, width=CELL_PIXELS[0])
            detail_page_link(row.name, PRODUCTS_PAGE, "product", row.sku, width=CELL_PIXELS[1])
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


selected = st.query_params.get("product")
if selected:
    show_detail(selected)
else:
    show_list()
