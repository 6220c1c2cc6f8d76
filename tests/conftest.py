"""Shared fixtures: a clean, migrated database per test on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from portal import accounts
from portal.db import Database, create_portal_engine, migrate
from portal.models import Base
from portal.setup import ensure_settings

POSTGRES_URL_VARIABLE = "PORTAL_TEST_DATABASE_URL"

# bcrypt's cost does not change what the tests check; the lowest cost keeps them fast.
accounts.BCRYPT_ROUNDS = 4


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_URL_VARIABLE) or None


def pytest_report_header() -> str:
    url = postgres_url()
    if url is None:
        return f"databases: SQLite only ({POSTGRES_URL_VARIABLE} is not set)"
    return f"databases: SQLite and PostgreSQL ({url.rsplit('@', 1)[-1]})"


def engine_names() -> list[str]:
    return ["sqlite", "postgresql"] if postgres_url() else ["sqlite"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, so migrations run once per session."""
    path = tmp_path_factory.mktemp("template") / "portal.db"
    engine = create_portal_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_engine():
    """The PostgreSQL test database, emptied and migrated once per session."""
    url = postgres_url()
    assert url is not None
    engine = create_portal_engine(url, pool_size=30, max_overflow=10)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    migrate(engine)
    yield engine
    engine.dispose()


def _truncate_all(engine) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=engine_names())
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """URL of a clean, migrated database with the settings row, on each configured engine."""
    if request.param == "sqlite":
        path = tmp_path / "portal.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        engine = request.getfixturevalue("postgres_engine")
        _truncate_all(engine)
        url = postgres_url()
    database = Database(create_portal_engine(url))
    with database.write() as session:
        ensure_settings(session)
    database.engine.dispose()
    yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(create_portal_engine(database_url))
    yield database
    database.engine.dispose()
