"""The unit price a customer sees in the list, the detail view and the current order is the one the order carries."""

from decimal import Decimal

import pytest

from portal import cart, catalog, ordering, price_admin
from portal.catalog import load_customer_context
from portal.customer_admin import CustomerInput, UserInput, create_customer, create_user_with_password
from portal.models import Role, User
from tests.factories import make_address, make_product

ADMIN_ID = 999


@pytest.fixture(autouse=True)
def acting_admin(database):
    """Create the admin whose id the changes carry: audit events refer to a real user."""
    with database.write() as session:
        session.add(User(id=ADMIN_ID, username="acting-admin", name="Admin", password_hash="-", role=Role.ADMIN))


# 9.99 list price, 8.3333 from 12 in the price list, less 7.5 %: 8.3333 * 0.925 = 7.70830...,
# which only agrees everywhere if every screen rounds the same way.
TIER_QUANTITY = 12
TIER_PRICE = Decimal("7.7083")
BASE_PRICE = Decimal("8.4271")  # 9.1104 * 0.925 = 8.42712


@pytest.fixture
def shop(database):
    """A customer with a price list holding a base and a volume price, and a discount."""
    with database.write() as session:
        customer = create_customer(session, ADMIN_ID, CustomerInput(number="K1", name="Koffiehuis"))
        address = make_address(session, customer)
        user = create_user_with_password(
            session, ADMIN_ID, customer.id, UserInput(username="kim", name="Kim", email="kim@example.com")
        )
        beans = make_product(session, sku="BEANS", name="Beans", price="9.99", on_hand=100)
        # A product sold per 12 only: its list row price is already the volume price.
        crate = make_product(
            session, sku="CRATE", name="Crate", price="9.99", on_hand=100, min_quantity=12, order_multiple=12
        )
        price_list = price_admin.create_price_list(session, ADMIN_ID, "Horeca")
        for sku in ("BEANS", "CRATE"):
            price_admin.set_price(session, ADMIN_ID, price_list.id, sku, "1", "9.1104")
            price_admin.set_price(session, ADMIN_ID, price_list.id, sku, str(TIER_QUANTITY), "8.3333")
        price_admin.assign_customer_prices(session, ADMIN_ID, customer.id, price_list.id, "7,5")
        return {
            "customer": customer.id,
            "address": address.id,
            "user": user.user_id,
            "beans": beans.id,
            "crate": crate.id,
        }


def _place(database, shop, product_key):
    with database.read() as session:
        context = load_customer_context(session, shop["customer"])
    with database.write() as session:
        cart.add_to_cart(session, context, shop["user"], shop[product_key], TIER_QUANTITY)
        cart.set_details(session, context, shop["user"], comment="", address_id=shop["address"])
    with database.read() as session:
        line = cart.view_cart(session, context, shop["user"]).lines[0]
        token = cart.get_cart(session, shop["user"], shop["customer"]).checkout_token
    placed = ordering.place_order_once(database, context, shop["user"], token)
    with database.read() as session:
        order = ordering.get_order(session, shop["customer"], placed.number)
    return context, line, order.lines[0]


def _list_price(database, context, sku):
    with database.read() as session:
        rows = catalog.search_products(session, context, sku).rows
    return next(row.unit_price for row in rows if row.sku == sku)


def _detail(database, context, sku):
    with database.read() as session:
        return catalog.get_product(session, context, sku)


def test_volume_price_agrees_from_detail_to_order(database, shop):
    context, cart_line, order_line = _place(database, shop, "beans")
    detail = _detail(database, context, "BEANS")

    assert _list_price(database, context, "BEANS") == BASE_PRICE
    assert detail.row.unit_price == BASE_PRICE
    assert dict(detail.tiers)[TIER_QUANTITY] == TIER_PRICE
    assert cart_line.unit_price == TIER_PRICE
    assert order_line.unit_price == TIER_PRICE


def test_all_four_prices_agree_at_volume_tier(database, shop):
    context, cart_line, order_line = _place(database, shop, "crate")
    list_price = _list_price(database, context, "CRATE")
    detail_price = _detail(database, context, "CRATE").row.unit_price

    assert list_price == TIER_PRICE
    assert detail_price == TIER_PRICE
    assert cart_line.unit_price == TIER_PRICE
    assert order_line.unit_price == TIER_PRICE


def test_order_line_total_uses_agreed_price(database, shop):
    _, cart_line, order_line = _place(database, shop, "beans")

    assert cart_line.line_total == Decimal("92.50")
    assert order_line.line_total == cart_line.line_total
