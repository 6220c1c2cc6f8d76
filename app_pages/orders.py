"""Orders: the company's orders, newest first, and a detail view per order."""

import datetime as dt

import pandas as pd
import streamlit as st

from portal import ordering
from portal.errors import NotFound
from portal.text import escape_markdown
from portal.ui.context import PageContext, page_context, require_customer, show_flash
from portal.ui.widgets import back_link, detail_link, totals_ui

CURSORS_KEY = "order_cursors"

context = page_context()
customer = require_customer(context)
show_flash()


def status_label(context: PageContext, status: str) -> str:
    return context.t(f"order.status_{status}")


def show_detail(number: str) -> None:
    back_link(context.t("orders.back"), "order")
    try:
        with context.database.read() as session:
            detail = ordering.get_order(session, customer.customer_id, number[:40])
    except NotFound:
        st.warning(context.t("error.not_found"))
        return

    summary = detail.summary
    st.title(context.t("orders.detail_title", number=escape_markdown(summary.number)))
    date_column, status_column, total_column = st.columns(3)
    date_column.metric(context.t("orders.column_date"), context.fmt.datetime(summary.placed_at))
    status_column.metric(context.t("orders.column_status"), status_label(context, summary.status.value))
    total_column.metric(context.t("orders.total_incl_vat"), context.fmt.money(summary.total))

    lines = pd.DataFrame(
        [
            {
                context.t("orders.column_sku"): line.sku,
                context.t("orders.column_name"): line.name,
                context.t("orders.column_ordered"): line.quantity,
                context.t("orders.column_delivered"): line.delivered,
                context.t("orders.column_backordered"): line.backordered,
                context.t("orders.column_cancelled"): line.cancelled,
                context.t("orders.column_unit_price"): context.fmt.unit_price(line.unit_price),
                context.t("orders.column_line_total"): context.fmt.money(line.line_total),
            }
            for line in detail.lines
        ]
    )
    st.dataframe(lines, hide_index=True, width="stretch")

    totals_ui(context, detail.subtotal, detail.vat_by_rate, summary.total)

    address_column, comment_column = st.columns(2)
    with address_column:
        st.subheader(context.t("orders.address"))
        name, street, postcode, city, country = detail.address
        st.text("\n".join(part for part in (name, street, f"{postcode} {city}".strip(), country) if part))
    with comment_column:
        st.subheader(context.t("orders.comment"))
        st.text(detail.comment or context.t("orders.no_comment"))

    st.subheader(context.t("orders.deliveries"))
    if not detail.deliveries:
        st.caption(context.t("orders.no_deliveries"))
    for delivery in detail.deliveries:
        st.markdown(
            f"**{escape_markdown(context.fmt.date(delivery.delivered_on))}** · "
            f"{context.t('orders.track_and_trace')}: {escape_markdown(delivery.track_and_trace or '-')}"
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        context.t("orders.column_sku"): sku,
                        context.t("orders.column_name"): name,
                        context.t("orders.column_delivered"): quantity,
                    }
                    for sku, name, quantity in delivery.lines
                ]
            ),
            hide_index=True,
            width="stretch",
        )


def show_list() -> None:
    st.title(context.t("orders.title"))
    cursors = st.session_state.setdefault(CURSORS_KEY, [None])
    before = (dt.datetime.fromisoformat(cursors[-1][0]), cursors[-1][1]) if cursors[-1] is not None else None
    with context.database.read() as session:
        page = ordering.list_orders(session, customer.customer_id, before)

    if not page.rows:
        st.info(context.t("orders.none"))
        return
    widths = [1.5, 2, 1.5, 1.5]
    header = st.columns(widths)
    for column, key in zip(header, ("number", "date", "status", "total"), strict=True):
        column.caption(context.t(f"orders.column_{key}"))
    for row in page.rows:
        number_column, date_column, status_column, total_column = st.columns(widths, vertical_alignment="center")
        with number_column:
            detail_link(row.number, "order", row.number, key=f"open_order_{row.id}")
        date_column.text(context.fmt.datetime(row.placed_at))
        status_column.text(status_label(context, row.status.value))
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


selected = st.query_params.get("order")
if selected:
    show_detail(selected)
else:
    show_list()
