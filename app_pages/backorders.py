"""Backorders: every open order line of the company with units still to come."""

import pandas as pd
import streamlit as st

from portal import ordering
from portal.ui.context import page_context, require_customer

context = page_context()
customer = require_customer(context)

st.title(context.t("backorders.title"))
with context.database.read() as session:
    rows = ordering.list_backorders(session, customer.customer_id)

if not rows:
    st.info(context.t("backorders.none"))
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    context.t("orders.column_number"): row.order_number,
                    context.t("orders.column_date"): context.fmt.date(row.placed_at),
                    context.t("orders.column_sku"): row.sku,
                    context.t("orders.column_name"): row.name,
                    context.t("orders.column_ordered"): row.quantity,
                    context.t("backorders.column_outstanding"): row.outstanding,
                }
                for row in rows
            ]
        ),
        hide_index=True,
        width="stretch",
    )
