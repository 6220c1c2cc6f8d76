import pytest
from streamlit.util import calc_hash

from portal.models import Customer
from tests.pages.conftest import new_app, open_page, sign_in

CUSTOMER_PAGES = {
    "app_pages/home.py": "Customer portal",
    "app_pages/products.py": "Products",
    "app_pages/orders.py": "Orders",
    "app_pages/backorders.py": "Backorders",
    "app_pages/current_order.py": "Current order",
}
ALL_PAGES = [*CUSTOMER_PAGES, "app_pages/admin.py", "app_pages/sign_out.py"]


def _titles(app):
    return [element.value for element in app.title]


def _markdown(app):
    return " ".join(str(element.value) for element in app.markdown)


@pytest.mark.parametrize(("page", "title"), CUSTOMER_PAGES.items())
def test_customer_page_renders(shop, page, title):
    app = sign_in(new_app(), shop["customer_user"])

    open_page(app, page)

    assert not app.exception
    assert title in _titles(app)


@pytest.mark.parametrize("page", ALL_PAGES)
def test_signed_out_page_shows_only_login_form(shop, page):
    app = new_app()

    open_page(app, page)

    assert not app.exception
    assert [field.label for field in app.text_input] == ["Username", "Password"]
    assert _titles(app) == ["Customer portal"]
    assert "Product 0" not in _markdown(app)


def test_customer_never_gets_admin_page(shop):
    app = sign_in(new_app(), shop["customer_user"]).run()

    # What a browser sends for the URL /admin: the hash of the page's URL path. AppTest's
    # switch_page refuses pages missing from the menu, so the hash is set directly.
    app._page_hash = calc_hash("admin")
    app.run()

    assert "Admin" not in _titles(app)
    assert "Run the portal from here" not in _markdown(app)
    assert _titles(app) == ["Customer portal"], "the menu should fall back to Home"


def test_admin_gets_admin_page(shop):
    app = sign_in(new_app(), shop["admin"])

    open_page(app, "app_pages/admin.py")

    assert not app.exception
    assert "Admin" in _titles(app)


def test_admin_sees_customer_pages_for_chosen_customer(shop):
    app = sign_in(new_app(), shop["admin"])
    app.session_state["acting_customer_id"] = shop["customer"]

    open_page(app, "app_pages/products.py")

    assert not app.exception
    assert "SKU0" in [element.value for element in app.text]


def test_admin_acting_for_deactivated_customer_stops(shop, database):
    app = sign_in(new_app(), shop["admin"])
    app.session_state["acting_customer_id"] = shop["customer"]
    open_page(app, "app_pages/products.py")
    with database.write() as session:
        session.get(Customer, shop["customer"]).active = False

    app.run()

    assert not app.exception
    assert any("Pick a customer" in element.value for element in app.info)
    assert "SKU0" not in [element.value for element in app.text]


def test_admin_without_customer_asked_to_pick_one(shop):
    app = sign_in(new_app(), shop["admin"])

    open_page(app, "app_pages/products.py")

    assert not app.exception
    assert any("Pick a customer" in element.value for element in app.info)


def test_products_page_lists_products(shop):
    app = sign_in(new_app(), shop["customer_user"])

    open_page(app, "app_pages/products.py")

    skus = [element.value for element in app.text if element.value.startswith("SKU")]
    assert skus == ["SKU0", "SKU1", "SKU2"]


def test_current_order_warns_of_backorder(shop):
    app = sign_in(new_app(), shop["customer_user"])

    open_page(app, "app_pages/current_order.py")

    assert any("2 will be backordered" in str(element.value) for element in app.caption)


def test_bad_quantity_in_current_order_names_the_line(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/current_order.py")

    app.text_input(key="cart_quantity_1").input("1,5")
    app.button[0].click().run()

    assert any("SKU0" in element.value and "not a whole number" in element.value for element in app.error)


def test_dutch_user_sees_dutch_menu(shop, database):
    from portal import accounts

    with database.write() as session:
        accounts.set_language(session, shop["customer_user"], "nl")
    app = sign_in(new_app(), shop["customer_user"])

    open_page(app, "app_pages/products.py")

    assert "Artikelen" in _titles(app)


def test_comment_kept_when_leaving_page(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/current_order.py")

    app.text_area[0].input("Deliver after 10:00").run()
    app.switch_page("app_pages/products.py").run()
    app.switch_page("app_pages/current_order.py").run()

    assert app.text_area[0].value == "Deliver after 10:00"


def test_place_order_from_current_order_page(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/current_order.py")

    app.text_area[0].input("Leave at the back door")
    next(button for button in app.button if button.label == "Place order").click().run()

    assert not app.exception
    assert any("is placed" in element.value for element in app.success)


@pytest.mark.parametrize("key", ["some_key", "too short"])
def test_bad_cookie_key_stops_start_with_setting_name(app_environment, monkeypatch, key):
    monkeypatch.setenv("PORTAL_COOKIE_KEY", key)

    app = new_app().run()

    assert not app.exception
    assert any("PORTAL_COOKIE_KEY" in error.value.replace("\\", "") for error in app.error)
    assert [field.label for field in app.text_input] == []


def _sidebar_captions(app):
    return [element.value for element in app.sidebar.caption]


def test_add_from_list_shows_badge_and_cart_summary(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/products.py")
    assert _sidebar_captions(app) == ["1 lines · €7.00 excl. VAT"]

    app.text_input(key="list_quantity_2").input("3")
    app.button(key="list_add_2").click().run()

    assert not app.exception
    assert "✅ 3" in _markdown(app)
    assert _sidebar_captions(app) == ["2 lines · €10.00 excl. VAT"]
    assert [field.value for field in app.text_input if field.label == "Quantity of SKU1"] == ["1"]


def test_add_from_list_twice_adds_up(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/products.py")

    app.button(key="list_add_2").click().run()
    app.button(key="list_add_2").click().run()

    assert "✅ 2" in _markdown(app)


def test_bad_quantity_in_list_shows_error(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/products.py")

    app.text_input(key="list_quantity_2").input("1,5")
    app.button(key="list_add_2").click().run()

    assert any("not a whole number" in element.value for element in app.error)
    assert _sidebar_captions(app) == ["1 lines · €7.00 excl. VAT"]
