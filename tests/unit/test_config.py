import pytest

from portal.config import ConfigError, load_config, validate_cookie_key


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    for name in ("PORTAL_DATABASE_URL", "PORTAL_COOKIE_KEY", "PORTAL_DEMO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite:///{tmp_path}/portal.db")
    return tmp_path


@pytest.mark.parametrize("key", ["some_key", "some_signature_key"])
def test_placeholder_cookie_key_rejected(key):
    with pytest.raises(ConfigError, match="PORTAL_COOKIE_KEY"):
        validate_cookie_key(key)


def test_short_cookie_key_rejected():
    with pytest.raises(ConfigError, match="at least 32"):
        validate_cookie_key("x" * 31)


def test_missing_key_generated_once_beside_database(clean_environment):
    first = load_config(secrets_path=clean_environment / "none.toml")
    second = load_config(secrets_path=clean_environment / "none.toml")

    assert first.cookie_key == second.cookie_key
    assert (clean_environment / "cookie.key").read_text() == first.cookie_key
    assert len(first.cookie_key) >= 32


def test_environment_placeholder_key_stops_start(clean_environment, monkeypatch):
    monkeypatch.setenv("PORTAL_COOKIE_KEY", "some_key")

    with pytest.raises(ConfigError, match="placeholder"):
        load_config(secrets_path=clean_environment / "none.toml")


def test_secrets_file_read_when_environment_unset(clean_environment):
    secrets = clean_environment / "secrets.toml"
    secrets.write_text('PORTAL_COOKIE_KEY = "' + "k" * 40 + '"\nPORTAL_DEMO = "1"\n')

    config = load_config(secrets_path=secrets)

    assert config.cookie_key == "k" * 40
    assert config.demo is True


def test_postgres_without_key_stops_start(clean_environment, monkeypatch):
    monkeypatch.setenv("PORTAL_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/test")

    with pytest.raises(ConfigError, match="share one key"):
        load_config(secrets_path=clean_environment / "none.toml")


def test_unsupported_database_rejected(clean_environment, monkeypatch):
    monkeypatch.setenv("PORTAL_DATABASE_URL", "mysql://root@127.0.0.1/test")

    with pytest.raises(ConfigError, match="sqlite and postgresql"):
        load_config(secrets_path=clean_environment / "none.toml")


def test_invalid_demo_flag_rejected(clean_environment, monkeypatch):
    monkeypatch.setenv("PORTAL_DEMO", "maybe")

    with pytest.raises(ConfigError, match="PORTAL_DEMO"):
        load_config(secrets_path=clean_environment / "none.toml")
