"""Admin customers and accounts: companies, addresses, users, assortments and prices."""

from decimal import Decimal

import pandas as pd
import streamlit as st

from portal import assortment, customer_admin, price_admin
from portal.customer_admin import AddressInput, CustomerDetails, CustomerInput, NewPassword, UserInput
from portal.errors import NotFound, PortalError
from portal.i18n import LANGUAGES
from portal.models import AssortmentMode, Role, StockDisplay
from portal.text import escape_markdown
from portal.ui.context import admin_page_context, error_text, perform, show_flash
from portal.ui.sidebar import LANGUAGE_NAMES

CHOICE_KEY = "admin_customer_choice"
# A customer to select on the next run: a widget's state cannot change after it is drawn.
NEXT_CHOICE_KEY = "admin_customer_next"
NEW = -1
TAB_KEY = "admin_customer_tab"

context = admin_page_context()
show_flash()
t = context.t
admin_id = context.user.id


def customer_label(number: str, name: str, active: bool) -> str:
    label = f"{number} · {name}"
    return label if active else f"{label} ({t('admin_customers.inactive')})"


def show_password(created: NewPassword, message_key: str) -> None:
    """Show a generated password once: it is in no log, no database and no later run."""
    st.success(t(message_key, username=escape_markdown(created.username)))
    st.code(created.password, language=None)
    st.warning(t("admin_customers.password_shown_once"))


# Company -------------------------------------------------------------------------------


def company_form(details: CustomerDetails | None) -> None:
    suffix = details.id if details is not None else "new"
    stock_options = ["", *(mode.value for mode in StockDisplay)]
    stock_labels = {"": t("admin_customers.stock_display_default")}
    stock_labels |= {mode.value: t(f"admin_customers.stock_display_{mode.value}") for mode in StockDisplay}
    current_stock = details.stock_display.value if details is not None and details.stock_display else ""
    with st.form(f"company_{suffix}"):
        number_column, name_column = st.columns([1, 3])
        number = number_column.text_input(
            t("admin_customers.number"),
            value=details.number if details else "",
            max_chars=customer_admin.MAX_CUSTOMER_NUMBER_LENGTH,
        )
        name = name_column.text_input(
            t("admin_customers.name"), value=details.name if details else "", max_chars=customer_admin.MAX_NAME_LENGTH
        )
        vat_column, country_column = st.columns(2)
        vat_number = vat_column.text_input(
            t("admin_customers.vat_number"),
            value=details.vat_number if details else "",
            max_chars=customer_admin.MAX_VAT_NUMBER_LENGTH,
            placeholder="NL123456789B01",
        )
        country = country_column.text_input(
            t("admin_customers.country"),
            value=details.country if details else "",
            max_chars=customer_admin.MAX_COUNTRY_LENGTH,
        )
        language_column, stock_column = st.columns(2)
        language = language_column.selectbox(
            t("admin_customers.language"),
            LANGUAGES,
            index=LANGUAGES.index(details.language) if details and details.language in LANGUAGES else 0,
            format_func=LANGUAGE_NAMES.__getitem__,
            help=t("admin_customers.language_help"),
        )
        stock_display = stock_column.selectbox(
            t("admin_customers.stock_display"),
            stock_options,
            index=stock_options.index(current_stock),
            format_func=stock_labels.__getitem__,
        )
        submitted = st.form_submit_button(t("admin_customers.save_company"), type="primary")
    if not submitted:
        return

    values = CustomerInput(number, name, vat_number, country, language, stock_display or None)
    if details is None:

        def created(customer_id: object) -> str:
            st.session_state[NEXT_CHOICE_KEY] = customer_id
            return t("admin_customers.customer_created")

        perform(context, lambda session: customer_admin.create_customer(session, admin_id, values).id, created)
    else:
        perform(
            context,
            lambda session: customer_admin.update_customer(session, admin_id, details.id, values),
            lambda _: t("admin_customers.customer_saved"),
        )


def company_tab(details: CustomerDetails) -> None:
    company_form(details)
    st.divider()
    if details.active:
        st.caption(t("admin_customers.deactivate_help"))
        if st.button(t("admin_customers.deactivate"), key="deactivate_customer"):
            perform(
                context,
                lambda session: customer_admin.deactivate_customer(session, admin_id, details.id),
                lambda _: t("admin_customers.customer_deactivated"),
            )
    elif st.button(t("admin_customers.reactivate"), key="reactivate_customer"):
        perform(
            context,
            lambda session: customer_admin.reactivate_customer(session, admin_id, details.id),
            lambda _: t("admin_customers.customer_reactivated"),
        )


