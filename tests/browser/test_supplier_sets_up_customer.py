"""The supplier sets up a new customer in the browser, and that customer's user sees exactly it.

An admin creates a company and a user, gives the company a selection of products found by a
search and a discount; the new user then signs in and sees that selection, and nothing else,
at the discounted prices.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, select

from portal.catalog import normalize_search_text
from portal.models import Product
from tests.browser.conftest import PortalServer
from tests.browser.portal_ui import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    main_area,
    product_rows,
    sign_in,
    wait_until_settled,
)

pytestmark = pytest.mark.browser

SEARCH = "lunch bag"
DISCOUNT = Decimal("10")


def _press(page: Page, name: str) -> None:
    main_area(page).get_by_role("button", name=name, exact=True).click()
    wait_until_settled(page)


def _fill(page: Page, label: str, value: str) -> None:
    main_area(page).get_by_role("textbox", name=label, exact=True).fill(value)


def _open_tab(page: Page, name: str) -> None:
    main_area(page).get_by_role("tab", name=name, exact=True).click()
    wait_until_settled(page)


def _expected_prices(server: PortalServer) -> dict[str, str]:
    """Return SKU to the price the new customer should see, from the server's own database."""
    engine = create_engine(f"sqlite:///{server.log_path.parent / 'portal.db'}")
    with engine.connect() as connection:
        rows = connection.execute(
            select(Product.sku, Product.list_price, Product.search_text).where(Product.active.is_(True))
        ).all()
    engine.dispose()
    words = normalize_search_text(SEARCH).split()
    factor = (Decimal(100) - DISCOUNT) / Decimal(100)
    expected = {}
    for sku, list_price, search_text in rows:
        if all(word in search_text for word in words):
            price = (list_price * factor).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP).normalize()
            places = max(2, -price.as_tuple().exponent)
            expected[sku] = f"€{price:,.{places}f}"
    return expected


def test_new_customer_sees_exactly_its_selection_at_its_price(browser: Browser, portal_server: PortalServer) -> None:
    expected = _expected_prices(portal_server)
    admin = browser.new_context(locale="en-GB").new_page()
    admin.goto(portal_server.url("/"))
    sign_in(admin, ADMIN_USERNAME, ADMIN_PASSWORD)
    admin.goto(portal_server.url("/admin-customers"))
    wait_until_settled(admin)

    _fill(admin, "Customer number", "T-900")
    _fill(admin, "Company name", "Test Trading B.V.")
    main_area(admin).get_by_role("combobox", name="Default language").click()
    admin.get_by_role("option", name="English", exact=True).click()
    _press(admin, "Save company")
    expect(main_area(admin).get_by_text("The customer is created", exact=False)).to_be_visible()

    _open_tab(admin, "Users")
    _fill(admin, "Username", "test-buyer")
    _fill(admin, "Name", "Test Buyer")
    _press(admin, "Create user")
    password = main_area(admin).get_by_test_id("stCode").inner_text().strip()

    _open_tab(admin, "Assortment")
    main_area(admin).get_by_text("Only the selection below", exact=True).click()
    _press(admin, "Save")
    _fill(admin, "Search products", SEARCH)
    admin.keyboard.press("Enter")
    wait_until_settled(admin)
    _press(admin, f"Add all {len(expected)} matches")
    expect(main_area(admin).get_by_text(f"{len(expected)} products added", exact=False)).to_be_visible()

    _open_tab(admin, "Prices")
    _fill(admin, "Discount in %", str(DISCOUNT))
    _press(admin, "Save prices")
    expect(main_area(admin).get_by_text("The price list and discount are saved", exact=False)).to_be_visible()

    buyer = browser.new_context(locale="en-GB").new_page()
    buyer.goto(portal_server.url("/products"))
    sign_in(buyer, "test-buyer", password)
    wait_until_settled(buyer)
    expect(product_rows(buyer)).to_have_count(len(expected))
    shown = {}
    for row in product_rows(buyer).all():
        cells = row.get_by_test_id("stText").all_inner_texts()
        shown[cells[0]] = cells[1]

    assert len(expected) >= 2, "the search should find several demo products"
    assert shown == expected
