"""Migration 0005 on a database that already has selections: upgrade, and back down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, insert, inspect, make_url, select, text, update
from sqlalchemy.orm import Session

from portal.db import _alembic_config, create_portal_engine
from portal.models import AssortmentItem, Product
from tests.conftest import engine_names, postgres_url
from tests.factories import make_customer, make_product


@pytest.fixture(params=engine_names())
def empty_engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    """An engine on an empty database of its own, which no other test migrates."""
    if request.param == "sqlite":
        engine = create_portal_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield engine
        engine.dispose()
        return
    # A database of its own: in the shared test database, the tables of the other tests
    # would be found through the search path.
    name = f"portal_migrations_{uuid.uuid4().hex[:12]}"
    admin = create_portal_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    engine = create_portal_engine(make_url(postgres_url()).set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def _copied_names(engine: Engine) -> list[str | None]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT product_name FROM assortment_items ORDER BY product_id")).scalars())


def test_upgrade_copies_existing_names(empty_engine):
    config = _alembic_config(empty_engine)
    command.upgrade(config, "0004")
    with Session(empty_engine) as session, session.begin():
        first = make_product(session, sku="M1", name="Hex bolt")
        second = make_product(session, sku="M2", name="Washer")
        customer = make_customer(session, selection=True)
        session.execute(
            insert(AssortmentItem.__table__),
            [{"customer_id": customer.id, "product_id": product.id} for product in (first, second)],
        )
        first_id = first.id

    command.upgrade(config, "head")
    upgraded = _copied_names(empty_engine)
    with Session(empty_engine) as session, session.begin():
        session.execute(update(Product).where(Product.id == first_id).values(name="Hex bolt M8"))
    renamed = _copied_names(empty_engine)

    assert upgraded == ["Hex bolt", "Washer"]
    assert renamed == ["Hex bolt M8", "Washer"]


def test_downgrade_removes_copy_and_triggers(empty_engine):
    config = _alembic_config(empty_engine)
    command.upgrade(config, "head")
    with Session(empty_engine) as session, session.begin():
        product = make_product(session, sku="M1", name="Hex bolt")
        customer = make_customer(session, selection=True)
        session.execute(insert(AssortmentItem.__table__).values(customer_id=customer.id, product_id=product.id))
        product_id = product.id

    command.downgrade(config, "0004")
    columns = {column["name"] for column in inspect(empty_engine).get_columns("assortment_items")}
    with Session(empty_engine) as session, session.begin():
        # Without the triggers a rename touches the product only.
        session.execute(update(Product).where(Product.id == product_id).values(name="Hex bolt M8"))
        name = session.scalar(select(Product.name).where(Product.id == product_id))
    command.upgrade(config, "head")

    assert columns == {"customer_id", "product_id"}
    assert name == "Hex bolt M8"
    assert _copied_names(empty_engine) == ["Hex bolt M8"]
