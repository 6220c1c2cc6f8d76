"""The SQLite writer queue: write transactions of all threads and processes take turns."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from portal.db import Database, create_portal_engine

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Database:
    database = Database(create_portal_engine(f"sqlite:///{tmp_path / 'portal.db'}"))
    with database.write() as session:
        session.execute(text("CREATE TABLE notes (body TEXT)"))
    yield database
    database.engine.dispose()


def lock_taken_elsewhere(lock_path: Path) -> bool:
    """Tell whether another process would have to wait for the lock file's flock."""
    probe = (
        "import fcntl, sys\n"
        "with open(sys.argv[1], 'ab') as handle:\n"
        "    try:\n"
        "        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "    except BlockingIOError:\n"
        "        sys.exit(3)\n"
    )
    return subprocess.run([sys.executable, "-c", probe, str(lock_path)], check=False).returncode == 3


def test_write_holds_lock_file_flock(sqlite_database, tmp_path):
    lock_path = tmp_path / "portal.db-writers"

    with sqlite_database.write():
        locked_during_write = lock_taken_elsewhere(lock_path)
    released = not lock_taken_elsewhere(lock_path)

    assert locked_during_write
    assert released


def test_second_thread_waits_for_write(sqlite_database):
    first_inside = threading.Event()
    second_inside = threading.Event()
    release_first = threading.Event()

    def first() -> None:
        with sqlite_database.write():
            first_inside.set()
            release_first.wait(10)

    def second() -> None:
        first_inside.wait(10)
        with sqlite_database.write():
            second_inside.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_inside.wait(10)
    entered_early = second_inside.wait(0.5)
    release_first.set()
    for thread in threads:
        thread.join(10)

    assert not entered_early
    assert second_inside.is_set()


def test_nested_write_does_not_wait_for_itself(sqlite_database, tmp_path):
    queue = sqlite_database._writers

    with queue.turn(), queue.turn():
        locked_while_nested = lock_taken_elsewhere(tmp_path / "portal.db-writers")

    assert locked_while_nested


def test_write_rolled_back_releases_turn(sqlite_database, tmp_path):
    with pytest.raises(RuntimeError), sqlite_database.write():
        raise RuntimeError("rolled back")

    assert not lock_taken_elsewhere(tmp_path / "portal.db-writers")


def test_memory_database_has_no_queue():
    database = Database(create_portal_engine("sqlite://"))

    assert database._writers is None


def test_lock_file_is_never_written(sqlite_database, tmp_path):
    with sqlite_database.write() as session:
        session.execute(text("INSERT INTO notes (body) VALUES ('hello')"))

    assert (tmp_path / "portal.db-writers").stat().st_size == 0


def test_nested_turn_across_databases(sqlite_database, tmp_path):
    second = Database(create_portal_engine(f"sqlite:///{tmp_path / 'portal.db'}"))
    try:
        with sqlite_database._writers.turn(), second._writers.turn():
            locked_while_nested = lock_taken_elsewhere(tmp_path / "portal.db-writers")
    finally:
        second.engine.dispose()

    assert locked_while_nested
