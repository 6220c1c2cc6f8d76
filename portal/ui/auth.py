"""Sign-in on top of streamlit-authenticator 0.4.2, with the safeguards it lacks.

The library draws the login form, checks the password against the hash it is given, and
sets and deletes the re-authentication cookie (an HS256 JWT with `username` and
`exp_date`). Measured as it is, it keeps failed attempts only in memory, decodes any
cookie it finds (crashing on `alg=none` or a missing field) and never revokes one. So:

- credentials come from the users table one username at a time, through a mapping the
  library reads from; locked, unknown and inactive usernames get a hash no password
  matches, so every attempt costs one bcrypt check and looks the same;
- failed attempts and lockouts live in the database (portal.accounts);
- the library's own cookie reading is switched off, and this module validates the
  cookie itself, ignoring any issued before the user's `tokens_valid_after`;
- the cookie is set again until the browser reports it, and deleted again on every run
  while signed out, because the component that writes it does not always get to run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import jwt
import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.controllers import AuthenticationController

from portal import accounts
from portal.accounts import SignInAccount, SignInAttempt
from portal.db import Database
from portal.errors import PortalError
from portal.models import Role, utc_now
from portal.ui.asgi import ADMIN_SESSION_KEY

log = logging.getLogger(__name__)

COOKIE_NAME = "portal_auth"
LOGIN_FORM_KEY = "login_form"
USERNAME_KEY = "login_username"
PASSWORD_KEY = "login_password"
# The outcome, "failed" or "missing", that the submit callback leaves for the run after it.
LOGIN_OUTCOME_KEY = "login_outcome"
# The user the submit callback signed in, until login_form starts their session.
SIGNED_IN_USER_KEY = "signed_in_user_id"
COOKIE_EXPIRY_DAYS = 7.0
# The cookie's issue time is derived from its float expiry; allow for rounding only.
COOKIE_CLOCK_MARGIN = dt.timedelta(milliseconds=500)
# A password nobody knows, hashed once per process: checking a password against it
# costs what a real check costs.
_UNMATCHABLE_HASH = accounts.hash_password(secrets.token_urlsafe(32))

SESSION_KEYS = ("user_id", "signed_in_at", "cookie_confirmed")


@dataclass(frozen=True)
class CurrentUser:
    id: int
    username: str
    name: str
    role: Role
    customer_id: int | None
    language: str | None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


class _AccountDirectory(dict):
    """The `usernames` mapping the library reads, filled from the database on demand."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self._database = database
        self.attempt: SignInAttempt | None = None

    def _entry(self, username: object) -> dict[str, object]:
        key = str(username)
        if not dict.__contains__(self, key):
            # Only the submit callback's credential check looks accounts up, so this counts
            # the attempt before the library checks the password.
            with self._database.write() as session:
                self.attempt = accounts.begin_sign_in(session, key)
            dict.__setitem__(self, key, _credentials_entry(self.attempt.account))
        return dict.__getitem__(self, key)

    def __contains__(self, username: object) -> bool:
        self._entry(username)
        return True

    def __getitem__(self, username: object) -> dict[str, object]:
        return self._entry(username)

    def get(self, username: object, default: object = None) -> dict[str, object]:  # noqa: ARG002
        return self._entry(username)


def _credentials_entry(account: SignInAccount | None) -> dict[str, object]:
    if account is None:
        return {"password": _UNMATCHABLE_HASH, "name": "", "email": "", "roles": []}
    return {
        "password": account.password_hash,
        "name": account.name,
        "email": account.email,
        "roles": [account.role.value],
    }


def _authenticator(cookie_key: str) -> stauth.Authenticate:
    """Create the library's authenticator, used for its cookie manager and cookie writing.

    Constructing it draws the cookie manager's component, so it is created in the script
    body only, never in a callback.
    """
    return stauth.Authenticate(
        {"usernames": {}},
        cookie_name=COOKIE_NAME,
        cookie_key=cookie_key,
        cookie_expiry_days=COOKIE_EXPIRY_DAYS,
        auto_hash=False,
    )


def _credential_checker(database: Database, cookie_key: str) -> tuple[AuthenticationController, _AccountDirectory]:
    """Create the library's credential check on accounts looked up in the database."""
    credentials: dict[str, object] = {"usernames": {}}
    checker = AuthenticationController(credentials, auto_hash=False, secret_key=cookie_key)
    # The library keeps a reference to this dict, so the directory replaces the empty
    # mapping it copied at construction.
    directory = _AccountDirectory(database)
    credentials["usernames"] = directory
    return checker, directory