# Addresses -----------------------------------------------------------------------------


def addresses_tab(details: CustomerDetails) -> None:
    with context.database.read() as session:
        rows = customer_admin.list_customer_addresses(session, details.id)
    if rows:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        t("admin_customers.address_name"): row.name,
                        t("admin_customers.street"): row.street,
                        t("admin_customers.postcode"): row.postcode,
                        t("admin_customers.city"): row.city,
                        t("admin_customers.country"): row.country,
                        t("admin_customers.default_address"): "✓" if row.is_default else "",
                    }
                    for row in rows
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.info(t("admin_customers.no_addresses"))

    by_id = {row.id: row for row in rows}
    labels = {NEW: "➕ " + t("admin_customers.new_address")}
    labels |= {row.id: f"{row.name}, {row.street}, {row.city}" for row in rows}
    chosen = st.selectbox(
        t("admin_customers.address_to_edit"), list(labels), format_func=labels.__getitem__, key=f"address_{details.id}"
    )
    current = by_id.get(chosen)
    # A new form key after each saved new address gives empty fields for the next one.
    generation_key = f"address_generation_{details.id}"
    generation = st.session_state.get(generation_key, 0)
    with st.form(f"address_form_{details.id}_{chosen}_{generation}"):
        name = st.text_input(
            t("admin_customers.address_name"),
            value=current.name if current else details.name,
            max_chars=customer_admin.MAX_NAME_LENGTH,
        )
        street = st.text_input(
            t("admin_customers.street"),
            value=current.street if current else "",
            max_chars=customer_admin.MAX_STREET_LENGTH,
        )
        postcode_column, city_column, country_column = st.columns([1, 2, 2])
        postcode = postcode_column.text_input(
            t("admin_customers.postcode"),
            value=current.postcode if current else "",
            max_chars=customer_admin.MAX_POSTCODE_LENGTH,
        )
        city = city_column.text_input(
            t("admin_customers.city"), value=current.city if current else "", max_chars=customer_admin.MAX_CITY_LENGTH
        )
        country = country_column.text_input(
            t("admin_customers.country"),
            value=current.country if current else details.country,
            max_chars=customer_admin.MAX_COUNTRY_LENGTH,
        )
        is_default = st.checkbox(
            t("admin_customers.default_address"),
            value=current.is_default if current else not rows,
            help=t("admin_customers.default_address_help"),
        )
        submitted = st.form_submit_button(t("admin_customers.save_address"), type="primary")
    if submitted:
        values = AddressInput(name, street, postcode, city, country, is_default)
        if current is None:

            def created(_: object) -> str:
                st.session_state[generation_key] = generation + 1
                return t("admin_customers.address_saved")

            perform(
                context, lambda session: customer_admin.create_address(session, admin_id, details.id, values), created
            )
        else:
            perform(
                context,
                lambda session: customer_admin.update_address(session, admin_id, current.id, values),
                lambda _: t("admin_customers.address_saved"),
            )
    if current is not None and st.button(t("admin_customers.deactivate_address"), key=f"remove_address_{current.id}"):
        perform(
            context,
            lambda session: customer_admin.deactivate_address(session, admin_id, current.id),
            lambda _: t("admin_customers.address_deactivated"),
        )


# Users ---------------------------------------------------------------------------------


def users_table(customer_id: int | None) -> list[customer_admin.UserRow]:
    with context.database.read() as session:
        users = customer_admin.list_users(session, customer_id)
    if not users:
        st.info(t("admin_customers.no_users"))
        return users
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("admin_customers.username"): user.username,
                    t("admin_customers.user_name"): user.name,
                    t("admin_customers.email"): user.email,
                    t("admin_customers.role"): t(f"admin_customers.role_{user.role.value}"),
                    t("admin_customers.status"): t(f"admin_customers.status_{user.status}"),
                }
                for user in users
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    return users


