"""Attacks on a running portal through Chromium and plain HTTP, as an outsider would make them.

The tests share one server per module. Each test that changes data makes its own company
and users in the server's SQLite file, so the tests do not depend on each other's order.
A test marked xfail documents a hole that is still open; it turns into a required pass
once the hole is closed. No request leaves 127.0.0.1: every browser context aborts the rest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from playwright.sync_api import BrowserContext, Page, Route, expect

from portal import accounts, cart, customer_admin, ordering
from portal.catalog import load_customer_context
from portal.db import Database
from portal.models import Address, Customer, SignInThrottle, SupplierSettings
from tests.browser.attack_support import PASSWORD, cookie_for, english, new_company, username_of
from tests.browser.conftest import PortalServer, server_command
from tests.browser.portal_ui import (
    COOKIE_NAME,
    add_cookie,
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

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEALTH_TIMEOUT_SECONDS = 60.0
HTTP_TIMEOUT_SECONDS = 10.0
# Long enough for six sign-in scripts to start on a loaded machine, shorter than six
# bcrypt checks at cost 13 sharing 2 cores (over 3 s here).
PARALLEL_GUESS_WAIT_SECONDS = 2.0
# An address the browser must never reach: the route guard aborts it and records it.
OUTSIDE_HOST = "http://attacker.invalid"
SCRIPT_MARKER = "attack-script-ran"

CUSTOMER_URLS = ["/", "/home", "/orders", "/backorders", "/current-order", "/account", "/sign-out"]
# /admin and /products are covered by test_sign_in_security.py on a fresh server.
ADMIN_URLS = {
    "/admin-products": "nav.admin_products",
    "/admin-stock": "nav.admin_stock",
    "/admin-customers": "nav.admin_customers",
    "/admin-prices": "nav.admin_prices",
    "/admin-orders": "nav.admin_orders",
    "/admin-backorders": "nav.admin_backorders",
    "/admin-settings": "nav.admin_settings",
    "/admin-audit": "nav.admin_audit",
}
HOSTILE_TEXT = (
    f"<script>document.title='{SCRIPT_MARKER}'</script>"
    f"<img src=x onerror=\"alert('{SCRIPT_MARKER}')\">"
    f"![pixel]({OUTSIDE_HOST}/pixel.png)"
    "[click](javascript:alert(1))"
)
# Markdown image forms that CommonMark renders but the greeting's sanitiser misses.
GREETING_IMAGE_TRICKS = f"""Welcome

![alt [nested] text]({OUTSIDE_HOST}/nested.png)

![alt \\] text]({OUTSIDE_HOST}/escaped.png)

![quoted]

> [quoted]: {OUTSIDE_HOST}/blockquote.png

![listed]

- [listed]: {OUTSIDE_HOST}/list.png
"""
# Markdown and HTML forms that the greeting's sanitiser does neutralise.
GREETING_PLAIN_TRICKS = f"""Welcome

![direct]({OUTSIDE_HOST}/direct.png)

![reference][ref]

[ref]: {OUTSIDE_HOST}/reference.png

<img src="{OUTSIDE_HOST}/tag.png" onerror="alert(1)">

<script>alert(2)</script>

[click](javascript:alert(3))

