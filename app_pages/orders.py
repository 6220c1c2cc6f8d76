"""Orders: the company's orders, newest first, each linked to its own page."""

import datetime as dt

import streamlit as st

from portal import ordering
from portal.ui import routes
from portal.ui.context import page_context, require_customer, show_flash
from portal.ui.widgets import detail_page_link

CURSORS_KEY = "order_cursors"

context = page_context()
customer = require_customer(context)
routes.forward_saved_link("order", routes.ORDER)
show_flash()


def show_list() -> None:
    st.title(context.t("orders.title"))
    cursors = st.session_state.setdefault(CURSORS_KEY, [None])
    before = (dt.datetime.fromisoformat(cursors[-1][0]), cursors[-1][1]) if cursors[-1] is not None else None
    with context.database.read() as session:
        page = ordering.list_orders(session, customer.customer_id, before)

    if not page.rows:
        st.info(context.t("orders.none"))
        return
    order_page = routes.ORDER.page()
    widths = [1.5, 2, 1.5, 1.5]
    header = st.columns(widths)
    for column, key in zip(header, ("number", "date", "status", "total"), strict=True):
        column.caption(context.t(f"orders.column_{key}"))
    for row in page.rows:
        number_column, date_column, status_column, total_column = st.columns(widths, vertical_alignment="center")
        with number_column:
            detail_page_link(row.number, order_page, "order", row.number)
        date_column.text(context.fmt.datetime(row.placed_at))
        status_column.text(context.t(f"order.status_{row.status.value}"))
        total_column.text(context.fmt.money(row.total))

    previous_column, position_column, next_column = st.columns([1, 2, 1])
    if len(cursors) > 1:
        previous_column.button(context.t("paging.previous"), key="orders_previous", on_click=cursors.pop)
    position_column.caption(context.t("paging.page", number=len(cursors)))
    if page.next_cursor is not None:
        placed_at, order_id = page.next_cursor
        next_column.button(
            context.t("paging.next"),
            key="orders_next",
            on_click=cursors.append,
            args=([placed_at.isoformat(), order_id],),
        )


show_list()