def new_user_form(customer_id: int | None, role: Role, key: str) -> None:
    # A new form key after each success gives empty fields; a rejected form keeps what was typed.
    generation_key = f"new_user_generation_{key}"
    generation = st.session_state.get(generation_key, 0)
    language_labels = {"": t("admin_customers.user_language_default"), **LANGUAGE_NAMES}
    with st.form(f"new_user_{key}_{generation}"):
        st.markdown(f"**{t('admin_customers.new_user')}**")
        username_column, name_column = st.columns(2)
        username = username_column.text_input(
            t("admin_customers.username"),
            max_chars=customer_admin.MAX_USERNAME_LENGTH,
            help=t("admin_customers.username_help"),
        )
        name = name_column.text_input(t("admin_customers.user_name"), max_chars=customer_admin.MAX_NAME_LENGTH)
        email_column, language_column = st.columns(2)
        email = email_column.text_input(t("admin_customers.email"), max_chars=customer_admin.MAX_EMAIL_LENGTH)
        language = language_column.selectbox(
            t("admin_customers.user_language"), list(language_labels), format_func=language_labels.__getitem__
        )
        st.caption(t(f"admin_customers.new_user_role_{role.value}"))
        submitted = st.form_submit_button(t("admin_customers.create_user"), type="primary")
    if not submitted:
        return
    values = UserInput(username, name, email, role.value, language or None)
    try:
        with context.database.write() as session:
            created = customer_admin.create_user_with_password(session, admin_id, customer_id, values)
    except PortalError as error:
        st.error(error_text(context, error))
        return
    st.session_state[generation_key] = generation + 1
    show_password(created, "admin_customers.user_created")


def manage_user(users: list[customer_admin.UserRow], key: str) -> None:
    labels = {user.id: f"{user.username} ({user.name})" for user in users}
    user_id = st.selectbox(
        t("admin_customers.user_to_manage"), list(labels), format_func=labels.__getitem__, key=f"manage_user_{key}"
    )
    user = next(user for user in users if user.id == user_id)
    st.caption(t(f"admin_customers.status_{user.status}"))
    reset_column, unlock_column, active_column = st.columns(3)
    if reset_column.button(t("admin_customers.reset_password"), key=f"reset_{key}"):
        try:
            with context.database.write() as session:
                reset = customer_admin.reset_password(session, admin_id, user.id)
        except PortalError as error:
            st.error(error_text(context, error))
        else:
            show_password(reset, "admin_customers.password_reset")
    if unlock_column.button(t("admin_customers.unlock"), key=f"unlock_{key}", disabled=user.status != "locked"):
        perform(
            context,
            lambda session: customer_admin.unlock_user(session, admin_id, user.id),
            lambda _: t("admin_customers.user_unlocked", username=escape_markdown(user.username)),
        )
    if user.status == "deactivated":
        if active_column.button(t("admin_customers.reactivate_user"), key=f"reactivate_{key}"):
            perform(
                context,
                lambda session: customer_admin.reactivate_user(session, admin_id, user.id),
                lambda _: t("admin_customers.user_reactivated", username=escape_markdown(user.username)),
            )
    elif active_column.button(t("admin_customers.deactivate_user"), key=f"deactivate_{key}"):
        perform(
            context,
            lambda session: customer_admin.deactivate_user(session, admin_id, user.id),
            lambda _: t("admin_customers.user_deactivated", username=escape_markdown(user.username)),
        )


def users_section(customer_id: int | None, role: Role, key: str) -> None:
    # The table is drawn last into this slot, so it shows a user created or changed in this run.
    table_slot = st.container()
    with context.database.read() as session:
        users = customer_admin.list_users(session, customer_id)
    if users:
        with st.container(border=True):
            manage_user(users, key)
    new_user_form(customer_id, role, key)
    with table_slot:
        users_table(customer_id)


# Assortment ----------------------------------------------------------------------------


def assortment_mode_form(details: CustomerDetails) -> None:
    labels = {mode.value: t(f"admin_customers.assortment_{mode.value}") for mode in AssortmentMode}
    with st.form(f"assortment_mode_{details.id}"):
        mode = st.radio(
            t("admin_customers.assortment_mode"),
            list(labels),
            index=list(labels).index(details.assortment_mode.value),
            format_func=labels.__getitem__,
        )
        submitted = st.form_submit_button(t("admin_customers.save_mode"))
    if submitted:
        perform(
            context,
            lambda session: assortment.set_mode(session, admin_id, details.id, mode),
            lambda _: t("admin_customers.mode_saved"),
        )


