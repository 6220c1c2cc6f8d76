"""Attacks an outsider or another customer can make on the login form, the HTTP routes and the URLs.

The tests share one server per module, and each test that changes data makes its own
company and users, so they do not depend on each other's order. A test marked xfail
documents a hole that is still open. No request leaves 127.0.0.1: the one page "on
another site" is served by Playwright's router and never reaches the network.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
from collections.abc import Callable

import pytest
import requests
from PIL import Image
from playwright.sync_api import BrowserContext, Page, WebSocket, WebSocketRoute, expect
from sqlalchemy import select
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from portal import accounts, cart, customer_admin, ordering
from portal.catalog import load_customer_context
from portal.db import Database
from portal.i18n import translate
from portal.models import Customer, SignInThrottle, User
from tests.browser.attack_support import PASSWORD, cookie_for, english, new_company, username_of
from tests.browser.conftest import PROJECT_ROOT, PortalServer
from tests.browser.portal_ui import (
    ADMIN_USERNAME,
    COOKIE_NAME,
    expect_login_form,
    expect_signed_out,
    main_area,
    menu_link,
    sign_in,
    sign_out,
    sign_out_link,
    wait_until_settled,
)
from tests.factories import make_product, select_products

pytestmark = pytest.mark.browser

NEW_PASSWORD = "battery staple horse"
HTTP_TIMEOUT_SECONDS = 10.0
# For checks made after wait_until_settled, when no rerun can still change the page.
SETTLED_TIMEOUT_MS = 2_000
XSRF_COOKIE_NAME = "_streamlit_xsrf"
# The key of the sidebar's language selectbox (portal/ui/sidebar.py), the end of its widget id.
LANGUAGE_WIDGET_KEY = "language_choice"
# A host that does not exist: Playwright's router fulfils its requests, so none leaves the machine.
OTHER_SITE = "http://other-site.invalid"
# Every route that Streamlit 1.67 registers under /_stcore, and a few neighbours, as an outsider finds them.
STCORE_PATHS = [
    "/_stcore/health",
    "/_stcore/script-health-check",
    "/_stcore/host-config",
    "/_stcore/allowed-message-origins",
    "/_stcore/message",
    "/_stcore/stream",
    "/_stcore/upload_file",
    "/_stcore/metrics",
    "/_stcore/agent/openapi.json",
    "/_stcore/bidi-components/",
    "/_stcore/auth/login",
    "/auth/login",
    "/auth/logout",
    "/oauth2callback",
    "/media/",
    "/component/",
    "/app/static/",
    "/static/",
]
# Path traversal forms that test_attacks.py does not try.
TRAVERSAL_PATHS = [
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%252f..%252f..%252fHome.py",
    "/app/static/..%5c..%5cHome.py",
    "/media/%2e%2e%2f%2e%2e%2fserve.py",
    "/component/extra_streamlit_components.CookieManager.cookie_manager/%2e%2e/%2e%2e/__init__.py",
    "/_stcore/bidi-components/..%2f..%2f..%2fHome.py",
    "/_stcore/upload_file/..%2f..%2fHome.py/x",
]


# Fixtures and helpers ----------------------------------------------------------------


def add_strict_cookie(context: BrowserContext, server: PortalServer, value: str) -> None:
    """Store the sign-in cookie with SameSite=Strict, the attribute the portal's cookie component sets."""
    context.add_cookies([{"name": COOKIE_NAME, "value": value, "url": server.base_url, "sameSite": "Strict"}])


def open_signed_in(page: Page, server: PortalServer, username: str, path: str = "/") -> None:
    add_strict_cookie(page.context, server, cookie_for(server, username))
    page.goto(server.url(path))
    expect(sign_out_link(page)).to_be_visible()
    wait_until_settled(page)


def submit_credentials(page: Page, server: PortalServer, username: str, password: str) -> str:
    """Open the login page, submit the form and return the text of the error it shows."""
    page.goto(server.url("/"))
    expect_login_form(page)
    wait_until_settled(page)
    page.get_by_role("textbox", name="Username", exact=True).fill(username)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    error = main_area(page).get_by_test_id("stAlertContentError")
    expect(error).to_be_visible()
    return error.inner_text().strip()


