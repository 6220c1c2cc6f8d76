from decimal import Decimal

import pytest
from sqlalchemy import event, update

from portal import catalog
from portal.catalog import load_customer_context, product_search_text, search_products
from portal.errors import NotFound
from portal.models import Product
from tests.factories import make_customer, make_price_list, make_product, select_products


def _skus(page):
    return [row.sku for row in page.rows]


def test_selection_customer_sees_only_selection(database):
    with database.write() as session:
        chosen = make_product(session, sku="A1", name="Chosen")
        make_product(session, sku="B1", name="Other")
        customer = make_customer(session, selection=True)
        select_products(session, customer, chosen)
        customer_id = customer.id

    with database.read() as session:
        page = search_products(session, load_customer_context(session, customer_id))

    assert _skus(page) == ["A1"]


def test_all_mode_customer_sees_active_products_only(database):
    with database.write() as session:
        make_product(session, sku="A1", name="Active")
        make_product(session, sku="B1", name="Retired", active=False)
        customer_id = make_customer(session).id

    with database.read() as session:
        page = search_products(session, load_customer_context(session, customer_id))

    assert _skus(page) == ["A1"]


def test_deactivated_customer_has_no_context(database):
    with database.write() as session:
        customer_id = make_customer(session, active=False).id

    with database.read() as session, pytest.raises(NotFound):
        load_customer_context(session, customer_id)


def test_detail_outside_assortment_is_not_found(database):
    with database.write() as session:
        make_product(session, sku="SECRET", name="Not yours")
        customer_id = make_customer(session, selection=True).id

    with database.read() as session, pytest.raises(NotFound):
        catalog.get_product(session, load_customer_context(session, customer_id), "SECRET")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cafe", ["C1"]),
        ("CAFÉ", ["C1"]),
        ("creme brulee", ["C2"]),
        ("brûlée crème", ["C2"]),
        ("0087", ["C3"]),
        ("8710000000017", ["C3"]),
        ("pot", ["C3"]),
        ("100%", ["C4"]),
        ("a_b", ["C5"]),
        ("nothing like this", []),
    ],
)
def test_search_ignores_case_and_accents(database, query, expected):
    with database.write() as session:
        make_product(session, sku="C1", name="Café au lait")
        make_product(session, sku="C2", name="CRÈME BRÛLÉE")
        make_product(session, sku="000871", name="Flower pot", ean="8710000000017")
        session.flush()
        make_product(session, sku="C4", name="Cotton 100% organic")
        make_product(session, sku="C5", name="Switch a_b model")
        make_product(session, sku="C6", name="Cotton 1000 organic")
        make_product(session, sku="C7", name="Switch axb model")
        customer_id = make_customer(session).id

    with database.read() as session:
        page = search_products(session, load_customer_context(session, customer_id), query)

    found = ["C3" if sku == "000871" else sku for sku in _skus(page)]
    assert found == expected


def test_search_keeps_leading_zeros_of_sku(database):
    with database.write() as session:
        make_product(session, sku="00123", name="Leading zeros")
        make_product(session, sku="123", name="Short code")
        customer_id = make_customer(session).id

    with database.read() as session:
        page = search_products(session, load_customer_context(session, customer_id), "00123")

    assert _skus(page) == ["00123"]


def test_short_search_term_still_matches(database):
    with database.write() as session:
        make_product(session, sku="X1", name="Tea towel")
        make_product(session, sku="X2", name="Coffee mug")
        customer_id = make_customer(session).id

    with database.read() as session:
        page = search_products(session, load_customer_context(session, customer_id), "te")

    assert _skus(page) == ["X1"]


def test_search_quote_is_plain_text(database):
    with database.write() as session:
        make_product(session, sku="Q1", name='Frame 10" wide')
        customer_id = make_customer(session).id

    with database.read() as session:
        page = search_products(session, load_customer_context(session, customer_id), '10" wide')

    assert _skus(page) == ["Q1"]


