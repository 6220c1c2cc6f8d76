"""The product list reruns on its own, without Home.py's sign-in gate: what it must still check.

A search, a page turn or an Add reruns only the list's st.fragment. These tests change
the account or the customer in the database between two interactions, as an admin or
another browser would, and check that the next interaction reflects the change.
"""

from __future__ import annotations

import re
import secrets
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from portal.db import Database
from portal.models import Cart, CartLine, Customer, User
from tests.browser.attack_support import PASSWORD, new_company, username_of
from tests.browser.conftest import PortalServer
from tests.browser.portal_ui import (
    expect_signed_out,
    main_area,
    parse_money,
    search_products,
    sign_in,
    table_row,
    wait_until_settled,
)
from tests.factories import make_product, select_products

pytestmark = pytest.mark.browser

LIST_PRICE = Decimal("10.00")


def _company_with_product(database: Database) -> tuple[dict[str, int], str]:
    """Create a company whose catalogue is one new product, and return the company and the product's name.

    The product's code is its name with dashes for spaces.
    """
    name = f"LIST RERUN LAMP {secrets.token_hex(3).upper()}"
    company = new_company(database, selection=True)
    with database.write() as session:
        product = make_product(session, sku=name.replace(" ", "-"), name=name, price=str(LIST_PRICE), on_hand=50)
        select_products(session, session.get(Customer, company["customer"]), product)
    return company, name


def _open_product_list(page: Page, server: PortalServer, database: Database, user_id: int, name: str) -> None:
    page.goto(server.url("/products"))
    sign_in(page, username_of(database, user_id), PASSWORD)
    expect(table_row(page, name)).to_be_visible()
    wait_until_settled(page)


def _deactivate(database: Database, user_id: int) -> None:
    with database.write() as session:
        session.get(User, user_id).active = False


def test_search_after_deactivation_shows_login(page: Page, portal_server: PortalServer, portal_database: Database):
    company, name = _company_with_product(portal_database)
    _open_product_list(page, portal_server, portal_database, company["first"], name)

    _deactivate(portal_database, company["first"])
    search_products(page, name)

    expect_signed_out(page)
    expect(main_area(page).get_by_text(name)).to_have_count(0)


def test_add_after_deactivation_adds_nothing(page: Page, portal_server: PortalServer, portal_database: Database):
    company, name = _company_with_product(portal_database)
    _open_product_list(page, portal_server, portal_database, company["first"], name)

    _deactivate(portal_database, company["first"])
    table_row(page, name).get_by_role("button", name="Add", exact=True).click()

    expect_signed_out(page)
    with portal_database.read() as session:
        lines = session.scalar(select(func.count(CartLine.id)).join(Cart).where(Cart.user_id == company["first"]))
    assert lines == 0


def test_search_shows_new_discount(page: Page, portal_server: PortalServer, portal_database: Database):
    company, name = _company_with_product(portal_database)
    _open_product_list(page, portal_server, portal_database, company["first"], name)
    assert parse_money(table_row(page, name).inner_text()) == LIST_PRICE

    with portal_database.write() as session:
        session.get(Customer, company["customer"]).discount_percent = Decimal("25")
    search_products(page, name)

    expect(table_row(page, name)).to_contain_text("€7.50")


def test_name_link_opens_product_page(page: Page, portal_server: PortalServer, portal_database: Database):
    company, name = _company_with_product(portal_database)
    _open_product_list(page, portal_server, portal_database, company["first"], name)
    search_products(page, name)
    wait_until_settled(page)

    table_row(page, name).get_by_role("link", name=name, exact=True).click()

    expect(main_area(page).get_by_role("heading", name=name, exact=True)).to_be_visible()
    wait_until_settled(page)
    expect(page).to_have_url(re.compile(rf"/product\?product={name.replace(' ', '-')}$"))
    page.go_back()
    expect(table_row(page, name)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/products$"))
