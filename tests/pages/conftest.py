"""Page tests: Home.py under AppTest, on a test database, signed in by session state."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from portal import cart, ordering
from portal.catalog import load_customer_context
from portal.models import Role
from tests.factories import make_address, make_customer, make_product, make_user

HOME = Path(__file__).resolve().parents[2] / "Home.py"
COOKIE_KEY = "page-tests-" + "k" * 40
TIMEOUT_SECONDS = 30


@pytest.fixture
def app_environment(database_url, monkeypatch):
    """Point the app at the test database and drop the engine cached by an earlier test."""
    monkeypatch.setenv("PORTAL_DATABASE_URL", database_url)
    monkeypatch.setenv("PORTAL_COOKIE_KEY", COOKIE_KEY)
    monkeypatch.setenv("PORTAL_DEMO", "0")
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture
def shop(database, app_environment):
    """A customer with two addresses, a user, products and a filled current order; and an admin."""
    with database.write() as session:
        customer = make_customer(session, name="Bakker B.V.")
        address = make_address(session, customer)
        make_address(session, customer, name="Shop", default=False)
        customer_user = make_user(session, customer, username="anna")
        admin = make_user(session, None, username="boss", role=Role.ADMIN)
        products = [make_product(session, sku=f"SKU{index}", name=f"Product {index}", on_hand=5) for index in range(3)]
        context = load_customer_context(session, customer.id)
        cart.add_to_cart(session, context, customer_user, products[0].id, 7)
        cart.set_details(session, context, customer_user, comment="", address_id=address.id)
        ids = {"customer": customer.id, "customer_user": customer_user, "admin": admin}
    return ids


def new_app() -> AppTest:
    return AppTest.from_file(str(HOME), default_timeout=TIMEOUT_SECONDS)


def sign_in(app: AppTest, user_id: int) -> AppTest:
    """Start the session as signed in, as a successful login form would leave it."""
    app.session_state["user_id"] = user_id
    app.session_state["signed_in_at"] = dt.datetime.now(dt.UTC).timestamp()
    app.session_state["cookie_confirmed"] = True
    return app


def open_page(app: AppTest, page: str) -> AppTest:
    """Run the app once, so st.navigation registers its pages, then open the page.

    AppTest maps a page file to the URL path st.Page gives it only after that first run.
    """
    app.run()
    return app.switch_page(page).run()


def follow_link(app: AppTest, label: str) -> AppTest:
    """Open the page that the st.page_link named `label` points to, as a browser does on a click.

    AppTest cannot click a page link, so this reads the link's page and query string
    and runs that page with only those query parameters.
    """
    link = next(link for link in app.get("page_link") if link.value.replace("\\", "") == label)
    app.query_params.clear()
    for name, value in parse_qsl(link.proto.query_string):
        app.query_params[name] = value
    app._page_hash = link.proto.page_script_hash
    return app.run()


def link_labels(app: AppTest) -> list[str]:
    """Return the labels of the run's page links, without Markdown escapes."""
    return [link.value.replace("\\", "") for link in app.get("page_link")]


@pytest.fixture
def placed_order(shop, database):
    with database.write() as session:
        context = load_customer_context(session, shop["customer"])
        token = cart.get_cart(session, shop["customer_user"], shop["customer"]).checkout_token
        return ordering.place_order(session, context, shop["customer_user"], token).number
