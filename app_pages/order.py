"""Order: one order of the customer's company, with its lines, totals, address and deliveries.

The Orders page links here with the order number in the query parameter "order".
"""

import pandas as pd
import streamlit as st

from portal import ordering
from portal.errors import NotFound
from portal.text import escape_markdown
from portal.ui import routes
from portal.ui.context import page_context, require_customer, show_flash
from portal.ui.widgets import totals_ui

context = page_context()
customer = require_customer(context)
number = routes.detail_parameter("order", routes.ORDERS)
show_flash()


def show_detail(number: str) -> None:
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
    status_column.metric(context.t("orders.column_status"), context.t(f"order.status_{summary.status.value}"))
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


st.page_link(routes.ORDERS.page(), label=context.t("orders.back"), icon="⬅️")
show_detail(number)
