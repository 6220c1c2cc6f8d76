import pytest
from sqlalchemy import select

from portal import assortment
from portal.catalog import load_customer_context, search_products
from portal.errors import NotFound, Problems
from portal.models import AssortmentMode, AuditEvent, Customer, Role, User
from tests.factories import make_customer, make_product

ADMIN_ID = 999


@pytest.fixture(autouse=True)
def acting_admin(database):
    """Create the admin whose id the changes carry: audit events refer to a real user."""
    with database.write() as session:
        session.add(User(id=ADMIN_ID, username="acting-admin", name="Admin", password_hash="-", role=Role.ADMIN))


@pytest.fixture
def shop(database):
    """A selection customer and products in two groups, one of them inactive."""
    with database.write() as session:
        customer = make_customer(session, selection=True)
        products = {
            "espresso": make_product(session, sku="K1", name="Espresso beans", product_group="Coffee"),
            "decaf": make_product(session, sku="K2", name="Decaf beans", product_group="Coffee"),
            "old": make_product(session, sku="K3", name="Old beans", product_group="Coffee", active=False),
            "tea": make_product(session, sku="T1", name="Green tea", product_group="Tea"),
            "cups": make_product(session, sku="X1", name="Paper cups", product_group=""),
        }
        return {"customer": customer.id, **{key: product.id for key, product in products.items()}}


def _visible_skus(database, customer_id):
    with database.read() as session:
        return [row.sku for row in search_products(session, load_customer_context(session, customer_id)).rows]


def _selection_skus(database, customer_id):
    with database.read() as session:
        return [row.sku for row in assortment.list_selection(session, customer_id).rows]


def test_add_group_adds_its_active_products(database, shop):
    with database.write() as session:
        added = assortment.add_group(session, ADMIN_ID, shop["customer"], "Coffee")

    assert added == 2
    assert _visible_skus(database, shop["customer"]) == ["K2", "K1"]


def test_adding_group_twice_adds_nothing_new(database, shop):
    with database.write() as session:
        assortment.add_group(session, ADMIN_ID, shop["customer"], "Coffee")
    with database.write() as session:
        added = assortment.add_group(session, ADMIN_ID, shop["customer"], "Coffee")

    assert added == 0
    assert _selection_skus(database, shop["customer"]) == ["K1", "K2"]


def test_add_search_matches_adds_every_match(database, shop):
    with database.read() as session:
        preview = assortment.preview_search(session, "beans")
    with database.write() as session:
        added = assortment.add_search_matches(session, ADMIN_ID, shop["customer"], "beans")

    assert preview.total == 2
    assert added == 2
    assert _selection_skus(database, shop["customer"]) == ["K1", "K2"]


def test_search_by_sku_adds_one_product(database, shop):
    with database.write() as session:
        added = assortment.add_search_matches(session, ADMIN_ID, shop["customer"], "T1")

    assert added == 1
    assert _selection_skus(database, shop["customer"]) == ["T1"]


def test_empty_search_adds_nothing(database, shop):
    with database.write() as session, pytest.raises(Problems) as raised:
        assortment.add_search_matches(session, ADMIN_ID, shop["customer"], "   ")

    assert [problem.code for problem in raised.value.problems] == ["assortment.query_missing"]


def test_empty_group_rejected(database, shop):
    with database.write() as session, pytest.raises(Problems) as raised:
        assortment.add_group(session, ADMIN_ID, shop["customer"], "")

    assert [problem.code for problem in raised.value.problems] == ["assortment.group_missing"]


def test_add_by_id_then_remove(database, shop):
    with database.write() as session:
        assortment.add_products(session, ADMIN_ID, shop["customer"], [shop["tea"], shop["cups"]])
    with database.write() as session:
        removed = assortment.remove_products(session, ADMIN_ID, shop["customer"], [shop["tea"]])

    assert removed == 1
    assert _visible_skus(database, shop["customer"]) == ["X1"]


def test_add_unknown_product_rejected_whole(database, shop):
    with database.write() as session, pytest.raises(NotFound):
        assortment.add_products(session, ADMIN_ID, shop["customer"], [shop["tea"], 123456])

    assert _selection_skus(database, shop["customer"]) == []


def test_remove_group_keeps_others(database, shop):
    with database.write() as session:
        assortment.add_group(session, ADMIN_ID, shop["customer"], "Coffee")
        assortment.add_group(session, ADMIN_ID, shop["customer"], "Tea")
    with database.write() as session:
        removed = assortment.remove_group(session, ADMIN_ID, shop["customer"], "Coffee")

    assert removed == 2
    assert _selection_skus(database, shop["customer"]) == ["T1"]


def test_mode_all_shows_every_active_product(database, shop):
    with database.write() as session:
        assortment.set_mode(session, ADMIN_ID, shop["customer"], "all")

    assert _visible_skus(database, shop["customer"]) == ["K2", "K1", "T1", "X1"]


def test_invalid_mode_rejected(database, shop):
    with database.write() as session, pytest.raises(Problems):
        assortment.set_mode(session, ADMIN_ID, shop["customer"], "some")

    with database.read() as session:
        assert session.scalar(select(Customer.assortment_mode)) is AssortmentMode.SELECTION


def test_selection_is_paged(database, shop):
    with database.write() as session:
        for number in range(7):
            make_product(session, sku=f"M{number}", name=f"Mug {number}", product_group="Mugs")
        assortment.add_group(session, ADMIN_ID, shop["customer"], "Mugs")

    with database.read() as session:
        last = assortment.list_selection(session, shop["customer"], page=2, page_size=3)

    assert last.total == 7
    assert last.page_count == 3
    assert [row.sku for row in last.rows] == ["M6"]


def test_product_groups_count_active_products(database, shop):
    with database.read() as session:
        groups = assortment.product_groups(session)

    assert [(group.name, group.active_products) for group in groups] == [("Coffee", 2), ("Tea", 1)]


def test_group_addition_audited(database, shop):
    with database.write() as session:
        assortment.add_group(session, ADMIN_ID, shop["customer"], "Coffee")

    with database.read() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "assortment_added")).one()

    assert event.actor_id == ADMIN_ID
    assert event.customer_id == shop["customer"]
    assert event.detail == "2 products of group 'Coffee'"
