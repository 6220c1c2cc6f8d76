from pathlib import Path

from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from portal.models import Role
from portal.ui.auth import CurrentUser
from portal.ui.context import Request
from tests.factories import make_product
from tests.pages.conftest import TIMEOUT_SECONDS, new_app, open_page, sign_in

PAGE = "app_pages/admin_products.py"
TAB_KEY = "admin_products_tab"
PAGE_FILE = Path(__file__).resolve().parents[2] / PAGE


def _titles(app):
    return [element.value for element in app.title]


def _tab_labels(app):
    return [tab.label for tab in app.tabs]


def _field(app, label):
    return next(field for field in app.text_input if field.label == label)


def test_page_renders_for_admin(shop):
    app = sign_in(new_app(), shop["admin"])

    open_page(app, PAGE)

    assert not app.exception
    assert "Products" in _titles(app)
    assert _tab_labels(app) == ["Products", "Photo", "Import", "Export"]


def test_editor_shows_products(shop):
    app = sign_in(new_app(), shop["admin"])

    open_page(app, PAGE)

    frame = app.dataframe[0].value
    assert list(frame["sku"]) == ["SKU0", "SKU1", "SKU2"]


def test_search_narrows_editor(shop):
    app = sign_in(new_app(), shop["admin"])
    open_page(app, PAGE)

    _field(app, "Search").input("sku1").run()

    assert list(app.dataframe[0].value["sku"]) == ["SKU1"]


def test_page_in_dutch(shop):
    app = sign_in(new_app(), shop["admin"])
    app.session_state["language"] = "nl"

    open_page(app, PAGE)

    assert not app.exception
    assert "Artikelen" in _titles(app)
    assert _tab_labels(app) == ["Artikelen", "Foto", "Importeren", "Exporteren"]


def test_page_refused_to_customer(shop):
    app = sign_in(new_app(), shop["customer_user"]).run()

    # What a browser sends for /admin-products: see test_customer_never_gets_admin_page.
    app._page_hash = calc_hash("admin-products")
    app.run()

    assert _titles(app) == ["Customer portal"], "the menu should fall back to Home"
    assert "Import" not in _tab_labels(app)


def test_page_script_stops_for_customer(shop):
    app = AppTest.from_file(str(PAGE_FILE), default_timeout=TIMEOUT_SECONDS)
    user = CurrentUser(shop["customer_user"], "anna", "Anna", Role.CUSTOMER, shop["customer"], "en")
    app.session_state["request"] = Request(user, "en", shop["customer"], None, "EUR", "Europe/Amsterdam")

    app.run()

    assert not app.exception
    assert _titles(app) == []
    assert len(app.dataframe) == 0


def _open_tab(app, label):
    app.session_state[TAB_KEY] = label
    return open_page(app, PAGE)


def test_import_tab_offers_three_kinds(shop):
    app = sign_in(new_app(), shop["admin"])

    _open_tab(app, "Import")

    assert not app.exception
    assert list(app.radio[0].options) == ["Products", "Prices", "Stock"]
    assert len(app.dataframe) == 0, "only the open tab runs"


def test_photo_tab_shows_name_as_plain_text(shop, database):
    with database.write() as session:
        make_product(session, sku="X1", name="<script>alert(1)</script>")
    app = sign_in(new_app(), shop["admin"])
    _open_tab(app, "Photo")

    _field(app, "SKU of the product").input("X1").run()

    assert not app.exception
    assert "X1 · <script>alert(1)</script>" in [element.value for element in app.text]


def test_photo_tab_reports_unknown_sku(shop):
    app = sign_in(new_app(), shop["admin"])
    _open_tab(app, "Photo")

    _field(app, "SKU of the product").input("NOPE").run()

    assert "No product has the SKU NOPE" in " ".join(element.value for element in app.warning)
