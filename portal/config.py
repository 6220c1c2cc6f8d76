"""Settings read once from the environment and .streamlit/secrets.toml."""

from __future__ import annotations

import logging
import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "sqlite:///data/portal.db"
MIN_COOKIE_KEY_BYTES = 32
# Keys that appear in streamlit-authenticator's examples and defaults; a key anyone
# can read in public documentation signs cookies anyone can forge.
PLACEHOLDER_COOKIE_KEYS = frozenset({"some_key", "some_signature_key", "random_signature_key", "abcdef"})
COOKIE_KEY_FILE_NAME = "cookie.key"


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the setting and the fix."""


@dataclass(frozen=True)
class Config:
    database_url: str
    cookie_key: str
    demo: bool

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _read_secrets_file(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}. Fix or remove the file.") from error


def _setting(name: str, secrets_values: dict[str, object]) -> str | None:
    value = os.environ.get(name)
    if value is None and name in secrets_values:
        value = str(secrets_values[name])
    return value if value not in (None, "") else None


def _parse_flag(name: str, value: str | None) -> bool:
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r} is not a flag. Set it to 1 or 0.")


def resolve_database_url(url: str) -> str:
    """Make a relative SQLite path absolute against the project root, so the app finds
    the same database whatever the working directory."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigError(
            f"PORTAL_DATABASE_URL={url!r} is not a database URL. "
            "Use sqlite:///path/to/portal.db or postgresql+psycopg://user@host/db."
        ) from error
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not Path(database).is_absolute():
            return parsed.set(database=str(PROJECT_ROOT / database)).render_as_string(hide_password=False)
    elif parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"PORTAL_DATABASE_URL uses {parsed.get_backend_name()!r}; "
            "the portal supports sqlite and postgresql+psycopg."
        )
    return url


def validate_cookie_key(key: str) -> None:
    """Raise ConfigError unless the key is long enough and not a published placeholder."""
    if key in PLACEHOLDER_COOKIE_KEYS:
        raise ConfigError(
            "PORTAL_COOKIE_KEY is a published placeholder value. Set it to at least "
            f"{MIN_COOKIE_KEY_BYTES} bytes of random text, or unset it to have one generated."
        )
    if len(key.encode()) < MIN_COOKIE_KEY_BYTES:
        raise ConfigError(
            f"PORTAL_COOKIE_KEY is {len(key.encode())} bytes long; it must be at least "
            f'{MIN_COOKIE_KEY_BYTES}. Generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
        )


def _generated_cookie_key(database_url: str) -> str:
    """Return the key stored beside the SQLite database, creating it on first use."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        raise ConfigError(
            "PORTAL_COOKIE_KEY is not set. With PostgreSQL every app process must share one key: "
            "set PORTAL_COOKIE_KEY (at least 32 bytes) in the environment or .streamlit/secrets.toml."
        )
    key_path = Path(parsed.database).parent / COOKIE_KEY_FILE_NAME
    if key_path.exists():
        return key_path.read_text().strip()

    key_path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: when two processes start at once, the second reads the first one's key.
    try:
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_path.read_text().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
    log.info("Generated a cookie key in %s", key_path)
    return key


def load_config(secrets_path: Path | None = None) -> Config:
    """Read the settings, failing fast with a message that names the setting to fix."""
    secrets_values = _read_secrets_file(secrets_path or PROJECT_ROOT / ".streamlit" / "secrets.toml")

    database_url = resolve_database_url(_setting("PORTAL_DATABASE_URL", secrets_values) or DEFAULT_DATABASE_URL)
    demo = _parse_flag("PORTAL_DEMO", _setting("PORTAL_DEMO", secrets_values))

    cookie_key = _setting("PORTAL_COOKIE_KEY", secrets_values)
    if cookie_key is None:
        cookie_key = _generated_cookie_key(database_url)
    validate_cookie_key(cookie_key)

    return Config(database_url=database_url, cookie_key=cookie_key, demo=demo)
