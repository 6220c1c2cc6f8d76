"""The sign-in gate in a real browser: deep links, failed attempts, revoked and forged cookies, roles."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Callable

import jwt
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from portal.i18n import translate
from tests.browser.conftest import PortalServer
from tests.browser.portal_ui import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    COOKIE_NAME,
    CUSTOMER_PASSWORD,
    CUSTOMER_USERNAME,
    FIRST_LOAD_TIMEOUT_MS,
    add_cookie,
    expect_signed_out,
    main_area,
    sign_in,
    sign_out,
    sign_out_link,
    submit_login_form,
    wait_until_settled,
)

pytestmark = pytest.mark.browser

COOKIE_COMPONENT_URL = "**/component/extra_streamlit_components.CookieManager.cookie_manager/**"
# The portal's cookie lifetime (COOKIE_EXPIRY_DAYS in portal/ui/auth.py), so `exp_date` is this far ahead.
COOKIE_LIFETIME = dt.timedelta(days=7)
# For checks made after wait_until_settled, when no rerun can still change the page.
SETTLED_TIMEOUT_MS = 2_000
SIGN_IN_AGAIN_ROUNDS = 3


def english(key: str) -> str:
    """Return the portal's English text for a catalog key, for prose that is long and still changing."""
    return translate("en", key)


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _valid_claims() -> dict[str, object]:
    expires = dt.datetime.now(dt.UTC) + COOKIE_LIFETIME
    return {"username": CUSTOMER_USERNAME, "exp_date": expires.timestamp()}


def unsigned_token(cookie_key: str) -> str:
    """Return a JWT with alg "none" and an empty signature, built by hand so no library rejects it first."""
    header = _base64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _base64url(json.dumps(_valid_claims()).encode())
    return f"{header}.{payload}."


def token_without_expiry(cookie_key: str) -> str:
    return jwt.encode({"username": CUSTOMER_USERNAME}, cookie_key, algorithm="HS256")


def token_signed_with_other_key(cookie_key: str) -> str:
    return jwt.encode(_valid_claims(), secrets.token_urlsafe(48), algorithm="HS256")


def token_signed_with_server_key(cookie_key: str) -> str:
    return jwt.encode(_valid_claims(), cookie_key, algorithm="HS256")


def failed_sign_in_message(page: Page, url: str, username: str, password: str) -> str:
    page.goto(url)
    submit_login_form(page, username, password)

    error = main_area(page).get_by_test_id("stAlertContentError")
    expect(error).to_be_visible()
    return error.inner_text().strip()


@pytest.mark.parametrize(
    ("path", "page_heading", "page_text_key"),
    [
        ("/admin", "Admin", "admin.intro"),
        ("/products", "Products", "products.column_price"),
    ],
)
def test_first_request_deep_link_shows_only_login(
    page: Page, fresh_portal_server: PortalServer, path: str, page_heading: str, page_text_key: str
) -> None:
    page.goto(fresh_portal_server.url(path), timeout=FIRST_LOAD_TIMEOUT_MS)

    expect_signed_out(page, timeout=FIRST_LOAD_TIMEOUT_MS)
    expect(main_area(page).get_by_role("heading", name=page_heading, exact=True)).to_have_count(0)
    expect(page.get_by_text(english(page_text_key))).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_wrong_password_and_unknown_user_same_message(
    page: Page, portal_server: PortalServer, new_context: Callable[[], BrowserContext]
) -> None:
    unknown_user_page = new_context().new_page()

    wrong_password_message = failed_sign_in_message(page, portal_server.url("/"), CUSTOMER_USERNAME, "not-the-password")
    unknown_user_message = failed_sign_in_message(
        unknown_user_page, portal_server.url("/"), "no-such-user", CUSTOMER_PASSWORD
    )

    assert wrong_password_message == english("login.failed")
    assert unknown_user_message == wrong_password_message