def record_session_ids(page: Page) -> list[str]:
    """Collect the Streamlit session id of every script session the page's websocket opens.

    The id is in the NewSession message that the server sends first on /_stcore/stream.
    """
    session_ids: list[str] = []

    def on_frame(payload: bytes | str) -> None:
        if isinstance(payload, str):
            return
        message = ForwardMsg()
        message.ParseFromString(payload)
        if message.WhichOneof("type") == "new_session":
            session_ids.append(message.new_session.initialize.session_id)

    def on_websocket(websocket: WebSocket) -> None:
        websocket.on("framereceived", on_frame)

    page.on("websocket", on_websocket)
    return session_ids


def xsrf_token(context: BrowserContext) -> str:
    values = [cookie["value"] for cookie in context.cookies() if cookie["name"] == XSRF_COOKIE_NAME]
    assert values, f"The browser context has no {XSRF_COOKIE_NAME} cookie"
    return values[0]


@pytest.fixture
def login_page_session(page: Page, portal_server: PortalServer) -> tuple[Page, str]:
    """A signed-out login page and the id of its Streamlit session."""
    session_ids = record_session_ids(page)
    page.goto(portal_server.url("/"))
    expect_login_form(page)
    wait_until_settled(page)
    assert session_ids, "The page's websocket sent no NewSession message"
    return page, session_ids[-1]


def upload(server: PortalServer, session_id: str, xsrf: str | None, data: bytes = b"\x89PNG\r\n") -> requests.Response:
    headers = {} if xsrf is None else {"X-Xsrftoken": xsrf}
    cookies = {} if xsrf is None else {XSRF_COOKIE_NAME: xsrf}
    return requests.put(
        server.url(f"/_stcore/upload_file/{session_id}/file-{secrets.token_hex(4)}"),
        files={"file": ("logo.png", data, "image/png")},
        headers=headers,
        cookies=cookies,
        timeout=HTTP_TIMEOUT_SECONDS,
    )


def tokens_valid_after(database: Database, user_id: int) -> dt.datetime:
    with database.read() as session:
        return session.get(User, user_id).tokens_valid_after


class WidgetTamperer:
    """Rewrite the value that the page sends for one widget, as a client that is not the portal's page can.

    Streamlit's frontend sends every widget's value with each rerun request over
    /_stcore/stream. Once `value` is set, the router replaces the string value of the
    widget whose id ends with `widget_key`.
    """

    def __init__(self, page: Page, widget_key: str) -> None:
        self.widget_key = widget_key
        self.value: str | None = None
        self.rewritten = 0
        page.route_web_socket("**/_stcore/stream", self._route)

    def _route(self, websocket: WebSocketRoute) -> None:
        server = websocket.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if isinstance(message, bytes) and self.value is not None:
                message = self._rewrite(message)
            server.send(message)

        websocket.on_message(from_page)

    def _rewrite(self, message: bytes) -> bytes:
        back_message = BackMsg()
        back_message.ParseFromString(message)
        if back_message.WhichOneof("type") != "rerun_script":
            return message
        for widget in back_message.rerun_script.widget_states.widgets:
            if widget.id.endswith(self.widget_key):
                widget.string_value = self.value
                self.rewritten += 1
        return back_message.SerializeToString()


# The login form ----------------------------------------------------------------------


def failed_attempts(database: Database, username: str) -> int:
    with database.read() as session:
        throttle = session.get(SignInThrottle, username)
        return throttle.failed_attempts if throttle is not None else 0


def test_username_variants_share_counter(page: Page, portal_server: PortalServer, portal_database: Database) -> None:
    # The database tests cover the lockout itself. This test checks that case and space
    # variants typed into the login form reach the same counter.
    username = username_of(portal_database, new_company(portal_database)["first"])
    variants = [username.upper(), f"  {username}\t", f" {username.title()} "]

    for number, variant in enumerate(variants):
        assert submit_credentials(page, portal_server, variant, f"wrong password {number}") == english("login.failed")

    assert failed_attempts(portal_database, username) == len(variants)


def test_blank_credentials_not_counted(page: Page, portal_server: PortalServer, portal_database: Database) -> None:
    username = username_of(portal_database, new_company(portal_database)["first"])
    blanks = [(username, "   "), (username, "\u3000\t"), ("   ", PASSWORD)]

    for typed_username, typed_password in blanks:
        assert submit_credentials(page, portal_server, typed_username, typed_password) == english("login.missing")

    assert failed_attempts(portal_database, username) == 0
    assert failed_attempts(portal_database, "") == 0


