import datetime as dt

import pytest

from portal import accounts
from portal.errors import PortalError
from portal.models import Role, User
from tests.factories import make_customer, make_user

START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def user_id(database):
    with database.write() as session:
        return make_user(session, make_customer(session), username="anna", password="correct horse battery")


def _fail(database, username, times, now=START):
    locked = False
    for _ in range(times):
        with database.write() as session:
            locked = accounts.record_failed_sign_in(session, username, now)
    return locked


def test_five_failures_lock_the_account(database, user_id):
    assert _fail(database, "anna", 4) is False
    assert _fail(database, "anna", 1) is True

    with database.read() as session:
        assert accounts.account_for_sign_in(session, "anna", START + dt.timedelta(minutes=14)) is None


def test_lockout_ends_after_fifteen_minutes(database, user_id):
    _fail(database, "anna", 5)

    with database.read() as session:
        account = accounts.account_for_sign_in(session, "anna", START + dt.timedelta(minutes=15, seconds=1))

    assert account is not None


def test_unknown_username_locks_the_same_way(database):
    assert _fail(database, "nobody", 5) is True

    with database.read() as session:
        assert accounts.locked_until(session, "nobody", START) == START + accounts.LOCKOUT


def test_lockout_ignores_username_case(database, user_id):
    _fail(database, "ANNA ", 5)

    with database.read() as session:
        assert accounts.account_for_sign_in(session, "anna", START) is None


def test_success_clears_failed_attempts(database, user_id):
    _fail(database, "anna", 4)
    with database.write() as session:
        accounts.record_successful_sign_in(session, "anna")

    assert _fail(database, "anna", 4) is False


def test_admin_unlock_lifts_lockout(database, user_id):
    _fail(database, "anna", 5)
    with database.write() as session:
        accounts.unlock(session, "anna")

    with database.read() as session:
        assert accounts.account_for_sign_in(session, "anna", START) is not None


def test_inactive_user_cannot_sign_in(database, user_id):
    with database.write() as session:
        session.get(User, user_id).active = False

    with database.read() as session:
        assert accounts.account_for_sign_in(session, "anna") is None


def test_inactive_company_ends_sessions(database, user_id):
    with database.write() as session:
        session.get(User, user_id).customer.active = False

    with database.read() as session:
        assert accounts.account_for_sign_in(session, "anna") is None
        assert accounts.current_user(session, user_id, accounts.utc_now()) is None


def test_cookie_issued_before_sign_out_rejected(database, user_id):
    issued = accounts.utc_now()
    with database.write() as session:
        accounts.revoke_cookies(session, user_id, issued + dt.timedelta(seconds=1))

    with database.read() as session:
        assert accounts.user_for_cookie(session, "anna", issued) is None
        assert accounts.user_for_cookie(session, "anna", issued + dt.timedelta(seconds=2)) is not None


def test_session_ends_when_cookies_revoked(database, user_id):
    signed_in_at = accounts.utc_now()
    with database.write() as session:
        accounts.revoke_cookies(session, user_id, signed_in_at + dt.timedelta(seconds=1))

    with database.read() as session:
        assert accounts.current_user(session, user_id, signed_in_at) is None


def test_password_stored_as_bcrypt_hash(database, user_id):
    with database.read() as session:
        stored = session.get(User, user_id).password_hash

    assert stored.startswith("$2")
    assert "correct horse" not in stored
    assert accounts.check_password("correct horse battery", stored)


def test_change_password_revokes_cookies(database, user_id):
    before = accounts.utc_now()
    with database.write() as session:
        accounts.change_password(session, user_id, "correct horse battery", "a much better password")

    with database.read() as session:
        assert accounts.user_for_cookie(session, "anna", before) is None


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "password.too_short"),
        ("anna", "password.too_short"),
        ("ANNA", "password.too_short"),
        ("x" * 73, "password.too_long"),
    ],
)
def test_weak_new_password_rejected(database, user_id, password, code):
    with database.write() as session, pytest.raises(PortalError) as raised:
        accounts.change_password(session, user_id, "correct horse battery", password)

    assert raised.value.code == code


def test_password_equal_to_username_rejected():
    with pytest.raises(PortalError) as raised:
        accounts.validate_new_password("longusername1", "LongUsername1")

    assert raised.value.code == "password.equals_username"


def test_duplicate_username_rejected(database, user_id):
    with database.write() as session, pytest.raises(PortalError) as raised:
        accounts.create_user(session, username="Anna", name="Other", password="another password", role=Role.ADMIN)

    assert raised.value.code == "user.username_taken"


def test_cookie_of_inactive_company_rejected(database, user_id):
    issued = accounts.utc_now()
    with database.write() as session:
        session.get(User, user_id).customer.active = False

    with database.read() as session:
        assert accounts.user_for_cookie(session, "anna", issued) is None
