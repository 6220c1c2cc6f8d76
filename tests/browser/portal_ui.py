"""Steps and checks on the portal's screens, shared by the browser tests.

Labels are the English texts of portal/locales/en/; every browser context uses the locale en-GB.
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

# The first page request of a new server does the start-up work (migrations, settings) and can take long
# on a loaded machine.
FIRST_LOAD_TIMEOUT_MS = 60_000
# How long the app must stay idle before `wait_until_settled` returns: a callback, st.rerun or
# the cookie component can start a further run shortly after one ends.
SETTLE_QUIET_MS = 500

_MONEY_PATTERN = re.compile(r"€\s?(-?[\d,]+(?:\.\d+)?)")

# True once the app has had no script run, no stale element and no loading component frame for
# `quietMs` milliseconds. In Streamlit 1.67's frontend (test attributes, not a public API), stApp's
# data-test-script-state is "running" or "rerunRequested" while the server runs the script, and
# elements of the previous run carry data-stale="true" until the new run replaces them. A component
# (the portal's cookie manager) reports its value once its frame has loaded, and that report starts
# another run.
_SETTLED_CHECK = """
quietMs => {
  const app = document.querySelector('[data-testid="stApp"]');
  const loadingFrame = [...document.querySelectorAll('iframe')].some(
    frame => frame.contentDocument !== null && frame.contentDocument.readyState !== 'complete');
  const busy = app === null
    || app.getAttribute('data-test-script-state') !== 'notRunning'
    || document.querySelector('[data-stale="true"]') !== null
    || loadingFrame;
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
    """Wait until, for SETTLE_QUIET_MS, no script run is in progress or requested and no component frame loads."""
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


def open_menu_page(page: Page, name: str) -> None:
    """Open a page through the menu and wait until its script has finished."""
    menu_link(page, name).click()
    expect(main_area(page).get_by_role("heading", name=name, exact=True)).to_be_visible()
    wait_until_settled(page)


def main_area(page: Page) -> Locator:
    return page.get_by_test_id("stMain")


def submit_login_form(page: Page, username: str, password: str) -> None:
    """Fill in and submit the login form once the page has settled, as a person would."""
    expect_login_form(page)
    # Submissions made right after the page appeared sometimes went unanswered in these tests, most
    # likely because the cookie component's report started a run at the same time.
    wait_until_settled(page)
    page.get_by_role("textbox", name="Username", exact=True).fill(username)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in(page: Page, username: str, password: str) -> str:
    """Sign in through the login form on the current page and return the sign-in cookie.

    Waits until the browser stores the cookie, so a later page load in the same context stays signed in,
    and until the run that the cookie component's report starts is over, so the next click is not lost.
    """
    submit_login_form(page, username, password)

    expect(sign_out_link(page)).to_be_visible()
    cookie = wait_for_cookie(page, COOKIE_NAME)
    wait_until_settled(page)
    return cookie


def sign_out(page: Page) -> None:
    """Open the sign-out page from the menu and confirm there."""
    sign_out_link(page).click()
    main_area(page).get_by_role("button", name="Sign out", exact=True).click()
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


def link_or_button(scope: Page | Locator, name: str, exact: bool = True) -> Locator:
    """Return the link or the link-styled button named `name`.

    A product or order name in a list, and the way back from its detail view, may be drawn as either.
    """
    link = scope.get_by_role("link", name=name, exact=exact)
    return link.or_(scope.get_by_role("button", name=name, exact=exact))


def table_row(page: Page, name: str) -> Locator:
    """Return the row of st.columns in the main area whose link or button `name` opens a detail view.

    Only the outer row contains that name, so the columns nested in a row (quantity and Add) never match.
    """
    return main_area(page).get_by_test_id("stHorizontalBlock").filter(has=link_or_button(page, name))


def product_rows(page: Page) -> Locator:
    """Return the rows of the product list: the outer st.columns rows with a price and an Add button."""
    add_button = page.get_by_role("button", name="Add", exact=True)
    return main_area(page).get_by_test_id("stHorizontalBlock").filter(has=add_button).filter(has_text="€")


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
    open_menu_page(page, "Current order")
    if main_area(page).get_by_text("Your current order is empty.").count():
        return

    remove_checkbox = page.get_by_role("checkbox", name="Remove", exact=True)
    for widget in main_area(page).get_by_test_id("stCheckbox").filter(has=remove_checkbox).all():
        # The input is visually hidden and its label receives the pointer, so the test clicks the label.
        widget.locator("label").click()
        expect(widget.get_by_role("checkbox")).to_be_checked()
    page.get_by_role("button", name="Update quantities").click()

    expect(main_area(page).get_by_text("Your current order is empty.")).to_be_visible()
