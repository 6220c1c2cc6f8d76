"""Admin order: one order of any customer, to review, accept, cancel, deliver or enter.

The Admin orders page links here with the order number in the query parameter "order".
"""

import datetime as dt

import pandas as pd
import streamlit as st

from portal import order_admin, ordering
from portal.customers import list_customers
from portal.errors import NotFound, PortalError
from portal.models import OrderStatus
from portal.quantities import parse_quantity
from portal.text import escape_markdown
from portal.ui import routes
from portal.ui.context import admin_page_context, error_text, perform, show_flash
from portal.ui.widgets import totals_ui

context = admin_page_context()
number = routes.detail_parameter("order", routes.ADMIN_ORDERS)
show_flash()
t = context.t


def run_action(action, success_key: str, **params: object) -> None:
    perform(context, action, lambda _: t(success_key, **params))


def show_detail(number: str) -> None:
    try:
        with context.database.read() as session:
            order_id, customer_id = order_admin.find_order(session, number[:40])
            detail = ordering.get_order(session, customer_id, number[:40])
            customers = {choice.id: choice for choice in list_customers(session)}
    except NotFound:
        st.warning(t("error.not_found"))
        return

    summary = detail.summary
    customer = customers.get(customer_id)
    st.title(t("orders.detail_title", number=escape_markdown(summary.number)))
    st.caption(
        t(
            "admin_orders.header",
            customer=escape_markdown(f"{customer.number} {customer.name}" if customer else str(customer_id)),
            date=escape_markdown(context.fmt.datetime(summary.placed_at)),
            status=t(f"order.status_{summary.status.value}"),
            source=t(f"admin_orders.source_{summary.source.value}"),
        )
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("orders.column_sku"): line.sku,
                    t("orders.column_name"): line.name,
                    t("orders.column_ordered"): line.quantity,
                    t("admin_orders.column_allocated"): line.allocated,
                    t("orders.column_delivered"): line.delivered,
                    t("orders.column_backordered"): line.backordered,
                    t("orders.column_cancelled"): line.cancelled,
                    t("orders.column_unit_price"): context.fmt.unit_price(line.unit_price),
                    t("orders.column_line_total"): context.fmt.money(line.line_total),
                }
                for line in detail.lines
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    totals_ui(context, detail.subtotal, detail.vat_by_rate, summary.total)
    address_column, comment_column = st.columns(2)
    address_column.text("\n".join(part for part in detail.address if part))
    comment_column.text(detail.comment or t("orders.no_comment"))

    is_open = summary.status in ordering.OPEN_STATUSES
    if summary.status is OrderStatus.NEW and st.button(t("admin_orders.accept"), type="primary"):
        run_action(
            lambda session: order_admin.accept_order(session, order_id, context.user.id),
            "admin_orders.accepted",
            number=number,
        )

    if is_open:
        deliverable = [line for line in detail.lines if line.allocated > 0]
        with st.expander(t("admin_orders.delivery_title"), expanded=bool(deliverable)):
            if not deliverable:
                st.caption(t("admin_orders.nothing_allocated"))
            else:
                with st.form("delivery"):
                    quantities = {}
                    for line in deliverable:
                        quantities[line.id] = st.text_input(
                            t("admin_orders.deliver_line", sku=escape_markdown(line.sku), allocated=line.allocated),
                            value=str(line.allocated),
                            max_chars=8,
                        )
                    delivered_on = st.date_input(
                        t("admin_orders.delivered_on"), value=dt.date.today(), format="DD-MM-YYYY"
                    )
                    track_and_trace = st.text_input(t("orders.track_and_trace"), max_chars=100)
                    if st.form_submit_button(t("admin_orders.record_delivery")):
                        record_delivery(order_id, number, quantities, delivered_on, track_and_trace)

        with st.expander(t("admin_orders.cancel_title")):
            open_lines = [line for line in detail.lines if line.delivered + line.cancelled < line.quantity]
            labels = {line.id: f"{line.sku} · {line.name}" for line in open_lines}
            line_id = st.selectbox(t("admin_orders.line"), list(labels), format_func=labels.__getitem__, index=None)
            if st.button(t("admin_orders.cancel_line"), disabled=line_id is None):
                run_action(
                    lambda session: order_admin.cancel_line(session, order_id, line_id, context.user.id),
                    "admin_orders.line_cancelled",
                    sku=escape_markdown(labels[line_id]),
                )
            confirm = st.checkbox(t("admin_orders.confirm_cancel"))
            if st.button(t("admin_orders.cancel_order"), disabled=not confirm):
                run_action(
                    lambda session: order_admin.cancel_order(session, order_id, context.user.id),
                    "admin_orders.cancelled",
                    number=escape_markdown(number),
                )

    st.subheader(t("orders.deliveries"))
    for delivery in detail.deliveries:
        lines = ", ".join(f"{quantity} × {sku}" for sku, _, quantity in delivery.lines)
        st.text(f"{context.fmt.date(delivery.delivered_on)} · {delivery.track_and_trace or '-'} · {lines}")
    if not detail.deliveries:
        st.caption(t("orders.no_deliveries"))


def record_delivery(order_id: int, number: str, raw: dict[int, str], delivered_on: dt.date, track: str) -> None:
    quantities = {}
    for line_id, text in raw.items():
        if text.strip() in ("", "0"):
            continue
        try:
            quantities[line_id] = parse_quantity(text)
        except PortalError as error:
            st.error(error_text(context, error))
            return
    run_action(
        lambda session: ordering.record_delivery(session, order_id, quantities, delivered_on, track, context.user.id),
        "admin_orders.delivery_recorded",
        number=escape_markdown(number),
    )


st.page_link(routes.ADMIN_ORDERS.page(), label=t("admin_orders.back"), icon="⬅️")
show_detail(number)
