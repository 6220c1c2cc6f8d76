"""Operator commands: `python -m portal migrate` and friends."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from portal import history
from portal.config import ConfigError, load_config
from portal.db import Database, backup_sqlite, create_portal_engine, migrate
from portal.integrity import check_invariants
from portal.setup import ensure_settings, load_demo_if_empty

log = logging.getLogger(__name__)


@contextmanager
def _configured_database() -> Iterator[Database]:
    """Open the configured database for one command and close its connections after."""
    database = Database(create_portal_engine(load_config().database_url))
    try:
        yield database
    finally:
        database.engine.dispose()


def _migrate(arguments: argparse.Namespace) -> int:  # noqa: ARG001
    with _configured_database() as database:
        migrate(database.engine)
        with database.write() as session:
            ensure_settings(session)
    print(f"Database at {database.engine.url.render_as_string(hide_password=True)} is up to date.")
    return 0


def _load_demo(arguments: argparse.Namespace) -> int:  # noqa: ARG001
    with _configured_database() as database:
        migrate(database.engine)
        with database.write() as session:
            ensure_settings(session)
        loaded = load_demo_if_empty(database)
    if loaded:
        print("Demo data loaded.")
    else:
        print("The database has products already; demo data not loaded.")
    return 0


def _check(arguments: argparse.Namespace) -> int:  # noqa: ARG001
    # One snapshot, so a check on a live database compares tables as of one moment.
    with _configured_database() as database, database.snapshot() as session:
        violations = check_invariants(session)
    for violation in violations:
        print(violation)
    if violations:
        print(f"{len(violations)} violations found.")
        return 1
    print("All stock, order and selection invariants hold.")
    return 0


def _import_history(arguments: argparse.Namespace) -> int:
    try:
        options = history.ImportOptions(
            delimiter=history.parse_delimiter(arguments.delimiter),
            time_zone=arguments.time_zone,
            date_format=arguments.date_format,
            skip_bad_lines=arguments.skip_bad_lines,
        ).with_columns(history.parse_column_mapping(arguments.columns or ""))
        with _configured_database() as database, database.write() as session:
            summary = history.import_history(session, arguments.file, options)
    except (history.HistoryFileError, ValueError, OSError) as error:
        print(f"Import of {arguments.file} failed, nothing was written: {error}")
        return 1
    print(f"Imported {arguments.file}.")
    for line in summary.report():
        print(line)
    return 0


def _backup(arguments: argparse.Namespace) -> int:
    config = load_config()
    url = make_url(config.database_url)
    if url.get_backend_name() != "sqlite":
        # pg_dump takes a consistent snapshot while the portal keeps running.
        target = url.set(drivername="postgresql").render_as_string(hide_password=True)
        print(f"For PostgreSQL, back up with: pg_dump --format=custom --file={arguments.file} '{target}'")
        return 0
    destination = Path(arguments.file)
    if destination.exists():
        print(f"{destination} exists already; choose a new file name so no backup is overwritten.")
        return 1
    backup_sqlite(url.database, destination)
    print(f"Backed up {url.database} to {destination}.")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one operator command; return the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m portal", description="Operator commands of the customer portal.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=_migrate)
    commands.add_parser(
        "check", help="check the stock, order and selection invariants; exit 1 on any violation"
    ).set_defaults(handler=_check)
    backup = commands.add_parser("backup", help="write an online backup of the SQLite database to FILE")
    backup.add_argument("file", help="path of the backup file to create")
    backup.set_defaults(handler=_backup)
    commands.add_parser("load-demo", help="load the demo data into an empty database").set_defaults(handler=_load_demo)
    importer = commands.add_parser(
        "import-history", help="import products, customers and orders from an export of invoice lines"
    )
    importer.add_argument("file", help="CSV file of invoice lines, plain or gzip-compressed")
    importer.add_argument("--skip-bad-lines", action="store_true", help="import the valid lines and list the others")
    importer.add_argument("--delimiter", default=",", help="field delimiter, one character or 'tab' (default: ,)")
    importer.add_argument(
        "--columns",
        metavar="FIELD=COLUMN,...",
        help="column names where the export differs from the Online Retail names, such as "
        "invoice=Invoice,customer_id=Customer; fields: " + ", ".join(history.ONLINE_RETAIL_COLUMNS),
    )
    importer.add_argument(
        "--time-zone", default=history.DEFAULT_TIME_ZONE, help="time zone of the export's dates (default: %(default)s)"
    )
    importer.add_argument("--date-format", help="strptime format of the dates (default: ISO 8601)")
    importer.set_defaults(handler=_import_history)
    arguments = parser.parse_args(argv)
    try:
        return arguments.handler(arguments)
    except ConfigError as error:
        print(f"Configuration error: {error}")
        return 2
