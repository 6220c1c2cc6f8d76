from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal import price_admin
from portal.catalog import get_product, load_customer_context
from portal.errors import NotFound, PortalError, Problems
from portal.models import AuditEvent, Customer, PriceList, PriceListItem, Role, User
from tests.factories import make_customer, make_product

ADMIN_ID = 999


@pytest.fixture(autouse=True)
def acting_admin(database):
    """Create the admin whose id the changes carry: audit events refer to a real user."""
    with database.write() as session:
        session.add(User(id=ADMIN_ID, username="acting-admin", name="Admin", password_hash="-", role=Role.ADMIN))


def _codes(error: Problems) -> list[str]:
    return [problem.code for problem in error.problems]


@pytest.fixture
def shop(database):
    with database.write() as session:
        product = make_product(session, sku="BEANS", name="Beans", price="10.00")
        price_list = price_admin.create_price_list(session, ADMIN_ID, "Horeca")
        customer = make_customer(session)
        return {"product": product.id, "price_list": price_list.id, "customer": customer.id}


def _item_count(database):
    with database.read() as session:
        return session.scalar(select(func.count(PriceListItem.id)))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("12", Decimal("12.0000")),
        ("12.5", Decimal("12.5000")),
        ("0,1250", Decimal("0.1250")),
        (" 3.14159000 ", None),
        ("0", Decimal("0.0000")),
        ("1.23450", Decimal("1.2345")),
        (Decimal("2.5"), Decimal("2.5000")),
    ],
)
def test_unit_price_parsing(typed, expected):
    if expected is None:
        with pytest.raises(PortalError) as raised:
            price_admin.parse_unit_price(typed)
        assert raised.value.code == "price_list.price_too_precise"
    else:
        assert price_admin.parse_unit_price(typed) == expected


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "price_list.price_missing"),
        ("-1", "price_list.price_negative"),
        ("-0.01", "price_list.price_negative"),
        ("1.00001", "price_list.price_too_precise"),
        ("1,234.50", "price_list.price_invalid"),
        ("€5", "price_list.price_invalid"),
        ("abc", "price_list.price_invalid"),
        ("NaN", "price_list.price_invalid"),
        ("1e3", "price_list.price_invalid"),
        ("100000000", "price_list.price_too_large"),
    ],
)
def test_bad_unit_price_rejected(typed, code):
    with pytest.raises(PortalError) as raised:
        price_admin.parse_unit_price(typed)

    assert raised.value.code == code


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("0", "price_list.from_quantity_invalid"),
        ("1.5", "price_list.from_quantity_invalid"),
        ("-3", "price_list.from_quantity_invalid"),
        ("ten", "price_list.from_quantity_invalid"),
        ("", "price_list.from_quantity_missing"),
        ("10000000", "price_list.from_quantity_too_large"),
    ],
)
def test_bad_from_quantity_rejected(typed, code):
    with pytest.raises(PortalError) as raised:
        price_admin.parse_from_quantity(typed)

    assert raised.value.code == code


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("-1", "customer.discount_negative"),
        ("100.01", "customer.discount_out_of_range"),
        ("150", "customer.discount_out_of_range"),
        ("5.125", "customer.discount_too_precise"),
        ("five", "customer.discount_invalid"),
    ],
)
def test_bad_discount_rejected(typed, code):
    with pytest.raises(PortalError) as raised:
        price_admin.parse_discount(typed)

    assert raised.value.code == code


@pytest.mark.parametrize(("typed", "expected"), [("0", "0"), ("100", "100"), ("12,5", "12.5"), ("", "0")])
def test_discount_bounds_accepted(typed, expected):
    assert price_admin.parse_discount(typed) == Decimal(expected)


def test_duplicate_price_list_name_rejected(database, shop):
    with database.write() as session, pytest.raises(Problems) as raised:
        price_admin.create_price_list(session, ADMIN_ID, " horeca ")

    assert _codes(raised.value) == ["price_list.name_taken"]


def test_empty_price_list_name_rejected(database):
    with database.write() as session, pytest.raises(Problems) as raised:
        price_admin.create_price_list(session, ADMIN_ID, "   ")

    assert _codes(raised.value) == ["price_list.name_missing"]


def test_rename_price_list(database, shop):
    with database.write() as session:
        price_admin.rename_price_list(session, ADMIN_ID, shop["price_list"], "Horeca 2027")

    with database.read() as session:
        assert session.get(PriceList, shop["price_list"]).name == "Horeca 2027"


def test_rename_to_taken_name_rejected(database, shop):
    with database.write() as session:
        price_admin.create_price_list(session, ADMIN_ID, "Retail")

    with database.write() as session, pytest.raises(Problems) as raised:
        price_admin.rename_price_list(session, ADMIN_ID, shop["price_list"], "RETAIL")

    assert _codes(raised.value) == ["price_list.name_taken"]


def test_set_price_adds_then_replaces_tier(database, shop):
    with database.write() as session:
        first = price_admin.set_price(session, ADMIN_ID, shop["price_list"], "BEANS", "10", "8,50")
    with database.write() as session:
        second = price_admin.set_price(session, ADMIN_ID, shop["price_list"], "BEANS", 10, "8.25")

    assert first.previous_price is None
    assert second.previous_price == Decimal("8.5000")
    assert second.row.unit_price == Decimal("8.2500")
    assert _item_count(database) == 1


