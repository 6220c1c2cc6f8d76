"""Current order: lines, totals, comment, delivery address and placing the order."""

import streamlit as st

from portal import cart, ordering
from portal.customers import list_addresses
from portal.errors import PortalError
from portal.models import OrderSource
from portal.text import escape_markdown
from portal.ui import routes
from portal.ui.context import error_text, flash, page_context, require_customer, show_flash
from portal.ui.widgets import totals_ui

context = page_context()
customer = require_customer(context)
TOKEN_KEY = f"checkout_token_{customer.customer_id}"
# Per customer: an admin ordering for several customers keeps each one's details apart.
COMMENT_KEY = f"order_comment_{customer.customer_id}"
ADDRESS_KEY = f"order_address_{customer.customer_id}"
show_flash()
# The token this page was drawn with. A submit uses it, so a second submit of the same
# page (double click, second tab) returns the first order instead of placing another.
drawn_token = st.session_state.get(TOKEN_KEY)

with context.database.read() as session:
    view = cart.view_cart(session, customer, context.user.id)
    addresses = list_addresses(session, customer.customer_id)

st.title(context.t("cart.title"))
if not view.lines:
    placed_number = None
    if drawn_token:
        with context.database.read() as session:
            placed_number = ordering.order_number_for_token(session, customer.customer_id, drawn_token)
    if placed_number:
        # This tab still showed an order that was placed in another tab or window.
        st.info(context.t("order.already_placed", number=escape_markdown(placed_number)))
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


def save_details() -> None:
    """Keep the comment and address typed so far, so leaving the page loses nothing."""
    try:
        with context.database.write() as session:
            cart.set_details(
                session,
                customer,
                context.user.id,
                comment=st.session_state.get(COMMENT_KEY, ""),
                address_id=st.session_state.get(ADDRESS_KEY),
            )
    except PortalError as error:
        st.session_state["details_error"] = error_text(context, error)


address_ids = [address.id for address in addresses]
labels = {address.id: address.label for address in addresses}
if st.session_state.get(ADDRESS_KEY) not in address_ids:
    st.session_state[ADDRESS_KEY] = view.address_id if view.address_id in address_ids else next(iter(address_ids), None)
if COMMENT_KEY not in st.session_state:
    st.session_state[COMMENT_KEY] = view.comment
st.selectbox(
    context.t("cart.address"),
    address_ids,
    format_func=labels.__getitem__,
    placeholder=context.t("cart.no_address"),
    key=ADDRESS_KEY,
    on_change=save_details,
)
st.text_area(context.t("cart.comment"), max_chars=cart.MAX_COMMENT_LENGTH, key=COMMENT_KEY, on_change=save_details)
if "details_error" in st.session_state:
    st.error(st.session_state.pop("details_error"))
submitted = st.button(context.t("cart.place_order"), type="primary")
comment = st.session_state.get(COMMENT_KEY, "")
address_id = st.session_state.get(ADDRESS_KEY)

if submitted:
    token = drawn_token or view.checkout_token
    source = OrderSource.SUPPLIER if context.user.is_admin else OrderSource.PORTAL
    try:
        if token == view.checkout_token:
            # A stale token (second tab, double click) returns its order; the current
            # order's details are left alone then.
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
        for key in (TOKEN_KEY, COMMENT_KEY, ADDRESS_KEY):
            st.session_state.pop(key, None)
        st.session_state["last_order_number"] = placed.number
        st.switch_page(routes.ORDER.page(), query_params={"order": placed.number})

st.session_state[TOKEN_KEY] = view.checkout_token
