"""Engine and session factories, SQLite pragmas and migrations."""

from __future__ import annotations

import logging
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Execution option that marks a connection as one that will write. On SQLite its
# transactions start with BEGIN IMMEDIATE, so a writer waits for the lock at the start
# (up to busy_timeout) instead of failing with "database is locked" at its first write.
WRITE_OPTION = "portal_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000
RETRY_ATTEMPTS = 5
# The products column that searches filter on. On PostgreSQL, statements that name it are
# never prepared (see _configure_postgresql).
SEARCH_COLUMN = "search_text"
# A pooled PostgreSQL connection left unused for longer is tested before use (see
# _ping_idle_connections).
IDLE_PING_SECONDS = 10.0
_CHECKED_IN_AT = "portal_checked_in_at"
# PostgreSQL's serialization_failure and deadlock_detected.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
T = TypeVar("T")

try:
    import fcntl
except ImportError:  # Windows: writers wait in SQLite's busy handler instead.
    fcntl = None


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def set_pragmas(dbapi_connection, connection_record):  # noqa: ARG001
        # Take transaction control away from the sqlite3 module so the "begin" hook decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection):
        if connection.get_execution_options().get(WRITE_OPTION):
            # Through SQLAlchemy, so that "database is locked" arrives as an error that
            # Database.transaction retries.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            # A deferred BEGIN takes no lock (SQLite locks at the first read), so it cannot
            # hit the busy timeout. Sent to the driver, it skips SQLAlchemy's execution path.
            connection.connection.driver_connection.execute("BEGIN")


def _without_nul(value: object) -> object:
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "")
    return value


def _strip_nul_bytes(engine: Engine) -> None:
    """Remove NUL characters from every text parameter before it reaches the database.

    PostgreSQL rejects text containing NUL with an error, and SQLite's FTS5 cannot match
    it, so a NUL typed into any field or URL would break the page instead of being
    ignored. No text in the portal has a use for it.
    """

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def clean(connection, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if not parameters:
            return statement, parameters
        rows = parameters if executemany else [parameters]
        if not any(isinstance(value, str) and "\x00" in value for row in rows for value in _values(row)):
            return statement, parameters
        cleaned = [_clean_row(row) for row in rows]
        return statement, cleaned if executemany else cleaned[0]


def _configure_postgresql(engine: Engine) -> None:
    from psycopg import ServerCursor

    @event.listens_for(engine, "do_execute")
    def plan_searches_each_time(cursor, statement, parameters, context):  # noqa: ARG001
        # psycopg prepares a statement after five runs, and PostgreSQL may then reuse one
        # generic plan. With it, rare search words walked the name index, about 35 times
        # slower than the trigram index. So a search runs unprepared and is planned for its
        # own words. A server-side cursor is never prepared and takes no `prepare` argument.
        if SEARCH_COLUMN not in statement or isinstance(cursor, ServerCursor):
            return False
        cursor.execute(statement, parameters, prepare=False)
        return True


def _ping_idle_connections(engine: Engine) -> None:
    """Test a pooled connection before use once it has been idle for IDLE_PING_SECONDS.

    A server restart or an idle timeout closes connections while they wait in the pool.
    The test replaces a dead one before a user's statement fails on it. SQLAlchemy's
    pool_pre_ping tests every checkout instead, which added 0.13 ms to each read session
    against a local server, and a page run opens several.

    NOTE: a connection that the server closes within IDLE_PING_SECONDS of its last use
    fails one statement. SQLAlchemy then discards every pooled connection, so the next
    statement succeeds.
    """

    @event.listens_for(engine, "checkin")
    def record_checkin(dbapi_connection, connection_record):  # noqa: ARG001
        connection_record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, connection_record, connection_proxy):  # noqa: ARG001
        checked_in_at = connection_record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out a new one.
            raise DisconnectionError(f"idle connection failed its test: {error}") from error


def _values(row: object) -> list[object]:
    if isinstance(row, dict):
        return list(row.values())
    if isinstance(row, (list, tuple)):
        return list(row)
    return [row]


def _clean_row(row: object) -> object:
    if isinstance(row, dict):
        return {key: _without_nul(value) for key, value in row.items()}
    if isinstance(row, (list, tuple)):
        return type(row)(_without_nul(value) for value in row)
    return _without_nul(row)


