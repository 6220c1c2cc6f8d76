"""Entry point: page config, the sign-in gate and the menu for the signed-in user's role."""

import logging

import streamlit as st

from portal.config import ConfigError
from portal.demo import DEMO_ADMIN_PASSWORD, DEMO_ADMIN_USERNAME, DEMO_CUSTOMER_PASSWORD, DEMO_CUSTOMER_USERNAME
from portal.i18n import Formatter, translate
from portal.text import escape_markdown
from portal.ui import auth, routes
from portal.ui.app import get_config, get_database, portal_logo
from portal.ui.context import build_request, choose_language, page_context, store_request
from portal.ui.sidebar import cart_summary, customer_picker, language_picker

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="Portal", page_icon="📦", layout="wide")

try:
    config = get_config()
    database = get_database()
except ConfigError as error:
    # Shown to whoever opens the page: the operator needs the setting's name, and the
    # message holds no secret (only the setting's name and what is wrong with it).
    logging.getLogger("portal").error("Portal not started: %s", error)
    st.error(translate(choose_language(None), "startup.config_error", detail=escape_markdown(str(error))))
    st.stop()
user = auth.resolve_user(database, config.cookie_key)
language = choose_language(user)
logo = portal_logo(database)
if logo is not None:
    st.logo(logo, size="large")


def t(key: str, **params: object) -> str:
    return translate(language, key, **params)


customer_pages = [
    st.Page("app_pages/home.py", title=t("nav.home"), icon="🏠", url_path="home", default=True),
    routes.PRODUCTS.page(t("nav.products"), "📦"),
    routes.ORDERS.page(t("nav.orders"), "📄"),
    st.Page("app_pages/backorders.py", title=t("nav.backorders"), icon="⏳", url_path="backorders"),
    st.Page("app_pages/current_order.py", title=t("nav.current_order"), icon="🛒", url_path="current-order"),
    st.Page("app_pages/sign_out.py", title=t("nav.sign_out"), icon="🚪", url_path="sign-out"),
]
account_page = st.Page(
    "app_pages/account.py", title=t("nav.account"), icon="🔑", url_path="account", visibility="hidden"
)
# Pages that only links open, so the menu does not list them.
detail_pages = [
    routes.PRODUCT.page(t("nav.product"), "📦", hidden=True),
    routes.ORDER.page(t("nav.order"), "📄", hidden=True),
]
admin_pages = [
    st.Page("app_pages/admin.py", title=t("nav.admin"), icon="🛠️", url_path="admin"),
    st.Page("app_pages/admin_products.py", title=t("nav.admin_products"), icon="🏷️", url_path="admin-products"),
    st.Page("app_pages/admin_stock.py", title=t("nav.admin_stock"), icon="📥", url_path="admin-stock"),
    st.Page("app_pages/admin_customers.py", title=t("nav.admin_customers"), icon="👥", url_path="admin-customers"),
    st.Page("app_pages/admin_prices.py", title=t("nav.admin_prices"), icon="💶", url_path="admin-prices"),
    routes.ADMIN_ORDERS.page(t("nav.admin_orders"), "🧾"),
    routes.ADMIN_ORDER.page(t("nav.admin_order"), "🧾", hidden=True),
    st.Page("app_pages/admin_backorders.py", title=t("nav.admin_backorders"), icon="⏱️", url_path="admin-backorders"),
    st.Page("app_pages/admin_settings.py", title=t("nav.admin_settings"), icon="⚙️", url_path="admin-settings"),
    st.Page("app_pages/admin_history.py", title=t("nav.admin_history"), icon="🗂️", url_path="admin-history"),
    st.Page("app_pages/admin_audit.py", title=t("nav.admin_audit"), icon="📜", url_path="admin-audit"),
]

if user is None:
    # Every page is registered but hidden, so a deep link shows the login form instead of
    # "Page not found", and nothing of any page runs.
    requested_page = st.navigation([*customer_pages, account_page, *detail_pages, *admin_pages], position="hidden")
    with st.sidebar:
        language_picker(database, None, language, t("nav.language"))
    st.title(t("login.welcome"))
    user = auth.login_form(database, config.cookie_key, t)
    if config.demo and user is None:
        st.info(
            t(
                "login.demo_accounts",
                customer=DEMO_CUSTOMER_USERNAME,
                customer_password=DEMO_CUSTOMER_PASSWORD,
                admin=DEMO_ADMIN_USERNAME,
                admin_password=DEMO_ADMIN_PASSWORD,
            )
        )
    if user is None:
        st.stop()
    if st.session_state.get("language"):
        auth.store_language(database, user, st.session_state["language"])
    if requested_page.url_path == "sign-out":
        # Signing in on the sign-out URL (after Back, say) must not sign out again.
        st.switch_page(customer_pages[0])
    st.rerun()

auth.confirm_cookie(config.cookie_key, user)
if user.is_admin:
    # Expanded: collapsed, the long admin menu hides its last entries, Sign out among them,
    # behind "View more".
    navigation = st.navigation(
        {t("nav.section_portal"): [*customer_pages, account_page, *detail_pages], t("nav.section_admin"): admin_pages},
        expanded=True,
    )
else:
    navigation = st.navigation([*customer_pages, account_page, *detail_pages])

with st.sidebar:
    if user.is_admin:
        customer_picker(database, Formatter(language))
    language_picker(database, user, language, t("nav.language"))
    st.page_link(account_page, label=t("nav.account"), icon="🔑")

request = build_request(database, user, language)
store_request(request)
navigation.run()

# Last in the sidebar, and after the page, so that it shows what the page changed. Drawn in
# st.sidebar itself, because the fragment inside keeps a copy of each enclosing container.
with st.sidebar:
    cart_summary(page_context())