@pytest.mark.parametrize(
    ("typed_username", "typed_password"),
    [
        ("{username}" + "x" * 5000, PASSWORD),
        ("{username}", PASSWORD + "x" * 1000),
        ("{username}", PASSWORD + "\x00"),
        # Cyrillic "і" (U+0456) in "first" and fullwidth letters look like the real username.
        ("{confusable}", PASSWORD),
        ("{fullwidth}", PASSWORD),
    ],
    ids=["long-username", "long-password", "nul-password", "cyrillic-username", "fullwidth-username"],
)
def test_odd_credentials_fail_without_error(
    page: Page, portal_server: PortalServer, portal_database: Database, typed_username: str, typed_password: str
) -> None:
    username = username_of(portal_database, new_company(portal_database)["first"])
    fields = {
        "username": username,
        "confusable": username.replace("i", "\u0456"),
        "fullwidth": "".join(chr(ord(letter) + 0xFEE0) if letter.isalpha() else letter for letter in username),
    }
    assert fields["confusable"] != username
    log_start = portal_server.log_size()

    message = submit_credentials(page, portal_server, typed_username.format(**fields), typed_password)

    assert message == english("login.failed")
    expect(sign_out_link(page)).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert "Traceback" not in portal_server.log_text(log_start)


@pytest.mark.parametrize("closed", ["user", "company"])
def test_inactive_account_form_sign_in_fails(
    page: Page, portal_server: PortalServer, portal_database: Database, closed: str
) -> None:
    company = new_company(portal_database)
    username = username_of(portal_database, company["first"])
    with portal_database.write() as session:
        admin_id = session.scalar(select(User.id).where(User.username == "demo-admin"))
        if closed == "user":
            customer_admin.deactivate_user(session, admin_id, company["first"])
        else:
            customer_admin.deactivate_customer(session, admin_id, company["customer"])

    message = submit_credentials(page, portal_server, username, PASSWORD)

    assert message == english("login.failed")
    wait_until_settled(page)
    expect(sign_out_link(page)).to_have_count(0)


# Cookies and sessions ----------------------------------------------------------------


def test_case_variant_cookie_revoked_by_sign_out(
    page: Page, portal_server: PortalServer, portal_database: Database, new_context: Callable[[], BrowserContext]
) -> None:
    company = new_company(portal_database)
    username = username_of(portal_database, company["first"])
    variant_cookie = cookie_for(portal_server, f" {username.upper()} ")
    open_signed_in(page, portal_server, username)

    sign_out(page)
    replay_page = new_context().new_page()
    add_strict_cookie(replay_page.context, portal_server, variant_cookie)
    replay_page.goto(portal_server.url("/orders"))

    expect_signed_out(replay_page)


def change_password_form(page: Page, current: str, new: str) -> None:
    page.get_by_role("textbox", name=english("account.current_password"), exact=True).fill(current)
    page.get_by_role("textbox", name=english("account.new_password"), exact=True).fill(new)
    page.get_by_role("textbox", name=english("account.repeat_password"), exact=True).fill(new)
    page.get_by_role("button", name=english("account.change")).click()


def test_password_change_ends_other_browser(
    page: Page, portal_server: PortalServer, portal_database: Database, new_context: Callable[[], BrowserContext]
) -> None:
    company = new_company(portal_database)
    username = username_of(portal_database, company["first"])
    page.goto(portal_server.url("/"))
    old_cookie = sign_in(page, username, PASSWORD)
    other_page = new_context().new_page()
    add_strict_cookie(other_page.context, portal_server, old_cookie)
    other_page.goto(portal_server.url("/"))
    expect(sign_out_link(other_page)).to_be_visible()
    wait_until_settled(other_page)

    page.goto(portal_server.url("/account"))
    wait_until_settled(page)
    change_password_form(page, PASSWORD, NEW_PASSWORD)
    expect(main_area(page).get_by_text(english("account.changed"))).to_be_visible()
    wait_until_settled(page)
    menu_link(other_page, english("nav.orders")).click()
    replay_page = new_context().new_page()
    add_strict_cookie(replay_page.context, portal_server, old_cookie)
    replay_page.goto(portal_server.url("/orders"))
    page.reload()

    expect_signed_out(other_page)
    expect_signed_out(replay_page)
    expect(sign_out_link(page)).to_be_visible()


