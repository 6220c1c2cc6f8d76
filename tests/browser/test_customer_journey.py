"""The customer's way through the portal in a real browser: search, add, place an order, follow it.

The products are from data/demo/products.csv and in the demo customer's selection. Every test that
depends on the content of the current order empties it first, because the tests share one server.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PortalServer
from tests.browser.portal_ui import (
    CUSTOMER_PASSWORD,
    CUSTOMER_USERNAME,
    add_from_list,
    cart_summary,
    clear_current_order,
    expect_signed_out,
    format_money,
    in_order_badge,
    link_or_button,
    main_area,
    menu_link,
    open_menu_page,
    parse_money,
    product_rows,
    search_products,
    sign_in,
    sign_out,
    table_row,
    text_row,
    wait_until_settled,
)

pytestmark = pytest.mark.browser

SEARCH_TERM = "hot water"
LIST_PRODUCT_SKU = "22112"
LIST_PRODUCT_NAME = "CHOCOLATE HOT WATER BOTTLE"
DETAIL_PRODUCT_SKU = "22113"
DETAIL_PRODUCT_NAME = "GREY HEART HOT WATER BOTTLE"
# On the first page of the unfiltered list, and not a match for SEARCH_TERM.
OTHER_PRODUCT_NAME = "BAKING SET 9 PIECE RETROSPOT"
SHOP_ADDRESS_LABEL = "Demo Gifts shop, Oudegracht 101, 3511 AD Utrecht, Netherlands"
ORDER_COMMENT = "Please deliver to the shop's back door."
PLACED_PATTERN = re.compile(r"Order (\S+) is placed\. Thank you!")
DETAIL_URL_PATTERN = re.compile(rf"/product\?product={DETAIL_PRODUCT_SKU}$")
# For checks made after wait_until_settled, when no rerun can still change the page.
SETTLED_TIMEOUT_MS = 2_000


def line_total(quantity: int, unit_price: Decimal) -> Decimal:
    return (quantity * unit_price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def detail_unit_price(page: Page) -> Decimal:
    """Return the unit price that the product detail view shows as its level-3 heading."""
    price_heading = main_area(page).get_by_role("heading", level=3).filter(has_text="€")
    return parse_money(price_heading.inner_text())


def test_order_journey_from_search_to_orders(page: Page, portal_server: PortalServer) -> None:
    page.goto(portal_server.url("/products"))
    sign_in(page, CUSTOMER_USERNAME, CUSTOMER_PASSWORD)
    clear_current_order(page)
    open_menu_page(page, "Products")

    expect(link_or_button(page, OTHER_PRODUCT_NAME)).to_be_visible()

    search_products(page, SEARCH_TERM)

    row_texts = product_rows(page).all_inner_texts()
    assert any(LIST_PRODUCT_NAME in text for text in row_texts), row_texts
    assert all("HOT WATER" in text for text in row_texts), row_texts
    expect(link_or_button(page, OTHER_PRODUCT_NAME)).to_have_count(0)

    list_row = table_row(page, LIST_PRODUCT_NAME)
    list_unit_price = parse_money(list_row.inner_text())

    add_from_list(page, LIST_PRODUCT_SKU, LIST_PRODUCT_NAME, 3)

    expect(in_order_badge(list_row, 3)).to_be_visible()

    link_or_button(page, DETAIL_PRODUCT_NAME).click()
    detail_heading = main_area(page).get_by_role("heading", name=DETAIL_PRODUCT_NAME, exact=True)
    expect(detail_heading).to_be_visible()
    wait_until_settled(page)

    expect(page).to_have_url(DETAIL_URL_PATTERN)

    detail_price = detail_unit_price(page)
    main_area(page).get_by_role("textbox", name=f"Quantity of {DETAIL_PRODUCT_SKU}", exact=True).fill("2")
    main_area(page).get_by_role("button", name="Add", exact=True).click()

    expect(in_order_badge(main_area(page), 2)).to_be_visible()
    wait_until_settled(page)
    expect(detail_heading).to_be_visible(timeout=SETTLED_TIMEOUT_MS)
    subtotal = line_total(3, list_unit_price) + line_total(2, detail_price)
    expect(cart_summary(page)).to_have_text(f"2 lines · {format_money(subtotal)} excl. VAT")

    page.reload()

    expect(detail_heading).to_be_visible()
    expect(in_order_badge(main_area(page), 2)).to_be_visible()

    page.get_by_test_id("stSidebar").get_by_role("link", name="Open current order").click()

    expect(main_area(page).get_by_role("heading", name="Current order")).to_be_visible()
    expect(text_row(page, LIST_PRODUCT_NAME).get_by_role("textbox")).to_have_value("3")
    expect(text_row(page, DETAIL_PRODUCT_NAME).get_by_role("textbox")).to_have_value("2")

    wait_until_settled(page)
    address = page.get_by_role("combobox", name="Delivery address")
    address.click()
    page.get_by_role("option", name=SHOP_ADDRESS_LABEL).click()
    expect(address).to_have_value(SHOP_ADDRESS_LABEL)
    page.get_by_role("textbox", name="Comment for the supplier").fill(ORDER_COMMENT)
    page.get_by_role("button", name="Place order").click()

    placed_message = main_area(page).get_by_text(PLACED_PATTERN)
    expect(placed_message).to_be_visible()
    order_number = PLACED_PATTERN.search(placed_message.inner_text()).group(1)
    expect(main_area(page).get_by_role("heading", name=f"Order {order_number}")).to_be_visible()
    expect(main_area(page).get_by_text("New", exact=True)).to_be_visible()
    expect(main_area(page).get_by_text("Oudegracht 101")).to_be_visible()
    expect(main_area(page).get_by_text("3511 AD Utrecht")).to_be_visible()
    expect(main_area(page).get_by_text(ORDER_COMMENT)).to_be_visible()
    expect(cart_summary(page)).to_have_count(0)

    wait_until_settled(page)
    link_or_button(main_area(page), "Back to orders", exact=False).click()

    order_row = table_row(page, order_number)
    expect(order_row).to_be_visible()
    expect(order_row.get_by_text("New", exact=True)).to_be_visible()

    sign_out(page)
    page.reload()

    expect_signed_out(page)


def test_current_order_kept_after_sign_out(page: Page, portal_server: PortalServer) -> None:
    page.goto(portal_server.url("/"))
    sign_in(page, CUSTOMER_USERNAME, CUSTOMER_PASSWORD)
    clear_current_order(page)
    open_menu_page(page, "Products")
    search_products(page, SEARCH_TERM)
    add_from_list(page, LIST_PRODUCT_SKU, LIST_PRODUCT_NAME, 4)

    sign_out(page)
    # The reload starts a new session, because signing in again in the session that signed out is
    # unreliable (see test_sign_in_again_same_tab).
    page.reload()
    expect_signed_out(page)
    sign_in(page, CUSTOMER_USERNAME, CUSTOMER_PASSWORD)
    open_menu_page(page, "Current order")

    expect(text_row(page, LIST_PRODUCT_NAME).get_by_role("textbox")).to_have_value("4")
    expect(cart_summary(page)).to_have_text(re.compile(r"^1 lines? · "))


def test_orders_menu_leaves_order_detail(page: Page, portal_server: PortalServer) -> None:
    page.goto(portal_server.url("/orders"))
    sign_in(page, CUSTOMER_USERNAME, CUSTOMER_PASSWORD)
    first_order_row = main_area(page).get_by_test_id("stHorizontalBlock").filter(has_text="€").first
    first_order = first_order_row.get_by_role("link").or_(first_order_row.get_by_role("button")).first
    order_number = first_order.inner_text().strip()
    first_order.click()
    expect(main_area(page).get_by_role("heading", name=f"Order {order_number}")).to_be_visible()
    wait_until_settled(page)

    menu_link(page, "Orders").click()
    wait_until_settled(page)

    expect(main_area(page).get_by_role("heading", name="Orders", exact=True)).to_be_visible(timeout=SETTLED_TIMEOUT_MS)


def test_products_menu_leaves_product_detail(page: Page, portal_server: PortalServer) -> None:
    page.goto(portal_server.url("/products"))
    sign_in(page, CUSTOMER_USERNAME, CUSTOMER_PASSWORD)
    link_or_button(page, OTHER_PRODUCT_NAME).click()
    expect(main_area(page).get_by_role("heading", name=OTHER_PRODUCT_NAME, exact=True)).to_be_visible()
    wait_until_settled(page)

    menu_link(page, "Products").click()
    wait_until_settled(page)

    expect(main_area(page).get_by_role("heading", name="Products", exact=True)).to_be_visible(
        timeout=SETTLED_TIMEOUT_MS
    )


def test_add_from_list_updates_cart_summary(page: Page, portal_server: PortalServer) -> None:
    page.goto(portal_server.url("/products"))
    sign_in(page, CUSTOMER_USERNAME, CUSTOMER_PASSWORD)
    clear_current_order(page)
    open_menu_page(page, "Products")
    search_products(page, SEARCH_TERM)
    list_row = table_row(page, LIST_PRODUCT_NAME)
    unit_price = parse_money(list_row.inner_text())

    add_from_list(page, LIST_PRODUCT_SKU, LIST_PRODUCT_NAME, 5)

    expect(cart_summary(page)).to_have_text(f"1 lines · {format_money(line_total(5, unit_price))} excl. VAT")
    list_row.get_by_role("button", name="Add", exact=True).click()
    expect(in_order_badge(list_row, 6)).to_be_visible()
    expect(cart_summary(page)).to_have_text(f"1 lines · {format_money(line_total(6, unit_price))} excl. VAT")
    expect(link_or_button(page, DETAIL_PRODUCT_NAME)).to_be_visible()
