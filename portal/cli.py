"""Operator commands: `python -m portal migrate` and friends."""

from __future__ import annotations

import argparse
import logging

from portal.config import ConfigError, load_config
from portal.db import Database, create_portal_engine, migrate
from portal.integrity import check_invariants
from portal.setup import ensure_settings, load_demo_if_empty

log = logging.getLogger(__name__)


def _migrate(arguments: argparse.Namespace) -> int:  # noqa: ARG001
    config = load_config()
    database = Database(create_portal_engine(config.database_url))
    migrate(database.engine)
    with database.write() as session:
        ensure_settings(session)
    print(f"Database at {database.engine.url.render_as_string(hide_password=True)} is up to date.")
    return 0


def _load_demo(arguments: argparse.Namespace) -> int:  # noqa: ARG001
    config = load_config()
    database = Database(create_portal_engine(config.database_url))
    migrate(database.engine)
    with database.write() as session:
        ensure_settings(session)
    if load_demo_if_empty(database):
        print("Demo data loaded.")
    else:
        print("The database has products already; demo data not loaded.")
    return 0


def _check(arguments: argparse.Namespace) -> int:  # noqa: ARG001
    config = load_config()
    database = Database(create_portal_engine(config.database_url))
    with database.read() as session:
        violations = check_invariants(session)
    for violation in violations:
        print(violation)
    if violations:
        print(f"{len(violations)} violations found.")
        return 1
    print("All stock and order invariants hold.")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one operator command; return the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m portal", description="Operator commands of the customer portal.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=_migrate)
    commands.add_parser("check", help="check the stock and order invariants; exit 1 on any violation").set_defaults(
        handler=_check
    )
    commands.add_parser("load-demo", help="load the demo data into an empty database").set_defaults(handler=_load_demo)
    arguments = parser.parse_args(argv)
    try:
        return arguments.handler(arguments)
    except ConfigError as error:
        print(f"Configuration error: {error}")
        return 2
