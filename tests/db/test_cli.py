import sqlite3

import pytest

from portal import cart, ordering
from portal.catalog import load_customer_context
from portal.cli import main
from portal.models import Product
from tests.factories import make_address, make_customer, make_product, make_user


def place_small_order(database) -> str:
    """Place one order for 3 of a product with 2 on hand; return the product's SKU."""
    with database.write() as session:
        product = make_product(session, on_hand=2)
        customer = make_customer(session)
        address_id = make_address(session, customer).id
        user_id = make_user(session, customer)
        context = load_customer_context(session, customer.id)
        cart.add_to_cart(session, context, user_id, product.id, 3)
        cart.set_details(session, context, user_id, comment="", address_id=address_id)
        ordering.place_order(session, context, user_id, cart.get_cart(session, user_id, customer.id).checkout_token)
        return product.sku


@pytest.fixture
def configured(database_url, monkeypatch):
    monkeypatch.setenv("PORTAL_DATABASE_URL", database_url)
    monkeypatch.setenv("PORTAL_COOKIE_KEY", "cli-tests-" + "k" * 40)
    return database_url


def test_check_passes_on_sound_database(configured, database, capsys):
    place_small_order(database)

    assert main(["check"]) == 0
    assert "hold" in capsys.readouterr().out


def test_check_fails_and_names_violation(configured, database, capsys):
    sku = place_small_order(database)
    with database.write() as session:
        session.query(Product).filter(Product.sku == sku).one().allocated -= 1

    assert main(["check"]) == 1
    assert sku in capsys.readouterr().out


def test_migrate_is_idempotent(configured):
    assert main(["migrate"]) == 0
    assert main(["migrate"]) == 0


def test_backup_of_sqlite_is_readable(configured, database, tmp_path, capsys):
    if not configured.startswith("sqlite"):
        assert main(["backup", str(tmp_path / "portal.dump")]) == 0
        assert "pg_dump" in capsys.readouterr().out
        return
    place_small_order(database)

    assert main(["backup", str(tmp_path / "copy.db")]) == 0
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("SELECT count(*) FROM orders").fetchone()[0] == 1


def test_backup_never_overwrites(configured, tmp_path):
    existing = tmp_path / "copy.db"
    existing.write_text("keep me")

    if configured.startswith("sqlite"):
        assert main(["backup", str(existing)]) == 1
    assert existing.read_text() == "keep me"