def add_by_search(details: CustomerDetails) -> None:
    st.markdown(f"**{t('admin_customers.add_by_search')}**")
    query = st.text_input(
        t("admin_customers.product_search"),
        key=f"assortment_search_{details.id}",
        placeholder=t("products.search_placeholder"),
        max_chars=100,
    )
    if not query.strip():
        return
    with context.database.read() as session:
        preview = assortment.preview_search(session, query)
    st.caption(t("admin_customers.matches", count=preview.total))
    if not preview.total:
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("products.column_sku"): row.sku,
                    t("products.column_name"): row.name,
                    t("products.group"): row.product_group,
                }
                for row in preview.rows
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    if preview.total > len(preview.rows):
        st.caption(t("admin_customers.preview_cut", shown=len(preview.rows), count=preview.total))
    if st.button(t("admin_customers.add_matches", count=preview.total), key=f"add_matches_{details.id}"):
        perform(
            context,
            lambda session: assortment.add_search_matches(session, admin_id, details.id, query),
            lambda added: t("admin_customers.products_added", count=added),
        )


def add_by_group(details: CustomerDetails) -> None:
    st.markdown(f"**{t('admin_customers.add_by_group')}**")
    with context.database.read() as session:
        groups = assortment.product_groups(session)
    if not groups:
        st.caption(t("admin_customers.no_groups"))
        return
    counts = {group.name: group.active_products for group in groups}
    labels = {name: t("admin_customers.group_option", group=name, count=count) for name, count in counts.items()}
    group = st.selectbox(
        t("admin_customers.product_group"),
        list(counts),
        format_func=labels.__getitem__,
        key=f"assortment_group_{details.id}",
    )
    add_column, remove_column = st.columns(2)
    if add_column.button(t("admin_customers.add_group", count=counts[group]), key=f"add_group_{details.id}"):
        perform(
            context,
            lambda session: assortment.add_group(session, admin_id, details.id, group),
            lambda added: t("admin_customers.products_added", count=added),
        )
    if remove_column.button(t("admin_customers.remove_group"), key=f"remove_group_{details.id}"):
        perform(
            context,
            lambda session: assortment.remove_group(session, admin_id, details.id, group),
            lambda removed: t("admin_customers.products_removed", count=removed),
        )


def selection_list(details: CustomerDetails) -> None:
    page_key = f"selection_page_{details.id}"
    with context.database.read() as session:
        page = assortment.list_selection(session, details.id, st.session_state.get(page_key, 0))
    st.markdown(f"**{t('admin_customers.selection', count=page.total)}**")
    if not page.rows:
        st.caption(t("admin_customers.selection_empty"))
        return
    widths = [1.2, 3.5, 1.8, 0.8]
    with st.form(f"selection_{details.id}_{page.page}"):
        for column, key in zip(st.columns(widths), ("sku", "name", "group", "remove"), strict=True):
            column.caption(t(f"admin_customers.column_{key}"))
        for row in page.rows:
            sku_column, name_column, group_column, remove_column = st.columns(widths, vertical_alignment="center")
            sku_column.text(row.sku)
            name_column.text(row.name if row.active else f"{row.name} ({t('admin_customers.inactive')})")
            group_column.text(row.product_group)
            remove_column.checkbox(
                t("admin_customers.remove_product", sku=escape_markdown(row.sku)),
                key=f"selection_remove_{row.product_id}",
                label_visibility="collapsed",
            )
        submitted = st.form_submit_button(t("admin_customers.remove_ticked"))
    if submitted:
        ticked = [row.product_id for row in page.rows if st.session_state.get(f"selection_remove_{row.product_id}")]
        perform(
            context,
            lambda session: assortment.remove_products(session, admin_id, details.id, ticked),
            lambda removed: t("admin_customers.products_removed", count=removed),
        )
    if page.page_count > 1:
        previous_column, position_column, next_column = st.columns([1, 2, 1])
        if page.page > 0 and previous_column.button(t("paging.previous"), key=f"selection_previous_{details.id}"):
            st.session_state[page_key] = page.page - 1
            st.rerun()
        position_column.caption(t("admin_customers.page_of", number=page.page + 1, count=page.page_count))
        if page.page + 1 < page.page_count and next_column.button(t("paging.next"), key=f"selection_next_{details.id}"):
            st.session_state[page_key] = page.page + 1
            st.rerun()


def assortment_tab(details: CustomerDetails) -> None:
    assortment_mode_form(details)
    if details.assortment_mode is AssortmentMode.ALL:
        st.info(t("admin_customers.selection_unused"))
    search_column, group_column = st.columns(2)
    with search_column:
        add_by_search(details)
    with group_column:
        add_by_group(details)
    st.divider()
    selection_list(details)


# Prices --------------------------------------------------------------------------------


