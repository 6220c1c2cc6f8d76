"""Read and write sessions: what each may do, and how each talks to the database."""

import pytest
from sqlalchemy import select, text

from portal.db import Database, ReadOnlySessionError, create_portal_engine
from portal.models import Product
from tests.factories import make_product


@pytest.fixture
def product_id(database: Database) -> int:
    with database.write() as session:
        product = make_product(session, sku="SES-1", name="Session test")
        session.flush()
        return product.id


def test_read_session_refuses_a_write_and_keeps_nothing(database, product_id):
    with database.read() as session, pytest.raises(ReadOnlySessionError, match=r"Database\.write"):
        session.execute(text("UPDATE products SET name = 'Changed' WHERE id = :id"), {"id": product_id})

    with database.read() as session:
        assert session.scalar(select(Product.name).where(Product.id == product_id)) == "Session test"


def test_read_session_refuses_an_orm_insert(database):
    with database.read() as session, pytest.raises(ReadOnlySessionError):
        make_product(session, sku="SES-2", name="Never stored")
        session.flush()

    with database.read() as session:
        assert session.scalar(select(Product.id).where(Product.sku == "SES-2")) is None


def test_write_session_still_writes(database, product_id):
    with database.write() as session:
        session.execute(text("UPDATE products SET name = 'Changed' WHERE id = :id"), {"id": product_id})

    with database.read() as session:
        assert session.scalar(select(Product.name).where(Product.id == product_id)) == "Changed"


def _transaction_status(session) -> str:
    return session.connection().connection.driver_connection.info.transaction_status.name


def test_postgresql_reads_run_outside_a_transaction(database, product_id):
    if database.is_sqlite:
        pytest.skip("PostgreSQL only")
    with database.read() as session:
        session.scalar(select(Product.name).where(Product.id == product_id))
        assert _transaction_status(session) == "IDLE"
    with database.write() as session:
        session.scalar(select(Product.name).where(Product.id == product_id))
        assert _transaction_status(session) == "INTRANS"


def test_postgresql_plans_every_execution_with_its_parameters(database):
    if database.is_sqlite:
        pytest.skip("PostgreSQL only")
    with database.read() as session:
        assert session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"


def test_sqlite_read_keeps_one_snapshot(database, product_id):
    if not database.is_sqlite:
        pytest.skip("SQLite only: PostgreSQL takes a snapshot per statement")
    other = Database(create_portal_engine(database.engine.url.render_as_string(hide_password=False)))
    try:
        with database.read() as session:
            assert session.scalar(select(Product.name).where(Product.id == product_id)) == "Session test"
            with other.write() as writer:
                writer.execute(text("UPDATE products SET name = 'Changed' WHERE id = :id"), {"id": product_id})
            assert session.scalar(select(Product.name).where(Product.id == product_id)) == "Session test"
    finally:
        other.engine.dispose()


def test_snapshot_reads_one_state_throughout_and_refuses_writes(database, product_id):
    other = Database(create_portal_engine(database.engine.url.render_as_string(hide_password=False)))
    try:
        with database.snapshot() as session:
            assert session.scalar(select(Product.name).where(Product.id == product_id)) == "Session test"
            with other.write() as writer:
                writer.execute(text("UPDATE products SET name = 'Changed' WHERE id = :id"), {"id": product_id})
            assert session.scalar(select(Product.name).where(Product.id == product_id)) == "Session test"
            with pytest.raises(ReadOnlySessionError):
                session.execute(text("DELETE FROM products WHERE id = :id"), {"id": product_id})
    finally:
        other.engine.dispose()


def test_snapshot_streams_rows(database, product_id):
    # yield_per uses a server-side cursor on PostgreSQL, which needs a transaction.
    with database.snapshot() as session:
        rows = session.execute(select(Product.id).execution_options(yield_per=10)).scalars().all()
    assert rows == [product_id]
