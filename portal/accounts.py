"""Users, password hashes, sign-in lockout and revocation of re-authentication cookies."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import bcrypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.errors import NotFound, PortalError
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


def account_for_sign_in(session: Session, username: str, now: dt.datetime | None = None) -> SignInAccount | None:
    """Return the account a password may sign in to: existing, active and not locked."""
    username = normalize_username(username)
    if locked_until(session, username, now) is not None:
        return None
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        return None
    if user.customer_id is not None:
        customer_active = session.scalar(select(Customer.active).where(Customer.id == user.customer_id))
        if not customer_active:
            return None
    return SignInAccount(user.username, user.name, user.email, user.password_hash, user.role)


def record_failed_sign_in(session: Session, username: str, now: dt.datetime | None = None) -> bool:
    """Count a failed attempt for the username, existing or not; return whether it is now locked.

    The fifth failure within one lockout window locks the username for LOCKOUT. A lockout
    that has ended starts the count again.
    """
    now = now or utc_now()
    username = normalize_username(username)[:100]
    throttle = session.get(SignInThrottle, username, with_for_update=True)
    if throttle is None:
        throttle = SignInThrottle(username=username, failed_attempts=0)
        session.add(throttle)
    if throttle.locked_until is not None and throttle.locked_until <= now:
        throttle.failed_attempts = 0
        throttle.locked_until = None

    throttle.failed_attempts += 1
    throttle.last_failed_at = now
    user = session.scalar(select(User).where(User.username == username))
    audit.record(
        session,
        "sign_in_failed",
        actor_id=user.id if user else None,
        actor_username=username,
        customer_id=user.customer_id if user else None,
        detail=f"attempt {throttle.failed_attempts} of {MAX_FAILED_ATTEMPTS}",
    )
    if throttle.failed_attempts >= MAX_FAILED_ATTEMPTS and throttle.locked_until is None:
        throttle.locked_until = now + LOCKOUT
        audit.record(
            session,
            "account_locked",
            actor_id=user.id if user else None,
            actor_username=username,
            customer_id=user.customer_id if user else None,
            detail=f"locked until {throttle.locked_until.isoformat()}",
        )
        log.warning(
            "Sign-in for %r locked until %s after %s failed attempts",
            username,
            throttle.locked_until,
            throttle.failed_attempts,
        )
    else:
        log.warning("Failed sign-in for %r (%s of %s)", username, throttle.failed_attempts, MAX_FAILED_ATTEMPTS)
    session.flush()
    return throttle.locked_until is not None and throttle.locked_until > now


def record_successful_sign_in(session: Session, username: str) -> User:
    """Clear the username's failed attempts and return its user."""
    username = normalize_username(username)
    throttle = session.get(SignInThrottle, username)
    if throttle is not None:
        session.delete(throttle)
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
    user = session.get(User, user_id)
    if user is not None:
        user.language = language