def test_current_password_guesses_limited(page: Page, portal_server: PortalServer, portal_database: Database) -> None:
    # Anyone with a signed-in browser or a stolen cookie can guess the password itself on
    # /account, and the password outlives every cookie revocation.
    company = new_company(portal_database)
    open_signed_in(page, portal_server, username_of(portal_database, company["first"]), "/account")
    wrong = english("password.current_wrong")

    for attempt in range(accounts.MAX_FAILED_ATTEMPTS):
        change_password_form(page, f"guess number {attempt}", NEW_PASSWORD)
        expect(main_area(page).get_by_text(wrong)).to_be_visible()
        wait_until_settled(page)
    change_password_form(page, PASSWORD, NEW_PASSWORD)
    wait_until_settled(page)

    with portal_database.read() as session:
        password_hash = session.get(User, company["first"]).password_hash
    assert accounts.check_password(PASSWORD, password_hash)


def test_sign_out_link_from_other_site_ignored(
    page: Page, portal_server: PortalServer, portal_database: Database
) -> None:
    company = new_company(portal_database)
    open_signed_in(page, portal_server, username_of(portal_database, company["first"]))
    revoked_before = tokens_valid_after(portal_database, company["first"])
    link_page = f'<html><body><a id="prize" href="{portal_server.url("/sign-out")}">Claim your prize</a></body></html>'
    page.context.route(f"{OTHER_SITE}/**", lambda route: route.fulfill(body=link_page, content_type="text/html"))

    page.goto(f"{OTHER_SITE}/")
    page.locator("#prize").click()
    page.wait_for_url(f"{portal_server.base_url}/**")
    wait_until_settled(page)

    assert tokens_valid_after(portal_database, company["first"]) == revoked_before


# Another company's ids in the URL ----------------------------------------------------


@pytest.fixture
def other_company(portal_database: Database) -> dict[str, object]:
    """A company with a product only it may see and a placed order carrying a comment."""
    company = new_company(portal_database, selection=True)
    sku = f"OWN{secrets.token_hex(3).upper()}"
    comment = f"Private comment {secrets.token_hex(4)}"
    with portal_database.write() as session:
        product = make_product(session, sku=sku, name=f"Private mug {sku}", on_hand=10)
        select_products(session, session.get(Customer, company["customer"]), product)
        product_id = product.id
    with portal_database.write() as session:
        customer = load_customer_context(session, company["customer"])
        cart.add_to_cart(session, customer, company["first"], product_id, 2)
        cart.set_details(session, customer, company["first"], comment=comment, address_id=company["address"])
        token = cart.get_cart(session, company["first"], company["customer"]).checkout_token
        number = ordering.place_order(session, customer, company["first"], token).number
    return {**company, "sku": sku, "order": number, "comment": comment, "name": f"Private mug {sku}"}


@pytest.mark.parametrize(
    "path", ["/orders?order={order}", "/products?product={sku}"], ids=["order-number", "product-sku"]
)
def test_other_company_ids_show_not_found(
    page: Page,
    portal_server: PortalServer,
    portal_database: Database,
    other_company: dict[str, object],
    path: str,
) -> None:
    company = new_company(portal_database, selection=True)

    open_signed_in(page, portal_server, username_of(portal_database, company["first"]), path.format(**other_company))

    expect(main_area(page).get_by_text(english("error.not_found"))).to_be_visible()
    page_text = page.get_by_test_id("stApp").inner_text()
    assert other_company["comment"] not in page_text
    assert other_company["name"] not in page_text


# HTTP routes -------------------------------------------------------------------------


def test_routes_leak_no_session_or_paths(login_page_session: tuple[Page, str], portal_server: PortalServer) -> None:
    _, session_id = login_page_session
    # Module names, the project's files and the server's file system paths.
    markers = (str(PROJECT_ROOT), "/tmp/", "portal.", "Home.py", "serve.py")
    leaks = {}

    for path in STCORE_PATHS:
        for method in ("GET", "POST", "OPTIONS"):
            response = requests.request(
                method, portal_server.url(path), timeout=HTTP_TIMEOUT_SECONDS, allow_redirects=False
            )
            body = response.content + str(response.headers).encode()
            found = [marker for marker in (*markers, session_id, portal_server.cookie_key) if marker.encode() in body]
            if found:
                leaks[f"{method} {path}"] = found

    assert leaks == {}


@pytest.mark.parametrize("path", TRAVERSAL_PATHS)
def test_traversal_serves_no_file(portal_server: PortalServer, path: str) -> None:
    response = requests.get(portal_server.url(path), timeout=HTTP_TIMEOUT_SECONDS, allow_redirects=False)

    assert b"root:" not in response.content
    assert b"st.App" not in response.content
    assert b"st.navigation" not in response.content
    assert b"import streamlit" not in response.content