def test_keyset_paging_visits_every_product_once(database):
    with database.write() as session:
        for index in range(23):
            make_product(session, sku=f"K{index:02d}", name=f"Item {index % 5}")
        customer_id = make_customer(session).id

    seen = []
    with database.read() as session:
        context = load_customer_context(session, customer_id)
        after = None
        while True:
            page = search_products(session, context, after=after, page_size=5)
            seen.extend(_skus(page))
            if page.next_cursor is None:
                break
            after = page.next_cursor

    assert len(seen) == 23
    assert sorted(seen) == sorted(f"K{index:02d}" for index in range(23))


def test_list_shows_customer_price(database):
    with database.write() as session:
        product = make_product(session, sku="P1", price="10.00")
        customer = make_customer(session, discount_percent=Decimal("10"))
        make_price_list(session, customer, [(product, 1, "8.00"), (product, 10, "7.00")])
        customer_id = customer.id

    with database.read() as session:
        context = load_customer_context(session, customer_id)
        row = search_products(session, context).rows[0]
        detail = catalog.get_product(session, context, "P1")

    assert row.unit_price == Decimal("7.2000")
    assert detail.tiers == [(10, Decimal("6.3000"))]


@pytest.mark.parametrize(
    ("mode", "free", "expected"), [("exact", 12, 12), ("indicator", 12, None), ("hidden", 0, None)]
)
def test_stock_display_follows_setting(database, mode, free, expected):
    with database.write() as session:
        make_product(session, sku="S1", on_hand=free)
        customer_id = make_customer(session, stock_display=mode).id

    with database.read() as session:
        row = search_products(session, load_customer_context(session, customer_id)).rows[0]

    assert row.stock.quantity == expected


@pytest.mark.parametrize(("free", "level"), [(0, "out"), (3, "low"), (10, "low"), (11, "in_stock")])
def test_stock_indicator_levels(database, free, level):
    with database.write() as session:
        make_product(session, sku="S1", on_hand=free)
        customer_id = make_customer(session).id

    with database.read() as session:
        row = search_products(session, load_customer_context(session, customer_id)).rows[0]

    assert row.stock.level == level


def _all_pages(session, context, query):
    """Follow next_cursor through every page; return the SKUs in the order shown."""
    skus, after = [], None
    while True:
        page = search_products(session, context, query, after=after, page_size=7)
        skus.extend(_skus(page))
        if page.next_cursor is None:
            return skus
        after = page.next_cursor


@pytest.fixture
def searchable(database):
    """Twelve 'widget' products, three of them also 'sprocket', one inactive, and two customers.

    The selection customer sees every other widget. Names repeat, so keyset paging has
    to order by id too.
    """
    with database.write() as session:
        widgets = [
            make_product(
                session, sku=f"W{index:02d}", name=f"Widget {'sprocket ' if index % 4 == 0 else ''}{index % 3}"
            )
            for index in range(12)
        ]
        widgets[5].active = False
        make_product(session, sku="OTHER", name="Gear wheel")
        everything = make_customer(session).id
        selection = make_customer(session, selection=True)
        select_products(session, selection, *widgets[::2])
        return {"all": everything, "selection": selection.id}


QUERIES = ["widget", "sprocket", "widget 1", "sprocket widget", "wid 2", "nothing"]


@pytest.mark.parametrize("limit", [0, 2, 3, 10, 11, 12, 500])
@pytest.mark.parametrize("customer", ["all", "selection"])
def test_search_same_rows_across_id_list_limit(database, searchable, monkeypatch, customer, limit):
    with database.read() as session:
        context = load_customer_context(session, searchable[customer])
        monkeypatch.setattr(catalog, "FTS_ID_LIST_LIMIT", 0)
        scanned = {query: _all_pages(session, context, query) for query in QUERIES}
        monkeypatch.setattr(catalog, "FTS_ID_LIST_LIMIT", limit)
        listed = {query: _all_pages(session, context, query) for query in QUERIES}

    assert listed == scanned
    assert len(scanned["widget"]) == (11 if customer == "all" else 6)
    assert scanned["nothing"] == []


def test_search_plan_follows_id_list_limit(database, searchable, monkeypatch):
    monkeypatch.setattr(catalog, "FTS_ID_LIST_LIMIT", 11)
    with database.read() as session:
        common = catalog._search_filter(session, "widget")
        rare = catalog._search_filter(session, "sprocket")
        short = catalog._search_filter(session, "wi")

    # Only SQLite lists ids: PostgreSQL's trigram index is used from the LIKE condition.
    assert common.by_id_list is False
    assert rare.by_id_list is database.is_sqlite
    assert short.by_id_list is False