def test_set_price_reports_every_problem(database, shop):
    with database.write() as session, pytest.raises(Problems) as raised:
        price_admin.set_price(session, ADMIN_ID, shop["price_list"], "NOPE", "0", "-2")

    assert _codes(raised.value) == [
        "price_list.sku_not_found",
        "price_list.from_quantity_invalid",
        "price_list.price_negative",
    ]
    assert _item_count(database) == 0


def test_set_price_needs_sku(database, shop):
    with database.write() as session, pytest.raises(Problems) as raised:
        price_admin.set_price(session, ADMIN_ID, shop["price_list"], " ", "1", "1")

    assert _codes(raised.value) == ["price_list.sku_missing"]


def test_remove_tier(database, shop):
    with database.write() as session:
        saved = price_admin.set_price(session, ADMIN_ID, shop["price_list"], "BEANS", "1", "9")
        price_admin.set_price(session, ADMIN_ID, shop["price_list"], "BEANS", "10", "8")
    with database.write() as session:
        removed = price_admin.remove_prices(session, ADMIN_ID, shop["price_list"], [saved.row.item_id])

    with database.read() as session:
        page = price_admin.list_prices(session, shop["price_list"])

    assert removed == 1
    assert [(row.sku, row.min_quantity) for row in page.rows] == [("BEANS", 10)]


def test_list_prices_filters_and_pages(database, shop):
    with database.write() as session:
        for number in range(5):
            make_product(session, sku=f"MUG{number}", name=f"Mug {number}")
            price_admin.set_price(session, ADMIN_ID, shop["price_list"], f"MUG{number}", "1", "2")
        price_admin.set_price(session, ADMIN_ID, shop["price_list"], "BEANS", "1", "9")

    with database.read() as session:
        page = price_admin.list_prices(session, shop["price_list"], query="mug", page=1, page_size=3)

    assert page.total == 5
    assert [row.sku for row in page.rows] == ["MUG3", "MUG4"]


def test_list_price_lists_counts_prices_and_customers(database, shop):
    with database.write() as session:
        price_admin.set_price(session, ADMIN_ID, shop["price_list"], "BEANS", "1", "9")
        price_admin.assign_customer_prices(session, ADMIN_ID, shop["customer"], shop["price_list"], "5")

    with database.read() as session:
        rows = price_admin.list_price_lists(session)

    assert [(row.name, row.price_count, row.customer_count) for row in rows] == [("Horeca", 1, 1)]


def test_price_list_in_use_not_deleted(database, shop):
    with database.write() as session:
        price_admin.assign_customer_prices(session, ADMIN_ID, shop["customer"], shop["price_list"], "0")

    with database.write() as session, pytest.raises(Problems) as raised:
        price_admin.delete_price_list(session, ADMIN_ID, shop["price_list"])

    assert _codes(raised.value) == ["price_list.in_use"]


def test_unused_price_list_deleted_with_prices(database, shop):
    with database.write() as session:
        price_admin.set_price(session, ADMIN_ID, shop["price_list"], "BEANS", "1", "9")
    with database.write() as session:
        price_admin.delete_price_list(session, ADMIN_ID, shop["price_list"])

    assert _item_count(database) == 0


def test_assigned_prices_reach_the_catalog(database, shop):
    with database.write() as session:
        price_admin.set_price(session, ADMIN_ID, shop["price_list"], "BEANS", "1", "8")
        price_admin.assign_customer_prices(session, ADMIN_ID, shop["customer"], shop["price_list"], "25")

    with database.read() as session:
        detail = get_product(session, load_customer_context(session, shop["customer"]), "BEANS")

    assert detail.row.unit_price == Decimal("6.0000")


def test_bad_discount_leaves_customer_unchanged(database, shop):
    with database.write() as session, pytest.raises(Problems) as raised:
        price_admin.assign_customer_prices(session, ADMIN_ID, shop["customer"], shop["price_list"], "101")

    assert _codes(raised.value) == ["customer.discount_out_of_range"]
    with database.read() as session:
        customer = session.get(Customer, shop["customer"])
        assert customer.price_list_id is None
        assert customer.discount_percent == 0


def test_unknown_price_list_rejected(database, shop):
    with database.write() as session, pytest.raises(Problems) as raised:
        price_admin.assign_customer_prices(session, ADMIN_ID, shop["customer"], 424242, "0")

    assert _codes(raised.value) == ["price_list.not_found"]


def test_prices_of_unknown_list_not_found(database):
    with database.write() as session, pytest.raises(NotFound):
        price_admin.set_price(session, ADMIN_ID, 424242, "BEANS", "1", "1")


def test_price_change_audited(database, shop):
    with database.write() as session:
        price_admin.set_price(session, ADMIN_ID, shop["price_list"], "BEANS", "10", "8.5")
        price_admin.set_price(session, ADMIN_ID, shop["price_list"], "BEANS", "10", "8.25")

    with database.read() as session:
        details = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "price_set").order_by(AuditEvent.id)
        ).all()

    assert details == ["BEANS from 10: None -> 8.5000", "BEANS from 10: 8.5000 -> 8.2500"]