def _cookie_manager(authenticator: stauth.Authenticate):
    return authenticator.cookie_controller.cookie_model.cookie_manager


def decode_cookie(token: str, cookie_key: str, now: dt.datetime | None = None) -> tuple[str, dt.datetime] | None:
    """Return (username, issued at) of a valid cookie, or None for anything else.

    Valid means signed with our key by HS256, a string username and a numeric
    `exp_date` in the future. The issue time is `exp_date` less the cookie lifetime,
    which is how the library computes `exp_date`.
    """
    now = now or utc_now()
    try:
        payload = jwt.decode(token, cookie_key, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    if not isinstance(payload, dict):
        return None
    username = payload.get("username")
    expires = payload.get("exp_date")
    if (
        not isinstance(username, str)
        or not username
        or isinstance(expires, bool)
        or not isinstance(expires, (int, float))
    ):
        return None
    if expires <= now.timestamp():
        return None
    issued_at = dt.datetime.fromtimestamp(expires, dt.UTC) - dt.timedelta(days=COOKIE_EXPIRY_DAYS)
    return username, issued_at


def _start_session(user_id: int, now: dt.datetime) -> None:
    st.session_state["user_id"] = user_id
    st.session_state["signed_in_at"] = now.timestamp()


def _clear_session() -> None:
    """Forget everything of the signed-in user, widget state included."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def _to_current(user) -> CurrentUser:
    return CurrentUser(user.id, user.username, user.name, user.role, user.customer_id, user.language)


def resolve_user(database: Database, cookie_key: str) -> CurrentUser | None:
    """Return the signed-in user from this session or a valid cookie, or None."""
    now = utc_now()
    user_id = st.session_state.get("user_id")
    if user_id is not None:
        signed_in_at = dt.datetime.fromtimestamp(st.session_state.get("signed_in_at", 0), dt.UTC)
        with database.read() as session:
            user = accounts.current_user(session, user_id, signed_in_at)
            current = _to_current(user) if user is not None else None
        if current is None:
            log.info("Session of user %s ended: account deactivated or signed out elsewhere", user_id)
            _clear_session()
            return None
        st.session_state[ADMIN_SESSION_KEY] = current.is_admin
        return current

    token = st.context.cookies.get(COOKIE_NAME)
    if not token:
        return None
    decoded = decode_cookie(token, cookie_key, now)
    if decoded is None:
        return None
    username, issued_at = decoded
    with database.read() as session:
        user = accounts.user_for_cookie(session, username, issued_at)
        current = _to_current(user) if user is not None else None
    if current is None:
        return None
    _start_session(current.id, now)
    st.session_state[ADMIN_SESSION_KEY] = current.is_admin
    # The cookie is in the browser already: no need to set it again.
    st.session_state["cookie_confirmed"] = True
    return current


def _submit_login(database: Database, cookie_key: str) -> None:
    """Check the submitted password with streamlit-authenticator and record the outcome.

    Runs as the submit button's callback. Streamlit runs callbacks before the script, so
    a rerun that the cookie component starts at the same moment cannot swallow the
    submission, as it could a submit button read in the script body.
    """
    username = st.session_state.get(USERNAME_KEY, "")
    password = st.session_state.get(PASSWORD_KEY, "")
    # The password stays in session state no longer than this callback.
    st.session_state[PASSWORD_KEY] = ""
    if not username.strip() or not password.strip():
        st.session_state[LOGIN_OUTCOME_KEY] = "missing"
        return

    checker, directory = _credential_checker(database, cookie_key)
    signed_in = checker.login(username, password)
    attempt = directory.attempt
    if attempt is None:
        # The library did not look the account up, so nothing was checked or counted.
        st.session_state[LOGIN_OUTCOME_KEY] = "failed"
        return
    if signed_in:
        with database.write() as session:
            user = accounts.record_successful_sign_in(session, attempt.username)
            # login_form starts the session, so that Home.py finishes the sign-in as one step.
            st.session_state[SIGNED_IN_USER_KEY] = user.id
        st.session_state["logout"] = None
        return

    with database.write() as session:
        accounts.finish_failed_sign_in(session, attempt)
    st.session_state["authentication_status"] = None
    st.session_state[LOGIN_OUTCOME_KEY] = "failed"


def login_form(database: Database, cookie_key: str, translate: Callable[[str], str]) -> CurrentUser | None:
    """Draw the login form; return the user once a password signs them in.

    Also deletes a stale cookie left in the browser.
    """
    user_id = st.session_state.pop(SIGNED_IN_USER_KEY, None)
    if user_id is not None:
        now = utc_now()
        with database.read() as session:
            user = accounts.current_user(session, user_id, now)
            current = _to_current(user) if user is not None else None
        if current is not None:
            _start_session(current.id, now)
            st.session_state[ADMIN_SESSION_KEY] = current.is_admin
            return current

    with st.form(LOGIN_FORM_KEY):
        st.subheader(translate("login.title"))
        st.text_input(translate("login.username"), key=USERNAME_KEY, autocomplete="off")
        st.text_input(translate("login.password"), key=PASSWORD_KEY, type="password", autocomplete="off")
        st.form_submit_button(translate("login.submit"), on_click=_submit_login, args=(database, cookie_key))

    # The cookie components come after the form, so one that appears in a later run does
    # not move the form while the user fills it in.
    authenticator = _authenticator(cookie_key)
    cookie_manager = _cookie_manager(authenticator)
    if COOKIE_NAME in st.context.cookies or COOKIE_NAME in (cookie_manager.cookies or {}):
        # KeyError: the component had not reported the cookie yet; the deletion is sent anyway.
        with contextlib.suppress(KeyError):
            cookie_manager.delete(COOKIE_NAME, key="delete_stale_cookie")
    # Keep the library from decoding the cookie itself: resolve_user has done that safely.
    st.session_state["logout"] = True

    outcome = st.session_state.pop(LOGIN_OUTCOME_KEY, None)
    if outcome is not None:
        st.error(translate(f"login.{outcome}"))
    return None


def cookie_write_pending() -> bool:
    """Tell whether this run writes the sign-in cookie, so the browser's report of it reruns the page."""
    return st.session_state.get("cookie_confirmed") is False


def confirm_cookie(cookie_key: str, user: CurrentUser) -> None:
    """Set the re-authentication cookie until the browser reports it back."""
    if st.session_state.get("cookie_confirmed"):
        return
    authenticator = _authenticator(cookie_key)
    cookie_manager = _cookie_manager(authenticator)
    reported = (cookie_manager.cookies or {}).get(COOKIE_NAME)
    if reported:
        decoded = decode_cookie(reported, cookie_key)
        signed_in_at = dt.datetime.fromtimestamp(st.session_state.get("signed_in_at", 0), dt.UTC)
        # Our cookie is written after this session started. An older one is the cookie of an
        # earlier sign-in, revoked at sign-out, that the browser still reports.
        fresh = decoded is not None and decoded[1] >= signed_in_at - COOKIE_CLOCK_MARGIN
        if fresh and decoded[0] == user.username:
            st.session_state["cookie_confirmed"] = True
            return
    st.session_state["username"] = user.username
    authenticator.cookie_controller.set_cookie()


def sign_out(database: Database, user: CurrentUser) -> None:
    """Sign the user out here and everywhere: their cookies stop working at once.

    The cookie itself is deleted by the next signed-out run (see login_form), which
    keeps sending the deletion while the browser still has it.
    """
    with database.write() as session:
        accounts.sign_out(session, user.id)
    log.info("User %s signed out", user.username)
    _clear_session()
    st.session_state["logout"] = True


def store_language(database: Database, user: CurrentUser, language: str) -> None:
    """Keep a language picked before sign-in as the user's language."""
    with database.write() as session:
        accounts.set_language(session, user.id, language)


def change_password(database: Database, user: CurrentUser, current_password: str, new_password: str) -> None:
    """Change the user's password and keep this browser signed in with a fresh cookie.

    Every other browser of the user is signed out, because the change revokes all
    cookies and sessions issued before it. Raises PortalError when the change is refused.

    A wrong current password counts as a failed sign-in, counted before the check as on
    the login form, so a browser left signed in cannot be used to guess the password.
    """
    with database.write() as session:
        attempt = accounts.begin_sign_in(session, user.username)
    if attempt.account is None:
        raise PortalError("password.locked")
    try:
        with database.write() as session:
            revoked_at = accounts.change_password(session, user.id, current_password, new_password)
    except PortalError as error:
        with database.write() as session:
            if error.code == "password.current_wrong":
                accounts.finish_failed_sign_in(session, attempt)
            else:
                # The current password was right; only the new one was rejected.
                accounts.clear_failed_attempts(session, attempt.username)
        raise
    _start_session(user.id, revoked_at + dt.timedelta(milliseconds=1))
    st.session_state["cookie_confirmed"] = False