def test_agent_api_refused(portal_server: PortalServer) -> None:
    interact = requests.post(portal_server.url("/_stcore/agent/interact"), json={}, timeout=HTTP_TIMEOUT_SECONDS)
    tool_call = requests.post(
        portal_server.url("/_stcore/agent/mcp"),
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "interact", "arguments": {}}},
        timeout=HTTP_TIMEOUT_SECONDS,
    )

    assert interact.status_code == 403
    assert "result" not in tool_call.json()


def test_upload_without_xsrf_token_rejected(login_page_session: tuple[Page, str], portal_server: PortalServer) -> None:
    _, session_id = login_page_session

    response = upload(portal_server, session_id, None)

    assert response.status_code == 403


def test_signed_out_session_upload_rejected(login_page_session: tuple[Page, str], portal_server: PortalServer) -> None:
    # Nothing on the login page takes a file, yet Streamlit 1.67 keeps every upload to a
    # live session in memory until the session ends. Each request may carry up to
    # server.maxUploadSize (200 MB by default), and the number of requests has no limit.
    page, session_id = login_page_session

    response = upload(portal_server, session_id, xsrf_token(page.context), b"\x00" * 1024 * 1024)

    assert response.status_code in (400, 403, 404, 413)


def test_admin_session_upload_accepted(page: Page, portal_server: PortalServer) -> None:
    # The upload gate lets a signed-in admin's files through: here a logo on the settings screen.
    logo = io.BytesIO()
    Image.new("RGB", (4, 4), "green").save(logo, format="PNG")
    open_signed_in(page, portal_server, ADMIN_USERNAME, "/admin-settings")
    log_start = portal_server.log_path.stat().st_size

    main_area(page).locator("input[type=file]").set_input_files(
        files=[{"name": "logo.png", "mimeType": "image/png", "buffer": logo.getvalue()}]
    )
    main_area(page).get_by_role("button", name=english("admin_settings.save_logo")).click()

    expect(main_area(page).get_by_text(english("admin_settings.logo_saved"))).to_be_visible()
    assert "Rejected a file upload" not in portal_server.log_text(log_start)


def test_portal_page_forbids_framing(portal_server: PortalServer) -> None:
    response = requests.get(portal_server.url("/"), timeout=HTTP_TIMEOUT_SECONDS)

    frame_options = response.headers.get("X-Frame-Options", "").upper()
    policy = response.headers.get("Content-Security-Policy", "")
    assert frame_options in ("DENY", "SAMEORIGIN") or "frame-ancestors" in policy


# Widget values a client makes up ----------------------------------------------------


def test_made_up_language_not_stored(page: Page, portal_server: PortalServer, portal_database: Database) -> None:
    # Streamlit resets a selectbox value that matches no option only when the script draws
    # the widget, after on_change callbacks ran with the client's value.
    company = new_company(portal_database)
    tamperer = WidgetTamperer(page, LANGUAGE_WIDGET_KEY)
    open_signed_in(page, portal_server, username_of(portal_database, company["first"]))

    tamperer.value = "xx"
    menu_link(page, english("nav.orders")).click()
    wait_until_settled(page)

    with portal_database.read() as session:
        stored = session.get(User, company["first"]).language
    assert tamperer.rewritten > 0
    assert stored in (None, "nl", "en")
    expect(page.get_by_test_id("stException")).to_have_count(0, timeout=SETTLED_TIMEOUT_MS)


def test_made_up_language_path_not_read(page: Page, portal_server: PortalServer) -> None:
    # An outsider on the login page chooses which folder's *.toml files the portal reads.
    # "../locales/nl" shows it with the Dutch texts, and any other folder works the same way.
    tamperer = WidgetTamperer(page, LANGUAGE_WIDGET_KEY)
    page.goto(portal_server.url("/"))
    expect_login_form(page)
    wait_until_settled(page)

    tamperer.value = "../locales/nl"
    page.get_by_role("button", name="Sign in").click()
    expect(main_area(page).get_by_test_id("stAlertContentError")).to_be_visible()
    wait_until_settled(page)

    assert tamperer.rewritten > 0
    english_heading = main_area(page).get_by_role("heading", name=translate("en", "login.welcome"))
    expect(english_heading).to_be_visible(timeout=SETTLED_TIMEOUT_MS)
    dutch_heading = main_area(page).get_by_role("heading", name=translate("nl", "login.welcome"))
    expect(dutch_heading).to_have_count(0, timeout=SETTLED_TIMEOUT_MS)