@pytest.mark.parametrize("query", ["", "widget"])
def test_selection_page_walks_name_index(database, searchable, monkeypatch, query):
    if not database.is_sqlite:
        pytest.skip("the plan is SQLite's; PostgreSQL picks its own from its statistics")
    monkeypatch.setattr(catalog, "FTS_ID_LIST_LIMIT", 2)
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", capture)
    try:
        with database.read() as session:
            search_products(session, load_customer_context(session, searchable["selection"]), query)
    finally:
        event.remove(database.engine, "before_cursor_execute", capture)
    page_sql, parameters = statements[-1]
    with database.engine.connect() as connection:
        plan = " | ".join(row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + page_sql, parameters))

    # The selection is read in name order from its index, so no sort is needed to fill a page.
    assert "ix_assortment_items_customer_name" in plan
    assert "TEMP B-TREE" not in plan


def test_selection_page_follows_renamed_product(database):
    with database.write() as session:
        products = [
            make_product(session, sku=f"R{index}", name=name) for index, name in enumerate(["Bolt", "Nut", "Zip"])
        ]
        customer = make_customer(session, selection=True)
        select_products(session, customer, *products)
        customer_id = customer.id
    with database.write() as session:
        session.execute(update(Product).where(Product.sku == "R2").values(name="Anchor"))

    with database.read() as session:
        context = load_customer_context(session, customer_id)
        browsed = search_products(session, context)
        first_page = search_products(session, context, page_size=1)
        second_page = search_products(session, context, after=first_page.next_cursor, page_size=1)

    assert _skus(browsed) == ["R2", "R0", "R1"]
    assert _skus(first_page) == ["R2"]
    assert _skus(second_page) == ["R0"]


def test_search_across_real_id_list_limit(database):
    total = catalog.FTS_ID_LIST_LIMIT + 1
    with database.write() as session:
        session.add_all(
            Product(
                sku=f"T{index:04d}",
                name=f"Teapot {index % 7}",
                list_price=Decimal("1.00"),
                search_text=product_search_text(f"T{index:04d}", None, f"Teapot {index % 7}"),
            )
            for index in range(total)
        )
        session.flush()
        session.execute(update(Product).where(Product.sku == "T0000").values(active=False))
        customer_id = make_customer(session).id

    with database.read() as session:
        context = load_customer_context(session, customer_id)
        first_page = search_products(session, context, "teapot")
        narrowed = _all_pages(session, context, "teapot 6")
        every = _all_pages(session, context, "teapot")
        by_id_list = catalog._search_filter(session, "teapot 6").by_id_list

    assert _skus(first_page) == sorted(every, key=lambda sku: (int(sku[1:]) % 7, int(sku[1:])))[:50]
    assert len(every) == total - 1
    # The short word is matched against the whole search text, SKU included.
    assert narrowed == [sku for sku in every if "6" in f"{sku.lower()} teapot {int(sku[1:]) % 7}"]
    assert by_id_list is False


def test_list_price_uses_tier_of_minimum_quantity(database):
    with database.write() as session:
        tiered = make_product(session, sku="T1", name="Tiered", price="10.00", min_quantity=10, order_multiple=5)
        above = make_product(session, sku="T2", name="Tiers above minimum", price="4.00", min_quantity=3)
        make_product(session, sku="T3", name="No tiers", price="2.00")
        customer = make_customer(session, discount_percent=Decimal("12.5"))
        make_price_list(
            session,
            customer,
            [(tiered, 1, "9.00"), (tiered, 5, "8.50"), (tiered, 10, "8.00"), (tiered, 20, "7.00"), (above, 5, "3.00")],
        )
        customer_id = customer.id

    with database.read() as session:
        context = load_customer_context(session, customer_id)
        prices = {row.sku: row.unit_price for row in search_products(session, context).rows}

    assert prices == {"T1": Decimal("7.0000"), "T2": Decimal("3.5000"), "T3": Decimal("1.7500")}
