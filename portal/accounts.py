"""Users, password hashes, sign-in lockout and revocation of re-authentication cookies."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import bcrypt
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from portal import audit
from portal.errors import NotFound, PortalError
from portal.i18n import LANGUAGES
from portal.models import Customer, Role, SignInThrottle, User, utc_now

log = logging.getLogger(__name__)

MAX_FAILED_ATTEMPTS = 5
LOCKOUT = dt.timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
BCRYPT_ROUNDS = 12
# bcrypt looks at the first 72 bytes only; longer passwords are rejected rather than
# silently cut, so two passwords that differ after byte 72 never match each other.
MAX_PASSWORD_BYTES = 72


def normalize_username(username: str) -> str:
    return username.strip().lower()


def hash_password(password: str) -> str:
    """Hash a password with bcrypt.

    Surrounding white space is stripped first, as streamlit-authenticator strips the
    password typed into its form before checking it.
    """
    return bcrypt.hashpw(password.strip().encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def check_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.strip().encode(), password_hash.encode())
    except ValueError:
        return False


def validate_new_password(username: str, password: str) -> None:
    """Raise PortalError unless the password is long enough and not the username."""
    password = password.strip()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PortalError("password.too_short", minimum=MIN_PASSWORD_LENGTH)
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise PortalError("password.too_long", maximum=MAX_PASSWORD_BYTES)
    if password.strip().lower() == normalize_username(username):
        raise PortalError("password.equals_username")


def create_user(
    session: Session,
    *,
    username: str,
    name: str,
    password: str,
    role: Role,
    customer_id: int | None = None,
    email: str = "",
    language: str | None = None,
) -> User:
    """Add a user with a hashed password; customer users must belong to a customer."""
    username = normalize_username(username)
    if not username:
        raise PortalError("user.username_missing")
    validate_new_password(username, password)
    if role is Role.CUSTOMER and customer_id is None:
        raise PortalError("user.customer_missing")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise PortalError("user.username_taken", username=username)

    user = User(
        username=username,
        name=name.strip() or username,
        email=email.strip(),
        password_hash=hash_password(password),
        role=role,
        customer_id=customer_id,
        language=language,
    )
    session.add(user)
    session.flush()
    log.info("User %s created with role %s", username, role.value)
    return user


@dataclass(frozen=True)
class SignInAccount:
    """What the sign-in form needs of an account: a hash to check and the display name."""

    username: str
    name: str
    email: str
    password_hash: str
    role: Role


def locked_until(session: Session, username: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """Return when the username's lockout ends, or None when it is not locked."""
    now = now or utc_now()
    throttle = session.get(SignInThrottle, normalize_username(username))
    if throttle is None or throttle.locked_until is None or throttle.locked_until <= now:
        return None
    return throttle.locked_until


def _active_account(session: Session, username: str) -> SignInAccount | None:
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        return None
    if user.customer_id is not None:
        customer_active = session.scalar(select(Customer.active).where(Customer.id == user.customer_id))
        if not customer_active:
            return None
    return SignInAccount(user.username, user.name, user.email, user.password_hash, user.role)


def account_for_sign_in(session: Session, username: str, now: dt.datetime | None = None) -> SignInAccount | None:
    """Return the account a password may sign in to: existing, active and not locked."""
    username = normalize_username(username)
    if locked_until(session, username, now) is not None:
        return None
    return _active_account(session, username)


@dataclass(frozen=True)
class SignInAttempt:
    """A sign-in attempt counted before its password is checked."""

    username: str
    # Failed attempts counted for the username, this one included.
    number: int
    # The account the password may sign in to, or None when the username is unknown,
    # inactive or was already locked; a password then never matches.
    account: SignInAccount | None
    # Set when this attempt reached MAX_FAILED_ATTEMPTS and locked the username.
    locks_until: dt.datetime | None


def _throttle_for_update(session: Session, username: str) -> SignInThrottle:
    """Return the username's throttle row, created if missing and locked until the transaction ends.

    INSERT ... ON CONFLICT DO NOTHING lets attempts that arrive at once for a new
    username all find the same row, where a plain insert would fail all but one.
    """
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(SignInThrottle)
        .values(username=username, failed_attempts=0)
        .on_conflict_do_nothing(index_elements=[SignInThrottle.username])
    )
    return session.get(SignInThrottle, username, with_for_update=True, populate_existing=True)


def _count_failed_attempt(session: Session, username: str, now: dt.datetime) -> tuple[SignInThrottle, bool, bool]:
    """Count one failed attempt under the throttle row's lock.

    Return the row, whether the username was locked before this attempt, and whether
    this attempt locked it. A lockout that has ended starts the count again.
    """
    throttle = _throttle_for_update(session, username)
    if throttle.locked_until is not None and throttle.locked_until <= now:
        throttle.failed_attempts = 0
        throttle.locked_until = None
    was_locked = throttle.locked_until is not None

    throttle.failed_attempts += 1
    throttle.last_failed_at = now
    locks = not was_locked and throttle.failed_attempts >= MAX_FAILED_ATTEMPTS
    if locks:
        throttle.locked_until = now + LOCKOUT
    session.flush()
    return throttle, was_locked, locks


