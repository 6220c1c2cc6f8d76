"""Admin prices: price lists with a price per product and volume prices from a quantity up."""

import streamlit as st

from portal import price_admin
from portal.text import escape_markdown
from portal.ui.context import admin_page_context, perform, show_flash

CHOICE_KEY = "admin_price_list_choice"
# A price list to select on the next run: a widget's state cannot change after it is drawn.
NEXT_CHOICE_KEY = "admin_price_list_next"
PAGE_KEY = "admin_prices_page"

context = admin_page_context()
show_flash()
t = context.t
admin_id = context.user.id


def reset_paging() -> None:
    st.session_state[PAGE_KEY] = 0


def create_form() -> None:
    # A new form key after each created list gives an empty name field again.
    generation = st.session_state.get("create_price_list_generation", 0)
    with st.form(f"create_price_list_{generation}"):
        name_column, button_column = st.columns([3, 1], vertical_alignment="bottom")
        name = name_column.text_input(t("admin_prices.new_name"), max_chars=price_admin.MAX_PRICE_LIST_NAME_LENGTH)
        submitted = button_column.form_submit_button(t("admin_prices.create"))
    if submitted:

        def created(price_list_id: object) -> str:
            st.session_state[NEXT_CHOICE_KEY] = price_list_id
            st.session_state["create_price_list_generation"] = generation + 1
            return t("admin_prices.created")

        perform(context, lambda session: price_admin.create_price_list(session, admin_id, name).id, created)


def rename_or_delete(price_list: price_admin.PriceListRow) -> None:
    with st.expander(t("admin_prices.rename_or_delete")):
        with st.form(f"rename_{price_list.id}"):
            name = st.text_input(
                t("admin_prices.name"), value=price_list.name, max_chars=price_admin.MAX_PRICE_LIST_NAME_LENGTH
            )
            renamed = st.form_submit_button(t("admin_prices.rename"))
        if renamed:
            perform(
                context,
                lambda session: price_admin.rename_price_list(session, admin_id, price_list.id, name),
                lambda _: t("admin_prices.renamed"),
            )
        st.caption(t("admin_prices.delete_help"))
        confirm = st.checkbox(t("admin_prices.confirm_delete"), key=f"confirm_delete_{price_list.id}")
        if st.button(t("admin_prices.delete"), key=f"delete_{price_list.id}", disabled=not confirm):
            perform(
                context,
                lambda session: price_admin.delete_price_list(session, admin_id, price_list.id),
                lambda _: t("admin_prices.deleted"),
            )


def saved_message(saved: price_admin.SavedPrice) -> str:
    price = context.fmt.unit_price(saved.row.unit_price)
    params = {"sku": escape_markdown(saved.row.sku), "quantity": saved.row.min_quantity, "price": price}
    if saved.previous_price is None:
        return t("admin_prices.price_added", **params)
    return t("admin_prices.price_changed", previous=context.fmt.unit_price(saved.previous_price), **params)


def price_form(price_list: price_admin.PriceListRow) -> None:
    st.subheader(t("admin_prices.set_price"))
    with st.form(f"set_price_{price_list.id}"):
        sku_column, quantity_column, price_column = st.columns([2, 1, 1])
        sku = sku_column.text_input(t("admin_prices.sku"), max_chars=64)
        from_quantity = quantity_column.text_input(
            t("admin_prices.from_quantity"), value="1", max_chars=8, help=t("admin_prices.from_quantity_help")
        )
        unit_price = price_column.text_input(
            t("admin_prices.unit_price"), max_chars=14, help=t("admin_prices.unit_price_help")
        )
        submitted = st.form_submit_button(t("admin_prices.save_price"), type="primary")
    if submitted:
        perform(
            context,
            lambda session: price_admin.set_price(session, admin_id, price_list.id, sku, from_quantity, unit_price),
            saved_message,
        )


def prices_table(price_list: price_admin.PriceListRow) -> None:
    st.subheader(t("admin_prices.prices"))
    query = st.text_input(
        t("admin_prices.filter"),
        key=f"price_filter_{price_list.id}",
        placeholder=t("products.search_placeholder"),
        on_change=reset_paging,
        max_chars=100,
    )
    with context.database.read() as session:
        page = price_admin.list_prices(session, price_list.id, query, st.session_state.get(PAGE_KEY, 0))
    if not page.rows:
        st.info(t("admin_prices.no_prices"))
        return

    widths = [1.3, 3, 1, 1.3, 1.3, 0.8]
    columns = ("sku", "name", "from_quantity", "unit_price", "list_price", "remove")
    with st.form(f"prices_{price_list.id}_{page.page}"):
        for column, key in zip(st.columns(widths), columns, strict=True):
            column.caption(t(f"admin_prices.column_{key}"))
        for row in page.rows:
            sku_column, name_column, quantity_column, price_column, list_column, remove_column = st.columns(
                widths, vertical_alignment="center"
            )
            sku_column.text(row.sku)
            name_column.text(row.name if row.product_active else f"{row.name} ({t('admin_prices.inactive')})")
            quantity_column.text(context.fmt.number(row.min_quantity))
            price_column.text(context.fmt.unit_price(row.unit_price))
            list_column.text(context.fmt.unit_price(row.list_price))
            remove_column.checkbox(
                t("admin_prices.remove_tier", sku=escape_markdown(row.sku), quantity=row.min_quantity),
                key=f"price_remove_{row.item_id}",
                label_visibility="collapsed",
            )
        submitted = st.form_submit_button(t("admin_prices.remove_ticked"))
    if submitted:
        ticked = [row.item_id for row in page.rows if st.session_state.get(f"price_remove_{row.item_id}")]
        perform(
            context,
            lambda session: price_admin.remove_prices(session, admin_id, price_list.id, ticked),
            lambda removed: t("admin_prices.removed", count=removed),
        )

    st.caption(t("admin_prices.page_of", number=page.page + 1, count=page.page_count, total=page.total))
    previous_column, _, next_column = st.columns([1, 2, 1])
    if page.page > 0 and previous_column.button(t("paging.previous"), key="prices_previous"):
        st.session_state[PAGE_KEY] = page.page - 1
        st.rerun()
    if page.page + 1 < page.page_count and next_column.button(t("paging.next"), key="prices_next"):
        st.session_state[PAGE_KEY] = page.page + 1
        st.rerun()


st.title(t("nav.admin_prices"))
st.caption(t("admin_prices.intro"))
create_form()

with context.database.read() as session:
    price_lists = price_admin.list_price_lists(session)
if not price_lists:
    st.info(t("admin_prices.no_lists"))
    st.stop()

if NEXT_CHOICE_KEY in st.session_state:
    st.session_state[CHOICE_KEY] = st.session_state.pop(NEXT_CHOICE_KEY)
    reset_paging()
by_id = {row.id: row for row in price_lists}
if st.session_state.get(CHOICE_KEY) not in by_id:
    st.session_state.pop(CHOICE_KEY, None)
# A dict's bound method and not a lambda, because AppTest pickles the format function.
# The counts go in a caption: the browser kept showing an option's old text after a change.
labels = {row.id: row.name for row in price_lists}
price_list_id = st.selectbox(
    t("admin_prices.price_list"),
    list(by_id),
    format_func=labels.__getitem__,
    key=CHOICE_KEY,
    on_change=reset_paging,
)
chosen = by_id[price_list_id]
st.caption(t("admin_prices.list_counts", prices=chosen.price_count, customers=chosen.customer_count))
rename_or_delete(chosen)
price_form(chosen)
prices_table(chosen)
