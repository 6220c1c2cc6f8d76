"""Admin orders: the orders of all customers, filtered by status and customer, each linked to its own page."""

import streamlit as st

from portal import order_admin
from portal.customers import list_customers
from portal.models import OrderStatus
from portal.ui import routes
from portal.ui.context import admin_page_context, show_flash
from portal.ui.widgets import detail_page_link

context = admin_page_context()
routes.forward_saved_link("order", routes.ADMIN_ORDER)
show_flash()
t = context.t


def show_list() -> None:
    st.title(t("nav.admin_orders"))
    st.info(t("admin_orders.enter_hint"))
    with context.database.read() as session:
        customers = list_customers(session)
    status_column, customer_column = st.columns(2)
    status_labels = {status.value: t(f"order.status_{status.value}") for status in OrderStatus}
    chosen = status_column.multiselect(
        t("orders.column_status"),
        list(status_labels),
        default=[OrderStatus.NEW.value, OrderStatus.ACCEPTED.value],
        format_func=status_labels.__getitem__,
    )
    statuses = [OrderStatus(value) for value in chosen]
    labels = {choice.id: f"{choice.number} · {choice.name}" for choice in customers}
    customer_id = customer_column.selectbox(
        t("admin.acting_customer"),
        list(labels),
        index=None,
        format_func=labels.__getitem__,
        placeholder=t("admin_orders.all_customers"),
    )
    limit = st.session_state.setdefault("admin_orders_limit", order_admin.ADMIN_ORDERS_PAGE_SIZE)
    with context.database.read() as session:
        rows = order_admin.list_orders(session, statuses, customer_id, limit=limit + 1)

    if not rows:
        st.info(t("orders.none"))
        return
    widths = [1.3, 2.5, 1.8, 1.2, 1.4]
    for column, key in zip(st.columns(widths), ("number", "customer", "date", "status", "total"), strict=True):
        column.caption(t(f"admin_orders.column_{key}"))
    order_page = routes.ADMIN_ORDER.page()
    for row in rows[:limit]:
        number_column, customer_column, date_column, status_column, total_column = st.columns(widths)
        with number_column:
            detail_page_link(row.number, order_page, "order", row.number)
        customer_column.text(f"{row.customer_number} · {row.customer_name}")
        date_column.text(context.fmt.datetime(row.placed_at))
        status_column.text(t(f"order.status_{row.status.value}"))
        total_column.text(context.fmt.money(row.total))
    if len(rows) > limit and st.button(t("admin_orders.more")):
        st.session_state["admin_orders_limit"] = limit + order_admin.ADMIN_ORDERS_PAGE_SIZE
        st.rerun()


show_list()