def prices_tab(details: CustomerDetails) -> None:
    with context.database.read() as session:
        price_lists = price_admin.list_price_lists(session)
    labels: dict[int | None, str] = {None: t("admin_customers.no_price_list")}
    labels |= {row.id: row.name for row in price_lists}
    options = list(labels)
    discount = details.discount_percent or Decimal(0)
    with st.form(f"prices_{details.id}"):
        price_list_id = st.selectbox(
            t("admin_customers.price_list"),
            options,
            index=options.index(details.price_list_id) if details.price_list_id in options else 0,
            format_func=labels.__getitem__,
        )
        discount_text = st.text_input(
            t("admin_customers.discount"),
            value=format(discount.normalize(), "f") if discount else "0",
            max_chars=7,
            help=t("admin_customers.discount_help"),
        )
        submitted = st.form_submit_button(t("admin_customers.save_prices"), type="primary")
    if submitted:
        perform(
            context,
            lambda session: price_admin.assign_customer_prices(
                session, admin_id, details.id, price_list_id, discount_text
            ),
            lambda _: t("admin_customers.prices_saved"),
        )
    st.page_link("app_pages/admin_prices.py", label=t("admin_customers.edit_price_lists"), icon="💶")


# Page ----------------------------------------------------------------------------------


def pick_customer() -> int:
    """Draw the customer search and choice; return the chosen customer's id, or NEW."""
    if NEXT_CHOICE_KEY in st.session_state:
        st.session_state[CHOICE_KEY] = st.session_state.pop(NEXT_CHOICE_KEY)
    search_column, choice_column = st.columns([1, 2])
    query = search_column.text_input(
        t("admin_customers.search"),
        key="admin_customer_search",
        placeholder=t("admin_customers.search_placeholder"),
        max_chars=100,
    )
    with context.database.read() as session:
        matches = customer_admin.search_customers(session, query)
        labels = {NEW: "➕ " + t("admin_customers.new_customer")}
        labels |= {row.id: customer_label(row.number, row.name, row.active) for row in matches.rows}
        chosen = st.session_state.get(CHOICE_KEY)
        if chosen is not None and chosen not in labels:
            # Keep the customer being edited selectable while the search shows others.
            try:
                selected = customer_admin.get_customer(session, chosen)
            except NotFound:
                del st.session_state[CHOICE_KEY]
            else:
                selected_label = customer_label(selected.number, selected.name, selected.active)
                labels = {NEW: labels.pop(NEW), selected.id: selected_label} | labels
    choice = choice_column.selectbox(
        t("admin_customers.customer"), list(labels), format_func=labels.__getitem__, key=CHOICE_KEY
    )
    if matches.total > len(matches.rows):
        st.caption(t("admin_customers.more_matches", shown=len(matches.rows), count=matches.total))
    elif query.strip() and not matches.total:
        st.caption(t("admin_customers.no_matches"))
    return choice


def customers_section() -> None:
    customer_id = pick_customer()
    if customer_id == NEW:
        st.subheader(t("admin_customers.new_customer"))
        company_form(None)
        return
    try:
        with context.database.read() as session:
            details = customer_admin.get_customer(session, customer_id)
    except NotFound:
        st.warning(t("error.not_found"))
        return

    st.subheader(escape_markdown(f"{details.number} · {details.name}"))
    if not details.active:
        st.warning(t("admin_customers.customer_inactive"))
    drawers = {
        t("admin_customers.tab_company"): company_tab,
        t("admin_customers.tab_addresses"): addresses_tab,
        t("admin_customers.tab_users"): lambda details: users_section(details.id, Role.CUSTOMER, f"c{details.id}"),
        t("admin_customers.tab_assortment"): assortment_tab,
        t("admin_customers.tab_prices"): prices_tab,
    }
    # Tabs with state: the chosen tab stays open when a message above shifts the page, and
    # only its content runs.
    tabs = st.tabs(list(drawers), key=TAB_KEY, on_change="rerun")
    for tab, draw in zip(tabs, drawers.values(), strict=True):
        if tab.open:
            with tab:
                draw(details)


st.title(t("nav.admin_customers"))
section_labels = {"customers": t("admin_customers.section_customers"), "staff": t("admin_customers.section_staff")}
section = st.radio(
    t("admin_customers.section"),
    list(section_labels),
    format_func=section_labels.__getitem__,
    horizontal=True,
    label_visibility="collapsed",
    key="admin_customers_section",
)
if section == "staff":
    st.caption(t("admin_customers.staff_intro"))
    users_section(None, Role.ADMIN, "staff")
else:
    customers_section()
