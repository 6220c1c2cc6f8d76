"""Product: one product of the customer's catalogue, with its price, stock, photo and Add.

The Products page links here with the product code in the query parameter "product".
"""

import streamlit as st

from portal import cart, catalog
from portal.errors import NotFound
from portal.text import escape_markdown
from portal.ui import routes
from portal.ui.context import page_context, require_customer, show_flash
from portal.ui.widgets import add_to_order_ui, in_order_badge, row_message, stock_label, unit_label

context = page_context()
customer = require_customer(context)
sku = routes.detail_parameter("product", routes.PRODUCTS)
show_flash()


def show_detail(sku: str) -> None:
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


st.page_link(routes.PRODUCTS.page(), label=context.t("products.back"), icon="⬅️")
show_detail(sku)