def _audit_failed_attempt(session: Session, username: str, number: int, locks_until: dt.datetime | None) -> None:
    user = session.scalar(select(User).where(User.username == username))
    audit.record(
        session,
        "sign_in_failed",
        actor_id=user.id if user else None,
        actor_username=username,
        customer_id=user.customer_id if user else None,
        detail=f"attempt {number} of {MAX_FAILED_ATTEMPTS}",
    )
    if locks_until is None:
        log.warning("Failed sign-in for %r (%s of %s)", username, number, MAX_FAILED_ATTEMPTS)
        return
    audit.record(
        session,
        "account_locked",
        actor_id=user.id if user else None,
        actor_username=username,
        customer_id=user.customer_id if user else None,
        detail=f"locked until {locks_until.isoformat()}",
    )
    log.warning("Sign-in for %r locked until %s after %s failed attempts", username, locks_until, number)


def begin_sign_in(session: Session, username: str, now: dt.datetime | None = None) -> SignInAttempt:
    """Count a sign-in attempt as failed before its password is checked.

    Counting first, under the throttle row's lock, keeps attempts sent at once from
    testing more than MAX_FAILED_ATTEMPTS passwords: each one that would go past the limit
    finds the username locked. A correct password then clears the count through
    record_successful_sign_in, and a wrong one is recorded by finish_failed_sign_in.
    """
    now = now or utc_now()
    username = normalize_username(username)[:100]
    throttle, was_locked, locks = _count_failed_attempt(session, username, now)
    account = None if was_locked else _active_account(session, username)
    return SignInAttempt(username, throttle.failed_attempts, account, throttle.locked_until if locks else None)


def finish_failed_sign_in(session: Session, attempt: SignInAttempt) -> None:
    """Write the audit event and log line of an attempt begun by begin_sign_in whose password was wrong."""
    _audit_failed_attempt(session, attempt.username, attempt.number, attempt.locks_until)


def record_failed_sign_in(session: Session, username: str, now: dt.datetime | None = None) -> bool:
    """Count a failed attempt for the username, existing or not; return whether it is now locked.

    The fifth failure within one lockout window locks the username for LOCKOUT. A lockout
    that has ended starts the count again.
    """
    now = now or utc_now()
    username = normalize_username(username)[:100]
    throttle, _, locks = _count_failed_attempt(session, username, now)
    _audit_failed_attempt(session, username, throttle.failed_attempts, throttle.locked_until if locks else None)
    return throttle.locked_until is not None and throttle.locked_until > now


def clear_failed_attempts(session: Session, username: str) -> None:
    """Forget the username's failed attempts, after its password was proven right."""
    throttle = session.get(SignInThrottle, normalize_username(username))
    if throttle is not None:
        session.delete(throttle)


def record_successful_sign_in(session: Session, username: str) -> User:
    """Clear the username's failed attempts and return its user."""
    username = normalize_username(username)
    clear_failed_attempts(session, username)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("user")
    audit.record(session, "sign_in", actor_id=user.id, actor_username=username, customer_id=user.customer_id)
    log.info("User %r signed in", username)
    return user


def unlock(session: Session, username: str, admin_id: int | None = None) -> None:
    """Remove a username's lockout and failed attempts."""
    throttle = session.get(SignInThrottle, normalize_username(username))
    if throttle is not None:
        session.delete(throttle)
        audit.record(session, "account_unlocked", actor_id=admin_id, object_type="username", object_id=username)
        log.info("Sign-in for %r unlocked", username)


def revoke_cookies(session: Session, user_id: int, now: dt.datetime | None = None) -> None:
    """Make every re-authentication cookie issued to the user so far invalid."""
    user = session.get(User, user_id)
    if user is not None:
        user.tokens_valid_after = now or utc_now()


def user_for_cookie(session: Session, username: str, issued_at: dt.datetime) -> User | None:
    """Return the active user a cookie issued at `issued_at` still signs in, or None."""
    user = session.scalar(select(User).where(User.username == normalize_username(username), User.active.is_(True)))
    if user is None or issued_at <= user.tokens_valid_after:
        return None
    # Deactivating a company revokes its users' cookies too; this check holds even if not.
    if user.customer is not None and not user.customer.active:
        return None
    return user


def current_user(session: Session, user_id: int, signed_in_at: dt.datetime) -> User | None:
    """Return the signed-in user if their sign-in is still valid, or None.

    A sign-in ends when the user is deactivated, their company is deactivated, or their
    cookies were revoked after they signed in (sign-out elsewhere, password change).
    """
    user = session.get(User, user_id)
    if user is None or not user.active or signed_in_at <= user.tokens_valid_after:
        return None
    if user.customer is not None and not user.customer.active:
        return None
    return user


def change_password(session: Session, user_id: int, current_password: str, new_password: str) -> dt.datetime:
    """Change a user's own password, which signs out their other browsers.

    Returns the moment cookies were revoked; the browser that made the change signs in
    again from just after it.
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user")
    if not check_password(current_password, user.password_hash):
        raise PortalError("password.current_wrong")
    validate_new_password(user.username, new_password)

    clear_failed_attempts(session, user.username)
    user.password_hash = hash_password(new_password)
    revoke_cookies(session, user.id)
    audit.record(
        session,
        "password_changed",
        actor_id=user.id,
        customer_id=user.customer_id,
        object_type="user",
        object_id=user.id,
    )
    log.info("User %s changed their password", user.username)
    return user.tokens_valid_after


def sign_out(session: Session, user_id: int) -> None:
    """End the user's sign-in everywhere: every cookie issued so far stops working."""
    revoke_cookies(session, user_id)
    user = session.get(User, user_id)
    if user is not None:
        audit.record(session, "sign_out", actor_id=user.id, customer_id=user.customer_id)


def set_language(session: Session, user_id: int, language: str) -> None:
    """Store the user's interface language; raise ValueError for a language the portal lacks."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {', '.join(LANGUAGES)}")
    user = session.get(User, user_id)
    if user is not None:
        user.language = language