<javascript:alert(4)>
"""
NUL_SEARCH = "Mug\x00Mug"


# Fixtures and helpers ----------------------------------------------------------------


@dataclass
class Watch:
    """Dialogs a page opened and requests the guard aborted because they left 127.0.0.1."""

    dialogs: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)


@pytest.fixture
def guarded_context(new_context: Callable[[], BrowserContext], portal_server: PortalServer):
    """Return a factory of browser contexts that reach 127.0.0.1 only, with the Watch of each."""

    def create() -> tuple[BrowserContext, Watch]:
        context = new_context()
        watch = Watch()

        def route(route: Route) -> None:
            url = route.request.url
            if url.startswith(portal_server.base_url) or url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                watch.outside_requests.append(url)
                route.abort()

        context.route("**/*", route)
        return context, watch

    return create


def watched_page(context: BrowserContext, watch: Watch) -> Page:
    page = context.new_page()

    def on_dialog(dialog) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page


def open_signed_in(page: Page, server: PortalServer, username: str, path: str = "/") -> None:
    """Open a page with a valid cookie for the user and wait until the menu shows."""
    add_cookie(page.context, server.base_url, COOKIE_NAME, cookie_for(server, username))
    page.goto(server.url(path))
    expect(sign_out_link(page)).to_be_visible()
    wait_until_settled(page)


def type_sign_in(page: Page, username: str, password: str) -> None:
    """Fill in and submit the login form without waiting for the outcome."""
    expect_login_form(page)
    wait_until_settled(page)
    page.get_by_role("textbox", name="Username", exact=True).fill(username)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def failed_sign_in_message(page: Page) -> str:
    error = main_area(page).get_by_test_id("stAlertContentError")
    expect(error).to_be_visible()
    return error.inner_text().strip()


def data_images(page: Page) -> list[str]:
    """Return the src of every image in the main area that points away from the portal."""
    sources = page.evaluate("() => [...document.querySelectorAll('[data-testid=stMain] img')].map(image => image.src)")
    return [source for source in sources if not source.startswith(("data:", "blob:", "http://127.0.0.1"))]


def script_elements_with(page: Page, marker: str) -> int:
    return page.evaluate(
        "marker => [...document.querySelectorAll('script')].filter(s => s.textContent.includes(marker)).length",
        marker,
    )


def set_greeting(database: Database, text: str) -> None:
    with database.write() as session:
        settings = session.get(SupplierSettings, 1)
        settings.greeting_en = text
        settings.greeting_nl = text


@pytest.fixture
def greeting_restored(portal_database: Database) -> Iterator[None]:
    with portal_database.read() as session:
        settings = session.get(SupplierSettings, 1)
        saved = (settings.greeting_en, settings.greeting_nl)
    yield
    with portal_database.write() as session:
        settings = session.get(SupplierSettings, 1)
        settings.greeting_en, settings.greeting_nl = saved


# Pages by URL ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        *CUSTOMER_URLS,
        *ADMIN_URLS,
        "/products?product=85123A",
        "/orders?order=2024-000001",
        "/product?product=85123A",
        "/order?order=2024-000001",
        "/admin-order?order=2024-000001",
    ],
)
def test_signed_out_url_shows_only_login(page: Page, portal_server: PortalServer, path: str) -> None:
    page.goto(portal_server.url(path))

    expect_signed_out(page)
    expect(main_area(page).get_by_role("heading")).to_have_text(["Customer portal", "Sign in"])
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_customer_admin_urls_show_no_admin_screen(
    page: Page, portal_server: PortalServer, portal_database: Database
) -> None:
    company = new_company(portal_database)
    open_signed_in(page, portal_server, username_of(portal_database, company["first"]))
    admin_headings = []
    admin_menus = []

    for path, title_key in ADMIN_URLS.items():
        page.goto(portal_server.url(path))
        expect(sign_out_link(page)).to_be_visible()
        wait_until_settled(page)
        title = english(title_key)
        # "Products" is both an admin and a customer title, and customers land on Home.
        if main_area(page).get_by_role("heading", name=title, exact=True).count():
            admin_headings.append(path)
        if menu_link(page, english("nav.admin")).count():
            admin_menus.append(path)

    assert admin_headings == []
    assert admin_menus == []
    expect(page.get_by_test_id("stException")).to_have_count(0)


# Cookies -----------------------------------------------------------------------------


def test_expired_cookie_shows_login(page: Page, portal_server: PortalServer, portal_database: Database) -> None:
    company = new_company(portal_database)
    expired = cookie_for(
        portal_server, username_of(portal_database, company["first"]), dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    )
    add_cookie(page.context, portal_server.base_url, COOKIE_NAME, expired)

    page.goto(portal_server.url("/orders"))

    expect_signed_out(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)


@pytest.mark.parametrize(
    "value",
    ["not-a-jwt", "a.b.c", "x" * 4000, "%00%0d%0aSet-Cookie: x=1", "eyJhbGciOiJIUzI1NiJ9.e30."],
    ids=["text", "three-dots", "long", "header-injection", "empty-claims"],
)
def test_garbage_cookie_shows_login(page: Page, portal_server: PortalServer, value: str) -> None:
    log_start = portal_server.log_size()
    add_cookie(page.context, portal_server.base_url, COOKIE_NAME, value)

    page.goto(portal_server.url("/"))

    expect_signed_out(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert "Traceback" not in portal_server.log_text(log_start)


def test_cookie_of_unknown_user_shows_login(page: Page, portal_server: PortalServer) -> None:
    add_cookie(page.context, portal_server.base_url, COOKIE_NAME, cookie_for(portal_server, "nobody-at-all"))

    page.goto(portal_server.url("/"))

    expect_signed_out(page)


@pytest.fixture
def signed_out_page(page: Page, portal_server: PortalServer, portal_database: Database) -> Page:
    """A page whose user signed in with the form, opened Orders and signed out again."""
    company = new_company(portal_database)
    page.goto(portal_server.url("/"))
    sign_in(page, username_of(portal_database, company["first"]), PASSWORD)
    menu_link(page, english("nav.orders")).click()
    expect(main_area(page).get_by_role("heading", name=english("nav.orders"), exact=True)).to_be_visible()
    wait_until_settled(page)
    sign_out(page)
    wait_until_settled(page)
    return page


def test_reload_after_sign_out_shows_login(signed_out_page: Page) -> None:
    signed_out_page.reload()

    expect_signed_out(signed_out_page)


def test_back_after_sign_out_shows_login(signed_out_page: Page) -> None:
    signed_out_page.go_back()
    signed_out_page.reload()

    expect_signed_out(signed_out_page)


def test_new_tab_after_sign_out_shows_login(signed_out_page: Page, portal_server: PortalServer) -> None:
    new_tab = signed_out_page.context.new_page()

    new_tab.goto(portal_server.url("/orders"))

    expect_signed_out(new_tab)


def test_deactivated_user_open_session_ends(page: Page, portal_server: PortalServer, portal_database: Database) -> None:
    company = new_company(portal_database)
    open_signed_in(page, portal_server, username_of(portal_database, company["first"]))

    with portal_database.write() as session:
        customer_admin.deactivate_user(session, company["second"], company["first"])
    menu_link(page, english("nav.orders")).click()

    expect_signed_out(page)


def test_deactivated_user_cookie_stops_working(
    page: Page, portal_server: PortalServer, portal_database: Database, new_context: Callable[[], BrowserContext]
) -> None:
    company = new_company(portal_database)
    page.goto(portal_server.url("/"))
    cookie = sign_in(page, username_of(portal_database, company["first"]), PASSWORD)

    with portal_database.write() as session:
        customer_admin.deactivate_user(session, company["second"], company["first"])
    replay = new_context()
    add_cookie(replay, portal_server.base_url, COOKIE_NAME, cookie)
    replay_page = replay.new_page()
    replay_page.goto(portal_server.url("/orders"))

    expect_signed_out(replay_page)


# Guessing passwords ------------------------------------------------------------------


def lock_account(database: Database, username: str) -> None:
    """Record as many failed attempts as lock the username, as the login form would."""
    for _ in range(accounts.MAX_FAILED_ATTEMPTS):
        with database.write() as session:
            accounts.record_failed_sign_in(session, username)


def fail_sign_in(page: Page, server: PortalServer, username: str, attempts: int) -> None:
    """Make failed sign-in attempts, reloading the login page before each one."""
    for attempt in range(attempts):
        page.goto(server.url("/"))
        type_sign_in(page, username, f"wrong password {attempt}")
        failed_sign_in_message(page)


def test_lockout_holds_across_browsers(
    page: Page, portal_server: PortalServer, portal_database: Database, new_context: Callable[[], BrowserContext]
) -> None:
    username = username_of(portal_database, new_company(portal_database)["first"])
    fail_sign_in(page, portal_server, username, accounts.MAX_FAILED_ATTEMPTS)
    other_browser = new_context().new_page()

    other_browser.goto(portal_server.url("/"))
    type_sign_in(other_browser, username, PASSWORD)

    assert failed_sign_in_message(other_browser) == english("login.failed")
    expect(sign_out_link(other_browser)).to_have_count(0)


def test_locked_and_unknown_usernames_fail_alike(
    portal_server: PortalServer, portal_database: Database, new_context: Callable[[], BrowserContext]
) -> None:
    username = username_of(portal_database, new_company(portal_database)["first"])
    unknown = f"nobody-{secrets.token_hex(4)}"
    lock_account(portal_database, username)
    lock_account(portal_database, unknown)
    locked_page = new_context().new_page()
    unknown_page = new_context().new_page()

    locked_page.goto(portal_server.url("/"))
    type_sign_in(locked_page, username, PASSWORD)
    unknown_page.goto(portal_server.url("/"))
    type_sign_in(unknown_page, unknown, PASSWORD)

    assert failed_sign_in_message(locked_page) == failed_sign_in_message(unknown_page)


def test_admin_unlock_lets_user_sign_in(
    portal_server: PortalServer, portal_database: Database, new_context: Callable[[], BrowserContext]
) -> None:
    company = new_company(portal_database)
    username = username_of(portal_database, company["first"])
    lock_account(portal_database, username)

    with portal_database.write() as session:
        customer_admin.unlock_user(session, company["second"], company["first"])
    unlocked = new_context().new_page()
    unlocked.goto(portal_server.url("/"))
    type_sign_in(unlocked, username, PASSWORD)

    expect(sign_out_link(unlocked)).to_be_visible()


@contextlib.contextmanager
def second_server(server: PortalServer, directory: Path) -> Iterator[str]:
    """Run a second portal process on the first one's database file and cookie key; yield its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        **os.environ,
        "PORTAL_DATABASE_URL": f"sqlite:///{server.log_path.parent / 'portal.db'}",
        "PORTAL_DEMO": "0",
        "PORTAL_COOKIE_KEY": server.cookie_key,
    }
    command = server_command(port)
    base_url = f"http://127.0.0.1:{port}"
    with (directory / "second-server.log").open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(requests.RequestException):
                if requests.get(base_url + "/_stcore/health", timeout=2).text == "ok":
                    break
            time.sleep(0.2)
        else:
            pytest.fail(f"The second portal process did not become healthy; see {directory / 'second-server.log'}")
        yield base_url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_lockout_holds_across_app_processes(
    page: Page,
    portal_server: PortalServer,
    portal_database: Database,
    new_context: Callable[[], BrowserContext],
    tmp_path: Path,
) -> None:
    username = username_of(portal_database, new_company(portal_database)["first"])
    fail_sign_in(page, portal_server, username, accounts.MAX_FAILED_ATTEMPTS - 2)

    with second_server(portal_server, tmp_path) as other_url:
        other_page = new_context().new_page()
        for attempt in range(2):
            other_page.goto(other_url + "/")
            type_sign_in(other_page, username, f"other wrong password {attempt}")
            failed_sign_in_message(other_page)
        other_page.goto(other_url + "/")
        type_sign_in(other_page, username, PASSWORD)
        second_message = failed_sign_in_message(other_page)
    first_page = new_context().new_page()
    first_page.goto(portal_server.url("/"))
    type_sign_in(first_page, username, PASSWORD)

    assert second_message == english("login.failed")
    assert failed_sign_in_message(first_page) == english("login.failed")


