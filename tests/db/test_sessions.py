"""Read, snapshot and write sessions: what each may run, and how each uses the database."""

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from portal.db import SEARCH_COLUMN, Database, ReadOnlySessionError, create_portal_engine
from portal.models import Product
from portal.stock import find_products
from tests.factories import make_product

RENAME = text("UPDATE products SET name = 'Changed' WHERE id = :id")


@pytest.fixture
def product_id(database: Database) -> int:
    with database.write() as session:
        product = make_product(session, sku="SES-1", name="Session test")
        session.flush()
        return product.id


@pytest.fixture
def second_database(database: Database) -> Iterator[Database]:
    """Return a second Database on the same file or server, as another process would open it."""
    second = Database(create_portal_engine(database.engine.url.render_as_string(hide_password=False)))
    yield second
    second.engine.dispose()


def _name(session, product_id: int) -> str:
    return session.scalar(select(Product.name).where(Product.id == product_id))


def _transaction_status(session) -> str:
    return session.connection().connection.driver_connection.info.transaction_status.name


def test_read_rejects_sql_write(database, product_id):
    with database.read() as session, pytest.raises(ReadOnlySessionError, match=r"Database\.write"):
        session.execute(RENAME, {"id": product_id})

    with database.read() as session:
        assert _name(session, product_id) == "Session test"


def test_postgresql_read_rejects_with_delete(database, product_id):
    # SQLite allows no write inside WITH. PostgreSQL does, and a read session there runs
    # in autocommit, so the delete would be kept at once.
    if database.is_sqlite:
        pytest.skip("PostgreSQL only")
    statement = text("WITH gone AS (DELETE FROM products WHERE id = :id RETURNING id) SELECT count(*) FROM gone")
    with database.read() as session, pytest.raises(ReadOnlySessionError):
        session.execute(statement, {"id": product_id})

    with database.read() as session:
        assert _name(session, product_id) == "Session test"


def test_read_allows_plain_with(database, product_id):
    statement = text("WITH named AS (SELECT name FROM products WHERE id = :id) SELECT name FROM named")
    with database.read() as session:
        assert session.scalar(statement, {"id": product_id}) == "Session test"


def test_read_rejects_orm_insert(database):
    with database.read() as session, pytest.raises(ReadOnlySessionError):
        make_product(session, sku="SES-2", name="Never stored")
        session.flush()

    with database.read() as session:
        assert session.scalar(select(Product.id).where(Product.sku == "SES-2")) is None


def test_write_session_writes(database, product_id):
    with database.write() as session:
        session.execute(RENAME, {"id": product_id})

    with database.read() as session:
        assert _name(session, product_id) == "Changed"


def test_postgresql_read_outside_transaction(database, product_id):
    if database.is_sqlite:
        pytest.skip("PostgreSQL only")
    with database.read() as session:
        _name(session, product_id)
        assert _transaction_status(session) == "IDLE"
    with database.write() as session:
        _name(session, product_id)
        assert _transaction_status(session) == "INTRANS"


def test_postgresql_searches_never_prepared(database, product_id):
    # psycopg prepares a statement after five runs. A prepared search could be given a
    # generic plan, which suits some words and not others.
    if database.is_sqlite:
        pytest.skip("PostgreSQL only")
    with database.read() as session:
        for _ in range(8):
            assert [row.id for row in find_products(session, "session test")] == [product_id]
            assert _name(session, product_id) == "Session test"
        prepared = session.scalars(text("SELECT statement FROM pg_prepared_statements")).all()

    assert SEARCH_COLUMN in Product.__table__.c
    assert any("products.name" in statement for statement in prepared)
    assert not any(SEARCH_COLUMN in statement for statement in prepared)


def test_snapshot_streams_search_column(database, product_id):
    # Streaming runs on a server-side cursor on PostgreSQL.
    statement = select(Product.id, Product.search_text).where(Product.id == product_id)
    with database.snapshot() as session:
        rows = session.execute(statement.execution_options(yield_per=10)).all()

    assert [row.id for row in rows] == [product_id]


def test_sqlite_read_keeps_snapshot(database, second_database, product_id):
    if not database.is_sqlite:
        pytest.skip("SQLite only: PostgreSQL takes a snapshot per statement")
    with database.read() as session:
        assert _name(session, product_id) == "Session test"
        with second_database.write() as writer:
            writer.execute(RENAME, {"id": product_id})
        assert _name(session, product_id) == "Session test"


def test_snapshot_keeps_state_and_rejects_writes(database, second_database, product_id):
    with database.snapshot() as session:
        assert _name(session, product_id) == "Session test"
        with second_database.write() as writer:
            writer.execute(RENAME, {"id": product_id})
        assert _name(session, product_id) == "Session test"
        with pytest.raises(ReadOnlySessionError):
            session.execute(text("DELETE FROM products WHERE id = :id"), {"id": product_id})


def test_snapshot_streams_rows(database, product_id):
    # yield_per reads through a server-side cursor on PostgreSQL, which needs a transaction.
    with database.snapshot() as session:
        rows = session.execute(select(Product.id).execution_options(yield_per=10)).scalars().all()
    assert rows == [product_id]


def _backend_pid(database: Database) -> int:
    with database.read() as session:
        return session.scalar(text("SELECT pg_backend_pid()"))


def _terminate(database: Database, backend_pid: int) -> None:
    with database.engine.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend_pid})


@pytest.fixture
def pooled_database(database: Database) -> Iterator[Database]:
    """Return a Database of its own whose pool keeps one connection, on PostgreSQL only."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite connections do not go through a server")
    url = database.engine.url.render_as_string(hide_password=False)
    pooled = Database(create_portal_engine(url, pool_size=1, max_overflow=0))
    yield pooled
    pooled.engine.dispose()


def test_postgresql_idle_connection_replaced(pooled_database, database, monkeypatch):
    monkeypatch.setattr("portal.db.IDLE_PING_SECONDS", 0.0)
    first_pid = _backend_pid(pooled_database)
    _terminate(database, first_pid)

    second_pid = _backend_pid(pooled_database)

    assert second_pid != first_pid


def test_postgresql_recent_connection_fails_once(pooled_database, database):
    first_pid = _backend_pid(pooled_database)
    _terminate(database, first_pid)

    with pytest.raises(OperationalError):
        _backend_pid(pooled_database)
    second_pid = _backend_pid(pooled_database)

    assert second_pid != first_pid
