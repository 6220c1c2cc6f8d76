"""Admin backorders: the queue per product and customer, with allocate, move ahead and cancel."""

import pandas as pd
import streamlit as st

from portal import order_admin, stock
from portal.customers import list_customers
from portal.text import escape_markdown
from portal.ui.context import admin_page_context, perform, show_flash

context = admin_page_context()
show_flash()
t = context.t

st.title(t("nav.admin_backorders"))
with context.database.read() as session:
    customers = list_customers(session)
labels = {choice.id: f"{choice.number} · {choice.name}" for choice in customers}
product_column, customer_column = st.columns(2)
sku = product_column.text_input(t("admin_backorders.sku_filter"), max_chars=64).strip()
customer_id = customer_column.selectbox(
    t("admin.acting_customer"),
    list(labels),
    index=None,
    format_func=labels.__getitem__,
    placeholder=t("admin_orders.all_customers"),
)

with context.database.read() as session:
    rows = order_admin.list_backorders(session, customer_id=customer_id)
if sku:
    rows = [row for row in rows if row.sku.casefold() == sku.casefold()]
if not rows:
    st.info(t("backorders.none"))
    st.stop()

table = pd.DataFrame(
    [
        {
            t("orders.column_sku"): row.sku,
            t("orders.column_name"): row.name,
            t("admin_orders.column_customer"): f"{row.customer_number} · {row.customer_name}",
            t("orders.column_number"): row.order_number,
            t("orders.column_date"): context.fmt.date(row.placed_at),
            t("backorders.column_outstanding"): row.waiting,
            t("admin_orders.column_allocated"): row.allocated,
            t("admin_stock.free"): row.free_stock,
        }
        for row in rows
    ]
)
st.caption(t("admin_backorders.select_hint"))
event = st.dataframe(
    table, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row", key="backorder_table"
)
selected_rows = event.selection.rows if event is not None else []
if not selected_rows:
    st.stop()

row = rows[selected_rows[0]]
st.subheader(escape_markdown(f"{row.sku} · {row.name} · {row.order_number}"))
allocate_column, front_column, cancel_column = st.columns(3)
if allocate_column.button(t("admin_backorders.allocate_now"), disabled=row.free_stock <= 0):
    perform(
        context,
        lambda session: stock.allocate_backorders(session, row.product_id, context.user.id),
        lambda units: t("admin_backorders.allocated", quantity=units, sku=escape_markdown(row.sku)),
    )
if front_column.button(t("admin_backorders.move_to_front")):
    perform(
        context,
        lambda session: order_admin.move_to_front(session, row.line_id, context.user.id),
        lambda _: t("admin_backorders.moved", number=escape_markdown(row.order_number)),
    )
if cancel_column.button(t("admin_backorders.cancel")):
    perform(
        context,
        lambda session: order_admin.cancel_backorder(session, row.line_id, context.user.id),
        lambda units: t("admin_backorders.cancelled", quantity=units, sku=escape_markdown(row.sku)),
    )