def _counted_attempts(database: Database, username: str) -> int:
    with database.read() as session:
        throttle = session.get(SignInThrottle, accounts.normalize_username(username))
        return throttle.failed_attempts if throttle is not None else 0


def test_parallel_guesses_do_not_pass_lockout(
    portal_server: PortalServer,
    portal_database: Database,
    new_context: Callable[[], BrowserContext],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A bcrypt cost above production's, so each check takes over a second and the
    # wrong guesses are still being checked when the right one arrives.
    monkeypatch.setattr(accounts, "BCRYPT_ROUNDS", 13)
    username = username_of(portal_database, new_company(portal_database)["first"])
    wrong_count = accounts.MAX_FAILED_ATTEMPTS + 1
    pages = [new_context().new_page() for _ in range(wrong_count + 1)]
    for index, guess_page in enumerate(pages):
        guess_page.goto(portal_server.url("/"))
        expect_login_form(guess_page)
        wait_until_settled(guess_page)
        guess_page.get_by_role("textbox", name="Username", exact=True).fill(username)
        password = PASSWORD if index == wrong_count else f"wrong password {index}"
        guess_page.get_by_role("textbox", name="Password", exact=True).fill(password)

    for guess_page in pages[:wrong_count]:
        guess_page.get_by_role("button", name="Sign in").dispatch_event("click")
    # The portal counts an attempt before checking its password, so all wrong guesses are
    # counted long before their checks end. A portal that counts after the check is still
    # checking when the bound passes, and lets the right password in.
    deadline = time.monotonic() + PARALLEL_GUESS_WAIT_SECONDS
    while _counted_attempts(portal_database, username) < wrong_count and time.monotonic() < deadline:
        time.sleep(0.05)
    pages[-1].get_by_role("button", name="Sign in").dispatch_event("click")

    assert failed_sign_in_message(pages[-1]) == english("login.failed")
    for guess_page in pages[:wrong_count]:
        assert failed_sign_in_message(guess_page) == english("login.failed")


# Injection ---------------------------------------------------------------------------


@pytest.fixture
def hostile_company(portal_database: Database) -> dict[str, object]:
    """A company whose name, address, product, order comment and current order carry hostile text."""
    company = new_company(portal_database, name=f"Hostile {HOSTILE_TEXT}", selection=True)
    sku = f"HOST{secrets.token_hex(3).upper()}"
    with portal_database.write() as session:
        product = make_product(
            session,
            sku=sku,
            name=f"Mug {HOSTILE_TEXT}",
            on_hand=1,
            description=f"Line one\n{HOSTILE_TEXT}\n" + "long " * 3000,
            unit="<img src=x>",
            product_group=f"Group {HOSTILE_TEXT}"[:100],
        )
        select_products(session, session.get(Customer, company["customer"]), product)
        address = session.get(Address, company["address"])
        address.name = f"Dock {HOSTILE_TEXT}"
        address.street = HOSTILE_TEXT
        product_id = product.id
    with portal_database.write() as session:
        customer = load_customer_context(session, company["customer"])
        cart.add_to_cart(session, customer, company["first"], product_id, 3)
        cart.set_details(
            session, customer, company["first"], comment=f"Comment {HOSTILE_TEXT}", address_id=company["address"]
        )
        token = cart.get_cart(session, company["first"], company["customer"]).checkout_token
        order_number = ordering.place_order(session, customer, company["first"], token).number
    with portal_database.write() as session:
        customer = load_customer_context(session, company["customer"])
        cart.add_to_cart(session, customer, company["first"], product_id, 1)
    return {**company, "sku": sku, "order": order_number, "product": product_id}


@pytest.mark.parametrize(
    ("path", "visible_text"),
    [
        ("/products", "Mug <script>"),
        ("/products?product={sku}", "<img src=x onerror="),
        ("/current-order", "Mug <script>"),
        ("/orders?order={order}", "Comment <script>"),
        # Backorders are a data frame drawn on a canvas, so no text of it is in the DOM.
        ("/backorders", None),
    ],
    ids=["product-list", "product-detail", "current-order", "order-detail", "backorders"],
)
def test_hostile_text_shown_as_plain_text(
    guarded_context,
    portal_server: PortalServer,
    portal_database: Database,
    hostile_company: dict[str, object],
    path: str,
    visible_text: str | None,
) -> None:
    context, watch = guarded_context()
    page = watched_page(context, watch)

    open_signed_in(
        page, portal_server, username_of(portal_database, hostile_company["first"]), path.format(**hostile_company)
    )

    if visible_text is None:
        expect(main_area(page).get_by_test_id("stDataFrame")).to_be_visible()
    else:
        expect(main_area(page).get_by_text(visible_text).first).to_be_visible()
    assert watch.dialogs == []
    assert watch.outside_requests == []
    assert data_images(page) == []
    assert script_elements_with(page, SCRIPT_MARKER) == 0
    assert page.title() != SCRIPT_MARKER


def test_hostile_company_safe_on_admin_order(
    guarded_context, portal_server: PortalServer, portal_database: Database, hostile_company: dict[str, object]
) -> None:
    context, watch = guarded_context()
    page = watched_page(context, watch)

    open_signed_in(page, portal_server, "demo-admin", f"/admin-orders?order={hostile_company['order']}")

    expect(main_area(page).get_by_text("Hostile <script>").first).to_be_visible()
    assert watch.dialogs == []
    assert watch.outside_requests == []
    assert data_images(page) == []
    assert script_elements_with(page, SCRIPT_MARKER) == 0


@pytest.mark.usefixtures("greeting_restored")
def test_greeting_tags_and_links_stay_inert(
    guarded_context, portal_server: PortalServer, portal_database: Database
) -> None:
    set_greeting(portal_database, GREETING_PLAIN_TRICKS)
    company = new_company(portal_database)
    context, watch = guarded_context()
    page = watched_page(context, watch)

    open_signed_in(page, portal_server, username_of(portal_database, company["first"]))

    hrefs = page.evaluate("() => [...document.querySelectorAll('[data-testid=stMain] a')].map(link => link.href)")
    assert watch.dialogs == []
    assert watch.outside_requests == []
    assert data_images(page) == []
    assert [href for href in hrefs if href.lower().startswith("javascript:")] == []


@pytest.mark.usefixtures("greeting_restored")
def test_greeting_images_load_nothing_outside(
    guarded_context, portal_server: PortalServer, portal_database: Database
) -> None:
    set_greeting(portal_database, GREETING_IMAGE_TRICKS)
    company = new_company(portal_database)
    context, watch = guarded_context()
    page = watched_page(context, watch)

    open_signed_in(page, portal_server, username_of(portal_database, company["first"]))

    assert data_images(page) == []
    assert watch.outside_requests == []


# Session mix-up ----------------------------------------------------------------------


def test_next_user_sees_nothing_of_previous(page: Page, portal_server: PortalServer, portal_database: Database) -> None:
    company = new_company(portal_database, selection=True)
    with portal_database.write() as session:
        product = make_product(session, sku=f"MIX{secrets.token_hex(3).upper()}", name="Mix-up mug", on_hand=5)
        select_products(session, session.get(Customer, company["customer"]), product)
        product_id = product.id
    with portal_database.write() as session:
        customer = load_customer_context(session, company["customer"])
        cart.add_to_cart(session, customer, company["first"], product_id, 2)
    page.goto(portal_server.url("/"))
    sign_in(page, username_of(portal_database, company["first"]), PASSWORD)
    menu_link(page, english("nav.current_order")).click()
    comment = page.get_by_role("textbox", name=english("cart.comment"))
    comment.fill("Secret comment of the first user")
    comment.press("Tab")
    menu_link(page, english("nav.products")).click()
    search = page.get_by_role("textbox", name=english("products.search"), exact=True)
    search.fill("typed by the first user")
    search.press("Enter")
    wait_until_settled(page)

    sign_out(page)
    sign_in(page, username_of(portal_database, company["second"]), PASSWORD)
    menu_link(page, english("nav.products")).click()
    expect(page.get_by_role("textbox", name=english("products.search"), exact=True)).to_be_visible()
    wait_until_settled(page)
    search_value = page.get_by_role("textbox", name=english("products.search"), exact=True).input_value()
    menu_link(page, english("nav.current_order")).click()
    expect(main_area(page).get_by_role("heading", name=english("nav.current_order"), exact=True)).to_be_visible()
    wait_until_settled(page)

    assert search_value == ""
    expect(main_area(page).get_by_text("Mix-up mug")).to_have_count(0)
    expect(page.get_by_text("Secret comment of the first user")).to_have_count(0)


# Error details -----------------------------------------------------------------------


def search_for(page: Page, term: str) -> None:
    search = page.get_by_role("textbox", name=english("products.search"), exact=True)
    search.fill(term)
    search.press("Enter")
    wait_until_settled(page)


def test_nul_search_shows_no_error(page: Page, portal_server: PortalServer) -> None:
    open_signed_in(page, portal_server, "demo-customer", "/products")

    search_for(page, NUL_SEARCH)

    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_page_error_shows_no_details(page: Page, portal_server: PortalServer) -> None:
    open_signed_in(page, portal_server, "demo-customer", "/products")

    search_for(page, NUL_SEARCH)

    page_text = page.get_by_test_id("stApp").inner_text()
    assert "Traceback" not in page_text
    assert ".py" not in page_text
    assert "SELECT" not in page_text
    assert "sqlite" not in page_text.lower()


# HTTP endpoints ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/portal.db",
        "/Home.py",
        "/.streamlit/secrets.toml",
        "/app/static/../../Home.py",
        "/app/static/..%2f..%2fHome.py",
        "/static/..%2f..%2f..%2fHome.py",
        "/component/extra_streamlit_components.CookieManager.cookie_manager/..%2f..%2f..%2f..%2fHome.py",
        "/media/..%2f..%2fportal.db",
        "/_stcore/../Home.py",
    ],
)
def test_url_serves_no_project_file(portal_server: PortalServer, path: str) -> None:
    response = requests.get(portal_server.url(path), timeout=HTTP_TIMEOUT_SECONDS, allow_redirects=False)

    assert b"SQLite format" not in response.content
    assert b"st.navigation" not in response.content
    assert portal_server.cookie_key.encode() not in response.content


def test_upload_without_session_rejected(portal_server: PortalServer) -> None:
    response = requests.put(
        portal_server.url("/_stcore/upload_file/no-session/no-file"),
        files={"file": ("logo.png", b"\x89PNG fake", "image/png")},
        timeout=HTTP_TIMEOUT_SECONDS,
    )

    assert response.status_code in (400, 403, 404)


@pytest.mark.parametrize(
    "path",
    ["/_stcore/metrics", "/_stcore/metrics/", "/_stcore/./metrics", "/x/../_stcore/metrics", "/_stcore/%6detrics"],
)
def test_metrics_not_public(portal_server: PortalServer, path: str) -> None:
    response = requests.get(portal_server.url(path), timeout=HTTP_TIMEOUT_SECONDS)

    assert response.status_code == 404
    assert b"portal." not in response.content
    assert b"session" not in response.content


def test_health_check_still_answers(portal_server: PortalServer) -> None:
    response = requests.get(portal_server.url("/_stcore/health"), timeout=HTTP_TIMEOUT_SECONDS)

    assert response.status_code == 200
