"""Steps and checks on the portal's screens, shared by the browser tests.

Labels are the English texts of portal/locales/en.toml; every browser context uses the locale en-GB.
Streamlit reruns the page script asynchronously after each interaction, so the steps wait for the
text or element that the rerun produces, and `wait_until_settled` waits for the end of all reruns
before a test checks that something is absent.
"""

from __future__ import annotations

import re
from decimal import Decimal

from playwright.sync_api import BrowserContext, Locator, Page, expect

CUSTOMER_USERNAME = "demo-customer"
CUSTOMER_PASSWORD = "demo-customer-pass"
ADMIN_USERNAME = "demo-admin"
ADMIN_PASSWORD = "demo-admin-pass"
COOKIE_NAME = "portal_auth"

# The first page request of a new server migrates the database and loads the demo data.
FIRST_LOAD_TIMEOUT_MS = 60_000
# How long the app must stay idle before `wait_until_settled` returns: a callback, st.rerun or
# the cookie component can start a further run shortly after one ends.
SETTLE_QUIET_MS = 500

_MONEY_PATTERN = re.compile(r"€\s?(-?[\d,]+(?:\.\d+)?)")

# True once the app has had no script run and no stale element for `quietMs` milliseconds.
# stApp's data-test-script-state is "running" or "rerunRequested" while the server runs the
# script, and elements of the previous run carry data-stale="true" until the new run replaces them.
_SETTLED_CHECK = """
quietMs => {
  const app = document.querySelector('[data-testid="stApp"]');
  const busy = app === null
    || app.getAttribute('data-test-script-state') !== 'notRunning'
    || document.querySelector('[data-stale="true"]') !== null;
  const now = performance.now();
  if (busy) {
    window.__portalQuietSince = undefined;
    return false;
  }
  if (window.__portalQuietSince === undefined) {
    window.__portalQuietSince = now;
  }
  return now - window.__portalQuietSince >= quietMs;
}
"""


def wait_until_settled(page: Page, timeout: float | None = None) -> None:
    """Wait until no script run is in progress or requested for SETTLE_QUIET_MS."""
    page.evaluate("() => { window.__portalQuietSince = undefined; }")
    page.wait_for_function(_SETTLED_CHECK, arg=SETTLE_QUIET_MS, polling=100, timeout=timeout)


def expect_login_form(page: Page, timeout: float | None = None) -> None:
    expect(page.get_by_role("heading", name="Customer portal")).to_be_visible(timeout=timeout)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=timeout)
    expect(page.get_by_role("textbox", name="Username", exact=True)).to_be_visible(timeout=timeout)
    expect(page.get_by_role("textbox", name="Password", exact=True)).to_be_visible(timeout=timeout)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=timeout)


def expect_signed_out(page: Page, timeout: float | None = None) -> None:
    """Check that the login form is shown and, once every rerun is over, no menu."""
    expect_login_form(page, timeout=timeout)
    wait_until_settled(page, timeout=timeout)
    expect(sign_out_link(page)).to_have_count(0)


def sign_out_link(page: Page) -> Locator:
    return page.get_by_test_id("stSidebar").get_by_role("link", name="Sign out", exact=True)


def menu_link(page: Page, name: str) -> Locator:
    return page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True)


def main_area(page: Page) -> Locator:
    return page.get_by_test_id("stMain")


def sign_in(page: Page, username: str, password: str) -> str:
    """Sign in through the login form on the current page and return the sign-in cookie.

    Waits until the browser stores the cookie, so a later page load in the same context stays signed in.
    """
    expect_login_form(page)
    page.get_by_role("textbox", name="Username", exact=True).fill(username)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()

    expect(sign_out_link(page)).to_be_visible()
    return wait_for_cookie(page, COOKIE_NAME)


def sign_out(page: Page) -> None:
    sign_out_link(page).click()
    expect_login_form(page)


def wait_for_cookie(page: Page, name: str) -> str:
    """Wait until the page's browser context has the cookie and return its value.

    The portal writes its sign-in cookie with JavaScript (it is not HttpOnly), so document.cookie shows it.
    """
    page.wait_for_function(
        "name => document.cookie.split('; ').some(cookie => cookie.startsWith(name + '='))", arg=name, polling=100
    )
    return cookie_value(page.context, name)


def cookie_value(context: BrowserContext, name: str) -> str:
    values = [cookie["value"] for cookie in context.cookies() if cookie["name"] == name]
    assert values, f"The browser context has no {name} cookie; it has {[c['name'] for c in context.cookies()]}"
    return values[0]


def add_cookie(context: BrowserContext, base_url: str, name: str, value: str) -> None:
    context.add_cookies([{"name": name, "value": value, "url": base_url}])


def table_row(page: Page, text: str) -> Locator:
    """Return the row of st.columns in the main area that contains a link named `text`.

    Only the outer row contains the link, so the columns nested in a row (quantity and Add) never match.
    """
    link = page.get_by_role("link", name=text, exact=True)
    return main_area(page).get_by_test_id("stHorizontalBlock").filter(has=link)


def text_row(page: Page, text: str) -> Locator:
    """Return the row of st.columns in the main area whose cells contain the exact text `text`."""
    return main_area(page).get_by_test_id("stHorizontalBlock").filter(has=page.get_by_text(text, exact=True))


def in_order_badge(scope: Locator, quantity: int) -> Locator:
    return scope.get_by_text(f"✅ {quantity}", exact=True)


def cart_summary(page: Page) -> Locator:
    return page.get_by_test_id("stSidebar").get_by_text(re.compile(r"^\d+ lines? · "))


def parse_money(text: str) -> Decimal:
    """Return the first euro amount in `text`, such as 4.95 from "€4.95" or 1485.15 from "€1,485.15"."""
    match = _MONEY_PATTERN.search(text)
    assert match is not None, f"No euro amount in {text!r}"
    return Decimal(match.group(1).replace(",", ""))


def format_money(amount: Decimal) -> str:
    """Format an amount as the portal shows it in English: €1,485.15."""
    return f"€{amount:,.2f}"


def search_products(page: Page, term: str) -> None:
    """Search the product list and wait for the rerun that filters it."""
    search = page.get_by_role("textbox", name="Search", exact=True)
    search.fill(term)
    search.press("Enter")
    wait_until_settled(page)


def add_from_list(page: Page, sku: str, name: str, quantity: int) -> None:
    """Add a product from the product list and wait for its in-order badge."""
    row = table_row(page, name)
    row.get_by_role("textbox", name=f"Quantity of {sku}", exact=True).fill(str(quantity))
    row.get_by_role("button", name="Add", exact=True).click()
    expect(in_order_badge(row, quantity)).to_be_visible()


def clear_current_order(page: Page) -> None:
    """Remove every line from the current order through its Remove boxes."""
    menu_link(page, "Current order").click()
    expect(main_area(page).get_by_role("heading", name="Current order")).to_be_visible()
    wait_until_settled(page)
    if main_area(page).get_by_text("Your current order is empty.").count():
        return

    for remove_box in main_area(page).get_by_role("checkbox", name="Remove").all():
        remove_box.check()
    page.get_by_role("button", name="Update quantities").click()

    expect(main_area(page).get_by_text("Your current order is empty.")).to_be_visible()
