"""Helpers that both attack test modules use: companies, users and forged sign-in cookies."""

from __future__ import annotations

import datetime as dt
import secrets

import jwt

from portal.db import Database
from portal.i18n import translate
from portal.models import User
from tests.browser.conftest import PortalServer
from tests.factories import make_address, make_customer, make_user

PASSWORD = "correct horse battery"
# The lifetime of the portal's sign-in cookie.
COOKIE_LIFETIME = dt.timedelta(days=7)


def english(key: str, **params: object) -> str:
    return translate("en", key, **params)


def new_company(database: Database, name: str = "", selection: bool = False) -> dict[str, int]:
    """Create a company with a default address and two users, and return their ids."""
    with database.write() as session:
        customer = make_customer(session, name=name, selection=selection)
        address = make_address(session, customer)
        first = make_user(session, customer, username=f"first-{secrets.token_hex(4)}", password=PASSWORD)
        second = make_user(session, customer, username=f"second-{secrets.token_hex(4)}", password=PASSWORD)
        return {"customer": customer.id, "address": address.id, "first": first, "second": second}


def username_of(database: Database, user_id: int) -> str:
    with database.read() as session:
        return session.get(User, user_id).username


def cookie_for(server: PortalServer, username: str, expires: dt.datetime | None = None) -> str:
    """Return a sign-in cookie as the portal writes it: an HS256 JWT with `username` and `exp_date`."""
    expires = expires or dt.datetime.now(dt.UTC) + COOKIE_LIFETIME
    return jwt.encode({"username": username, "exp_date": expires.timestamp()}, server.cookie_key, algorithm="HS256")
