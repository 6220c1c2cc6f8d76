"""The copy of each product's name in assortment_items, which orders a customer's selection."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import insert, select, text, update

from portal.integrity import check_invariants
from portal.models import AssortmentItem, Product
from tests.factories import make_customer, make_product, select_products


def _copied_names(database) -> dict[tuple[int, int], str | None]:
    with database.read() as session:
        rows = session.execute(
            select(AssortmentItem.customer_id, AssortmentItem.product_id, AssortmentItem.product_name)
        ).all()
    return {(customer_id, product_id): name for customer_id, product_id, name in rows}


def test_insert_copies_product_name(database):
    with database.write() as session:
        product = make_product(session, name="Hex bolt")
        customer = make_customer(session, selection=True)
        select_products(session, customer, product)
        key = (customer.id, product.id)

    assert _copied_names(database) == {key: "Hex bolt"}


def test_insert_with_wrong_name_corrected(database):
    with database.write() as session:
        product = make_product(session, name="Hex bolt")
        customer = make_customer(session, selection=True)
        session.execute(
            insert(AssortmentItem).values(customer_id=customer.id, product_id=product.id, product_name="Wrong")
        )
        key = (customer.id, product.id)

    assert _copied_names(database) == {key: "Hex bolt"}


def test_rename_updates_every_selection(database):
    with database.write() as session:
        renamed = make_product(session, name="Hex bolt")
        unchanged = make_product(session, name="Washer")
        first = make_customer(session, selection=True)
        second = make_customer(session, selection=True)
        select_products(session, first, renamed, unchanged)
        select_products(session, second, renamed)
        keys = (first.id, second.id, renamed.id, unchanged.id)
    with database.write() as session:
        session.execute(update(Product).where(Product.id == keys[2]).values(name="Hex bolt M8"))

    first_id, second_id, renamed_id, unchanged_id = keys
    assert _copied_names(database) == {
        (first_id, renamed_id): "Hex bolt M8",
        (first_id, unchanged_id): "Washer",
        (second_id, renamed_id): "Hex bolt M8",
    }


def test_item_moved_to_other_product(database):
    with database.write() as session:
        old = make_product(session, name="Hex bolt")
        new = make_product(session, name="Washer")
        customer = make_customer(session, selection=True)
        select_products(session, customer, old)
        ids = (customer.id, old.id, new.id)
    with database.write() as session:
        session.execute(update(AssortmentItem).where(AssortmentItem.product_id == ids[1]).values(product_id=ids[2]))

    assert _copied_names(database) == {(ids[0], ids[2]): "Washer"}


def test_check_reports_stale_name(database):
    with database.write() as session:
        product = make_product(session, sku="HB8", name="Hex bolt")
        customer = make_customer(session, selection=True)
        select_products(session, customer, product)
        customer_id = customer.id
    # Only a write that gets past the triggers can leave a stale copy.
    with database.write() as session:
        if database.is_sqlite:
            session.execute(text("DROP TRIGGER products_name_to_assortment"))
            session.execute(update(Product).values(name="Hex bolt M8"))
        else:
            session.execute(text("ALTER TABLE products DISABLE TRIGGER products_name_to_assortment"))
            session.execute(update(Product).values(name="Hex bolt M8"))
            session.execute(text("ALTER TABLE products ENABLE TRIGGER products_name_to_assortment"))

    with database.read() as session:
        violations = [str(violation) for violation in check_invariants(session)]

    assert violations == [
        f"assortment_name_differs: customer {customer_id} product HB8: "
        "selection lists it as 'Hex bolt', the product is named 'Hex bolt M8'"
    ]


def _renamed_while_selected(database, *, rename_first: bool) -> str | None:
    """Rename a product and select it in two overlapping transactions; return the copied name."""
    with database.write() as session:
        product_id = make_product(session, name="Hex bolt").id
        customer_id = make_customer(session, selection=True).id

    def rename(session) -> None:
        session.execute(update(Product).where(Product.id == product_id).values(name="Hex bolt M8"))

    def select_product(session) -> None:
        session.execute(insert(AssortmentItem).values(customer_id=customer_id, product_id=product_id))

    first, second = (rename, select_product) if rename_first else (select_product, rename)
    first_done = threading.Event()
    errors: list[BaseException] = []

    def run_first() -> None:
        try:
            with database.write() as session:
                first(session)
                first_done.set()
                # Long enough for the second transaction to reach the product's row. NOTE: where
                # it takes longer, the two do not overlap and the test passes without the race.
                time.sleep(0.5)
        except BaseException as error:
            errors.append(error)
        finally:
            first_done.set()

    thread = threading.Thread(target=run_first)
    thread.start()
    first_done.wait(10)
    with database.write() as session:
        second(session)
    thread.join(10)

    assert errors == []
    return _copied_names(database)[(customer_id, product_id)]


@pytest.mark.parametrize("rename_first", [True, False])
def test_concurrent_rename_and_select(database, rename_first):
    if database.is_sqlite:
        pytest.skip("SQLite runs one write transaction at a time")

    assert _renamed_while_selected(database, rename_first=rename_first) == "Hex bolt M8"
