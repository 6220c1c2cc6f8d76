"""The sidebar: language, the customer an admin works for, and the current order summary."""

from __future__ import annotations

import streamlit as st

from portal import accounts, cart
from portal.customers import list_customers
from portal.db import Database
from portal.i18n import LANGUAGES, Formatter
from portal.ui.auth import CurrentUser
from portal.ui.context import PageContext
from portal.ui.widgets import CART_SUMMARY_FRAGMENT

LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English"}


def language_picker(database: Database, user: CurrentUser | None, language: str, label: str) -> None:
    """Draw the language choice; a signed-in user's choice is stored with the user."""

    def changed() -> None:
        chosen = st.session_state["language_choice"]
        # The callback runs before Streamlit checks the value against the options, so a
        # value the page never offered reaches it here.
        if chosen not in LANGUAGES:
            return
        st.session_state["language"] = chosen
        if user is not None:
            with database.write() as session:
                accounts.set_language(session, user.id, chosen)

    st.session_state["language_choice"] = language
    st.selectbox(label, LANGUAGES, format_func=LANGUAGE_NAMES.__getitem__, key="language_choice", on_change=changed)


def _customer_changed() -> None:
    st.session_state["acting_customer_id"] = st.session_state["acting_customer_choice"]
    # An order or product open on screen belonged to the previous customer.
    for parameter in ("order", "product"):
        if parameter in st.query_params:
            del st.query_params[parameter]


def customer_picker(database: Database, fmt: Formatter) -> None:
    """Let an admin choose the customer whose screens they see and order for."""
    with database.read() as session:
        choices = list_customers(session)
    ids = [choice.id for choice in choices]
    labels = {choice.id: f"{choice.number} · {choice.name}" for choice in choices}
    current = st.session_state.get("acting_customer_id")
    st.selectbox(
        fmt.t("admin.acting_customer"),
        ids,
        index=ids.index(current) if current in ids else None,
        format_func=labels.__getitem__,
        placeholder=fmt.t("admin.pick_customer_short"),
        key="acting_customer_choice",
        on_change=_customer_changed,
    )


def cart_summary(context: PageContext) -> None:
    """Show the current order's line count and total excl. VAT, with a link to it."""
    if context.request.customer is None:
        return
    st.divider()
    _cart_totals(context)
    st.page_link("app_pages/current_order.py", label=context.t("cart.open"), icon="🛒")


@st.fragment(key=CART_SUMMARY_FRAGMENT)
def _cart_totals(context: PageContext) -> None:
    """Show the line count and total, in a fragment so that an Add in the product list can rerun it alone.

    The page link stays outside, because in a fragment rerun st.navigation does not run
    and st.page_link could not resolve the page path (AppTest, Streamlit 1.67).
    """
    # NOTE: a rerun of this fragment alone uses the context of the last full run and does
    # not check the sign-in again. The page reruns it only after an Add, which checks.
    customer = context.request.customer
    if customer is None:
        return
    with context.database.read() as session:
        view = cart.view_cart(session, customer, context.user.id)
    st.markdown(f"**{context.t('cart.title')}**")
    if not view.lines:
        st.caption(context.t("cart.empty_short"))
    else:
        st.caption(context.t("cart.summary", lines=len(view.lines), total=context.fmt.money(view.totals.subtotal)))
