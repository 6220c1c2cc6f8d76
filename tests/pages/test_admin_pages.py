import pytest
from streamlit.util import calc_hash

from portal.settings import load_settings
from tests.pages.conftest import link_labels, new_app, open_page, sign_in

ADMIN_PAGES = {
    "app_pages/admin.py": ("admin", "Admin"),
    "app_pages/admin_orders.py": ("admin-orders", "Orders (supplier)"),
    "app_pages/admin_backorders.py": ("admin-backorders", "Backorders (supplier)"),
    "app_pages/admin_stock.py": ("admin-stock", "Stock"),
    "app_pages/admin_settings.py": ("admin-settings", "Settings"),
    "app_pages/admin_history.py": ("admin-history", "Import history"),
    "app_pages/admin_audit.py": ("admin-audit", "Audit log"),
}


def _field(app, label):
    return next(field for field in app.text_input if field.label == label)


def _titles(app):
    return [element.value for element in app.title]


@pytest.mark.parametrize(("page", "title"), [(page, title) for page, (_, title) in ADMIN_PAGES.items()])
def test_admin_page_renders_for_admin(shop, page, title):
    app = sign_in(new_app(), shop["admin"])

    open_page(app, page)

    assert not app.exception
    assert title in _titles(app)


@pytest.mark.parametrize(("url_path", "title"), ADMIN_PAGES.values())
def test_admin_page_refused_to_customer(shop, url_path, title):
    app = sign_in(new_app(), shop["customer_user"]).run()

    app._page_hash = calc_hash(url_path)
    app.run()

    assert title not in _titles(app)
    assert _titles(app) == ["Customer portal"]


def test_admin_order_page_rejects_customer(shop, placed_order):
    app = sign_in(new_app(), shop["customer_user"]).run()
    app.query_params["order"] = placed_order

    app._page_hash = calc_hash("admin-order")
    app.run()

    assert _titles(app) == ["Customer portal"]
    assert [button.label for button in app.button if button.label == "Accept order"] == []


def test_admin_accepts_order_on_detail_page(shop, placed_order):
    app = sign_in(new_app(), shop["admin"])
    app.query_params["order"] = placed_order
    open_page(app, "app_pages/admin_order.py")

    next(button for button in app.button if button.label == "Accept order").click().run()

    assert not app.exception
    assert any("is accepted" in element.value for element in app.success)


def test_old_admin_order_link_opens_order_page(shop, placed_order):
    app = sign_in(new_app(), shop["admin"])
    app.query_params["order"] = placed_order

    open_page(app, "app_pages/admin_orders.py")

    assert not app.exception
    assert [title.value.replace("\\", "") for title in app.title] == [f"Order {placed_order}"]


def test_admin_order_list_shows_new_order(shop, placed_order):
    app = sign_in(new_app(), shop["admin"])

    open_page(app, "app_pages/admin_orders.py")

    assert placed_order in link_labels(app)


def test_settings_form_rejects_bad_values(shop, database):
    app = sign_in(new_app(), shop["admin"])
    open_page(app, "app_pages/admin_settings.py")

    _field(app, "VAT rates in %").input("21, abc")
    _field(app, "Currency").input("XYZ")
    next(button for button in app.button if button.label == "Save settings").click().run()

    errors = " ".join(element.value for element in app.error)
    assert "abc" in errors
    assert "XYZ" in errors
    with database.read() as session:
        assert load_settings(session).vat_rates == "21,9,0"


def test_stock_receipt_from_page(shop, database):
    app = sign_in(new_app(), shop["admin"])
    open_page(app, "app_pages/admin_stock.py")

    _field(app, "Quantity received").input("12")
    next(button for button in app.button if button.label == "Book receipt").click().run()

    assert not app.exception
    assert any("Receipt booked" in element.value for element in app.success)