def create_portal_engine(url: str, **kwargs: object) -> Engine:
    """Create an engine with the portal's settings for SQLite or PostgreSQL."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, **kwargs)
        _ping_idle_connections(engine)
        if engine.dialect.name == "postgresql":
            _configure_postgresql(engine)
    _strip_nul_bytes(engine)
    return engine


# A statement that starts with a write keyword, or a WITH statement whose named query
# writes, as in PostgreSQL's `WITH gone AS (DELETE ... RETURNING id) SELECT ...`.
_WRITE_STATEMENT = re.compile(
    r"\s*(?:INSERT|UPDATE|DELETE|MERGE|REPLACE)\b"
    r"|\s*WITH\b.*?\bAS\s*(?:NOT\s+)?(?:MATERIALIZED\s*)?\(\s*(?:INSERT|UPDATE|DELETE|MERGE)\b",
    re.IGNORECASE | re.DOTALL,
)


def _reject_writes(connection, cursor, statement, parameters, context, executemany):  # noqa: ARG001
    if _WRITE_STATEMENT.match(statement):
        raise ReadOnlySessionError(
            f"Write statement rejected in a read session. Run it in Database.write instead: {statement[:60]}"
        )


class ReadOnlySessionError(RuntimeError):
    """Error raised when a read or snapshot session is given a statement that writes."""


# Per thread, the lock files whose turn the thread holds, whichever Database took it.
_held_turns = threading.local()


class WriterQueue:
    """A queue in the kernel for the write transactions on one SQLite file.

    A writer that finds SQLite's write lock taken sleeps in SQLite's default busy handler,
    which polls in steps that grow to 100 ms (sqliteDefaultBusyCallback in SQLite's
    main.c). With many writers the lock is then often free while all of them sleep. An
    exclusive flock on an empty file beside the database queues the writers of every
    thread and process instead, and the kernel wakes the next one as soon as the lock is
    released.
    """

    def __init__(self, database_path: Path) -> None:
        self.path = database_path.with_name(database_path.name + "-writers")

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait until no other write transaction runs on the file, and hold the turn meanwhile.

        flock belongs to an open file, so each turn opens the file again and threads of
        one process exclude each other too. A nested turn in the same thread, through this
        or another Database on the same file, does not wait for itself, so its transaction
        waits in SQLite's busy handler as before.

        NOTE: the wait has no time limit. A writer queued behind a long write, such as a
        history import, waits until it ends. SQLite's busy timeout would have failed each
        attempt after 30 s.
        """
        held_paths = getattr(_held_turns, "paths", None)
        if held_paths is None:
            held_paths = _held_turns.paths = set()
        if self.path in held_paths:
            yield
            return
        with self.path.open("ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            held_paths.add(self.path)
            try:
                yield
            finally:
                held_paths.discard(self.path)
                fcntl.flock(handle, fcntl.LOCK_UN)


def _writer_queue(engine: Engine) -> WriterQueue | None:
    if engine.dialect.name != "sqlite" or fcntl is None:
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return WriterQueue(Path(database).resolve())


class Database:
    """An engine with session factories for reads, snapshot reads and writes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Under PostgreSQL's READ COMMITTED each statement takes its own snapshot anyway, so
        # reads run in autocommit, which saves the BEGIN and ROLLBACK round trips. SQLite
        # keeps BEGIN, which gives a read one snapshot. A write in autocommit would be kept
        # at once, so read sessions reject writes on both engines.
        if engine.dialect.name == "postgresql":
            read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        else:
            read_engine = engine.execution_options()
        event.listen(read_engine, "before_cursor_execute", _reject_writes)
        self._read = sessionmaker(read_engine, expire_on_commit=False)
        snapshot_engine = read_engine
        if engine.dialect.name == "postgresql":
            snapshot_engine = engine.execution_options(isolation_level="REPEATABLE READ")
            event.listen(snapshot_engine, "before_cursor_execute", _reject_writes)
        self._snapshot = sessionmaker(snapshot_engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)
        self._writers = _writer_queue(engine)

    def _writer_turn(self) -> AbstractContextManager[None]:
        return self._writers.turn() if self._writers is not None else nullcontext()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Open a session for one read-only user action. A write through it raises ReadOnlySessionError."""
        with self._read() as session:
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """Open a read-only session whose statements all read one snapshot, for exports and checks.

        On PostgreSQL it is a REPEATABLE READ transaction, which rows streamed with
        yield_per also need. On SQLite it is the same as read.
        """
        with self._snapshot() as session:
            yield session

    def transaction(self, action: Callable[[Session], T], attempts: int = RETRY_ATTEMPTS) -> T:
        """Run action(session) in a write transaction, retrying when the database asks to.

        PostgreSQL may abort a transaction with a serialization failure or a deadlock, and
        SQLite may report a lock it waited for too long; the work is then repeated from the
        start, at most `attempts` times in all, so no such error reaches a user unless the
        database keeps refusing.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as session:
                    return action(session)
            except DBAPIError as error:
                if attempt == attempts or not is_retryable(error):
                    raise
                log.warning("Transaction retried (attempt %s of %s): %s", attempt, attempts, error.orig)
                time.sleep(random.uniform(0.01, 0.05) * attempt)
        raise AssertionError("unreachable")

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Open a session for one user action that writes, and commit it at the end.

        Anything raised inside rolls the whole action back.
        """
        with self._writer_turn(), self._write() as session, session.begin():
            yield session


def include_in_autogenerate(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:  # noqa: ARG001
    """Leave the search index objects, which the models do not describe, out of autogenerate."""
    return not (name or "").startswith(("products_fts", "ix_products_search_text_trgm"))


def is_retryable(error: DBAPIError) -> bool:
    """Tell whether a database error means "try the transaction again"."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(error.orig)


def _alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Apply every migration that the database does not have yet."""
    command.upgrade(_alembic_config(engine), "head")


def pending_migrations(engine: Engine) -> bool:
    """Tell whether the database is behind the newest migration."""
    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current != head


def backup_sqlite(source: str, destination: Path) -> None:
    """Copy a live SQLite database page by page with SQLite's online backup API.

    Writers can go on meanwhile; the copy is a consistent snapshot.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as origin, sqlite3.connect(destination) as copy:
        origin.backup(copy)
    log.info("SQLite database %s backed up to %s", source, destination)
