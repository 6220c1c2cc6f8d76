"""Current order: lines, totals, comment, delivery address and placing the order."""

import streamlit as st

from portal import cart, ordering
from portal.customers import list_addresses
from portal.errors import PortalError
from portal.models import OrderSource
from portal.text import escape_markdown
from portal.ui.context import error_text, flash, page_context, require_customer, show_flash
from portal.ui.widgets import totals_ui

TOKEN_KEY = "checkout_token"

context = page_context()
customer = require_customer(context)
show_flash()
# The token this page was drawn with. A submit uses it, so a second submit of the same
# page (double click, second tab) returns the first order instead of placing another.
drawn_token = st.session_state.get(TOKEN_KEY)

with context.database.read() as session:
    view = cart.view_cart(session, customer, context.user.id)
    addresses = list_addresses(session, customer.customer_id)

st.title(context.t("cart.title"))
if not view.lines:
    st.info(context.t("cart.empty"))
    st.page_link("app_pages/products.py", label=context.t("cart.go_to_products"), icon="📦")
    st.stop()

with st.form("cart_lines"):
    widths = [1.2, 3.6, 1.3, 1.4, 1.4, 1]
    header = st.columns(widths)
    for column, key in zip(header, ("sku", "name", "quantity", "unit_price", "line_total", "remove"), strict=True):
        column.caption(context.t(f"cart.column_{key}"))
    for line in view.lines:
        sku_column, name_column, quantity_column, price_column, total_column, remove_column = st.columns(
            widths, vertical_alignment="center"
        )
        sku_column.text(line.sku)
        name_column.text(line.name)
        if not line.orderable:
            name_column.warning(context.t("cart.not_orderable"))
        elif line.backorder_quantity:
            name_column.caption("⏳ " + context.t("cart.will_be_backordered", quantity=line.backorder_quantity))
        quantity_column.text_input(
            context.t("cart.column_quantity"),
            value=str(line.quantity),
            key=f"cart_quantity_{line.product_id}",
            label_visibility="collapsed",
            max_chars=8,
            disabled=not line.orderable,
        )
        price_column.text(context.fmt.unit_price(line.unit_price))
        total_column.text(context.fmt.money(line.line_total) if line.orderable else "")
        remove_column.checkbox(
            context.t("cart.column_remove"), key=f"cart_remove_{line.product_id}", label_visibility="collapsed"
        )
    if st.form_submit_button(context.t("cart.update")):
        removed = [line.product_id for line in view.lines if st.session_state.get(f"cart_remove_{line.product_id}")]
        quantities = {
            line.product_id: st.session_state.get(f"cart_quantity_{line.product_id}", "")
            for line in view.lines
            if line.orderable and line.product_id not in removed
        }
        try:
            with context.database.write() as session:
                for product_id in removed:
                    cart.remove_line(session, customer, context.user.id, product_id)
                cart.set_quantities(session, customer, context.user.id, quantities)
        except PortalError as error:
            st.error(error_text(context, error))
        else:
            for key in [key for key in st.session_state if str(key).startswith(("cart_quantity_", "cart_remove_"))]:
                del st.session_state[key]
            flash("success", context.t("cart.updated"))
            st.rerun()

totals = view.totals
totals_ui(context, totals.subtotal, totals.vat_by_rate, totals.total)

with st.form("place_order"):
    address_ids = [address.id for address in addresses]
    labels = {address.id: address.label for address in addresses}
    chosen_index = (
        address_ids.index(view.address_id) if view.address_id in address_ids else (0 if address_ids else None)
    )
    address_id = st.selectbox(
        context.t("cart.address"),
        address_ids,
        index=chosen_index,
        format_func=labels.__getitem__,
        placeholder=context.t("cart.no_address"),
    )
    comment = st.text_area(context.t("cart.comment"), value=view.comment, max_chars=cart.MAX_COMMENT_LENGTH)
    submitted = st.form_submit_button(context.t("cart.place_order"), type="primary")

if submitted:
    token = drawn_token or view.checkout_token
    source = OrderSource.SUPPLIER if context.user.is_admin else OrderSource.PORTAL
    try:
        with context.database.write() as session:
            cart.set_details(session, customer, context.user.id, comment=comment, address_id=address_id)
        placed = ordering.place_order_once(context.database, customer, context.user.id, token, source=source)
    except PortalError as error:
        st.error(error_text(context, error))
    else:
        message = context.t("order.placed", number=escape_markdown(placed.number))
        if placed.repeated:
            message = context.t("order.already_placed", number=escape_markdown(placed.number))
        if placed.skipped_skus:
            message += " " + context.t("order.skipped", skus=escape_markdown(", ".join(placed.skipped_skus)))
        flash("success", message)
        st.session_state.pop(TOKEN_KEY, None)
        st.session_state["last_order_number"] = placed.number
        st.switch_page("app_pages/orders.py", query_params={"order": placed.number})

st.session_state[TOKEN_KEY] = view.checkout_token