def test_replayed_cookie_after_sign_out_shows_login(
    page: Page, portal_server: PortalServer, new_context: Callable[[], BrowserContext]
) -> None:
    page.goto(portal_server.url("/"))
    old_cookie = sign_in(page, CUSTOMER_USERNAME, CUSTOMER_PASSWORD)
    # The same cookie signs a fresh context in before the sign-out, so the check after it can fail.
    before_sign_out = new_context()
    add_cookie(before_sign_out, portal_server.base_url, COOKIE_NAME, old_cookie)
    replay_before_page = before_sign_out.new_page()
    replay_before_page.goto(portal_server.url("/"))
    expect(sign_out_link(replay_before_page)).to_be_visible()

    sign_out(page)
    after_sign_out = new_context()
    add_cookie(after_sign_out, portal_server.base_url, COOKIE_NAME, old_cookie)
    replay_after_page = after_sign_out.new_page()
    replay_after_page.goto(portal_server.url("/"))

    expect_signed_out(replay_after_page)


@pytest.mark.parametrize(
    "make_token",
    [unsigned_token, token_without_expiry, token_signed_with_other_key],
    ids=["alg-none", "no-exp-date", "other-key"],
)
def test_crafted_cookie_shows_login_without_error(
    page: Page, portal_server: PortalServer, make_token: Callable[[str], str]
) -> None:
    log_start = portal_server.log_size()
    add_cookie(page.context, portal_server.base_url, COOKIE_NAME, make_token(portal_server.cookie_key))

    page.goto(portal_server.url("/products"))

    expect_signed_out(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    new_log = portal_server.log_text(log_start)
    assert "Traceback" not in new_log, new_log


def test_cookie_signed_with_server_key_signs_in(page: Page, portal_server: PortalServer) -> None:
    # The control for the crafted cookies: the same claims signed with the server's key are accepted.
    add_cookie(
        page.context, portal_server.base_url, COOKIE_NAME, token_signed_with_server_key(portal_server.cookie_key)
    )

    page.goto(portal_server.url("/"))

    expect(sign_out_link(page)).to_be_visible()
    expect(main_area(page).get_by_text("Signed in as Demo Customer")).to_be_visible()


def test_customer_cannot_open_admin_screen(page: Page, portal_server: PortalServer) -> None:
    page.goto(portal_server.url("/"))
    sign_in(page, CUSTOMER_USERNAME, CUSTOMER_PASSWORD)

    page.goto(portal_server.url("/admin"))
    expect(sign_out_link(page)).to_be_visible()
    wait_until_settled(page)

    expect(main_area(page).get_by_role("heading", name="Admin", exact=True)).to_have_count(0)
    expect(page.get_by_text(english("admin.intro"))).to_have_count(0)


def test_admin_opens_admin_screen(page: Page, portal_server: PortalServer) -> None:
    # The control for the customer test above: the same URL and checks do find the admin screen.
    page.goto(portal_server.url("/"))
    sign_in(page, ADMIN_USERNAME, ADMIN_PASSWORD)

    page.goto(portal_server.url("/admin"))

    expect(main_area(page).get_by_role("heading", name="Admin", exact=True)).to_be_visible()
    expect(page.get_by_text(english("admin.intro"))).to_be_visible()


def test_sign_out_before_cookie_confirmed_shows_login(page: Page, portal_server: PortalServer) -> None:
    # Without its cookie component the browser never stores or reports the cookie. A slow network or
    # a quick click leaves the same state by chance. Signing out in that state once crashed with
    # StreamlitDuplicateElementKey, because the run created the component with key "init" twice.
    page.context.route(COOKIE_COMPONENT_URL, lambda route: route.abort())
    page.goto(portal_server.url("/"))
    submit_login_form(page, CUSTOMER_USERNAME, CUSTOMER_PASSWORD)
    expect(sign_out_link(page)).to_be_visible()

    sign_out_link(page).click()
    main_area(page).get_by_role("button", name="Sign out", exact=True).click()
    wait_until_settled(page)

    expect(page.get_by_test_id("stException")).to_have_count(0, timeout=SETTLED_TIMEOUT_MS)
    expect_signed_out(page, timeout=SETTLED_TIMEOUT_MS)


def test_sign_in_again_same_tab(page: Page, portal_server: PortalServer) -> None:
    page.goto(portal_server.url("/"))
    sign_in(page, CUSTOMER_USERNAME, CUSTOMER_PASSWORD)

    for _ in range(SIGN_IN_AGAIN_ROUNDS):
        sign_out(page)
        submit_login_form(page, CUSTOMER_USERNAME, CUSTOMER_PASSWORD)

        expect(sign_out_link(page)).to_be_visible()
        wait_until_settled(page)
    page.reload()

    expect(sign_out_link(page)).to_be_visible()
