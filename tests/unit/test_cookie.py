import base64
import datetime as dt
import json

import jwt
import pytest

from portal.ui.auth import COOKIE_EXPIRY_DAYS, decode_cookie

KEY = "k" * 64
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _part(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _valid_token(**overrides: object) -> str:
    payload = {"username": "anna", "exp_date": (NOW + dt.timedelta(days=COOKIE_EXPIRY_DAYS)).timestamp()}
    payload.update(overrides)
    return jwt.encode(payload, KEY, algorithm="HS256")


def test_valid_cookie_gives_username_and_issue_time():
    decoded = decode_cookie(_valid_token(), KEY, NOW)

    assert decoded == ("anna", NOW)


@pytest.mark.parametrize(
    "token",
    [
        f"{_part({'alg': 'none', 'typ': 'JWT'})}.{_part({'username': 'anna', 'exp_date': 9e9})}.",
        jwt.encode({"username": "anna"}, KEY, algorithm="HS256"),
        jwt.encode({"username": "anna", "exp_date": 9e9}, "another key that is long enough!", algorithm="HS256"),
        jwt.encode({"username": "anna", "exp_date": "tomorrow"}, KEY, algorithm="HS256"),
        jwt.encode({"username": ["anna"], "exp_date": 9e9}, KEY, algorithm="HS256"),
        jwt.encode({"username": "anna", "exp_date": True}, KEY, algorithm="HS256"),
        jwt.encode({"username": "anna", "exp_date": 9e9}, KEY, algorithm="HS512"),
        "not a token",
        "",
        "a.b.c",
    ],
    ids=[
        "alg-none",
        "no-expiry",
        "other-key",
        "text-expiry",
        "list-username",
        "bool-expiry",
        "hs512",
        "junk",
        "empty",
        "three-junk-parts",
    ],
)
def test_crafted_cookie_rejected(token):
    assert decode_cookie(token, KEY, NOW) is None


def test_expired_cookie_rejected():
    token = _valid_token(exp_date=(NOW - dt.timedelta(seconds=1)).timestamp())

    assert decode_cookie(token, KEY, NOW) is None
