"""Say which databases the tests will use, and fail when a configured PostgreSQL is unreachable.

Run by `make test` before pytest, so a CI run that was meant to cover PostgreSQL stops
with a clear message instead of quietly testing SQLite alone.
"""

import os
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

VARIABLE = "PORTAL_TEST_DATABASE_URL"


def main() -> int:
    url = os.environ.get(VARIABLE)
    if not url:
        print(f"Testing on SQLite only: set {VARIABLE} to a PostgreSQL URL to test on PostgreSQL too.")
        return 0
    try:
        with create_engine(url).connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar()
    except OperationalError as error:
        print(f"{VARIABLE} is set but PostgreSQL cannot be reached: {error.orig}", file=sys.stderr)
        return 1
    print(f"Testing on SQLite and PostgreSQL {version}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
