from streamlit.util import calc_hash

from tests.pages.conftest import follow_link, new_app, open_page, sign_in


def _button(app, label):
    return next(button for button in app.button if button.label.replace("\\", "") == label)


def test_product_opened_from_list_stays_open_after_add(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/products.py")

    follow_link(app, "Product 1")
    _button(app, "Add").click().run()

    assert app.query_params["product"] == "SKU1"
    assert "Product 1" in [title.value.replace("\\", "") for title in app.title]


def test_back_from_product_closes_detail(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/products.py")
    follow_link(app, "Product 1")

    follow_link(app, "Back to products")

    assert "product" not in app.query_params
    assert "Products" in [title.value for title in app.title]


def test_sign_in_on_sign_out_url_stays_signed_in(shop):
    app = new_app().run()
    # What a browser sends after Back to /sign-out.
    app._page_hash = calc_hash("sign-out")
    app.run()

    next(field for field in app.text_input if field.label == "Username").input("anna")
    next(field for field in app.text_input if field.label == "Password").input("correct horse battery")
    next(button for button in app.button if button.label == "Sign in").click().run()

    assert not app.exception
    assert app.session_state["user_id"] == shop["customer_user"]
    assert "Customer portal" in [title.value for title in app.title]
    assert [field.label for field in app.text_input if field.label == "Password"] == []


def test_order_link_opens_order_page(shop, placed_order):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/orders.py")

    follow_link(app, placed_order)

    assert not app.exception
    assert app.query_params["order"] == placed_order
    assert [title.value.replace("\\", "") for title in app.title] == [f"Order {placed_order}"]


def test_old_order_link_opens_order_page(shop, placed_order):
    app = sign_in(new_app(), shop["customer_user"])
    app.query_params["order"] = placed_order

    open_page(app, "app_pages/orders.py")

    assert not app.exception
    assert [title.value.replace("\\", "") for title in app.title] == [f"Order {placed_order}"]


def test_old_product_link_opens_product_page(shop):
    app = sign_in(new_app(), shop["customer_user"])
    app.query_params["product"] = "SKU1"

    open_page(app, "app_pages/products.py")

    assert not app.exception
    assert [title.value.replace("\\", "") for title in app.title] == ["Product 1"]


def test_order_page_without_number_shows_list(shop, placed_order):
    app = sign_in(new_app(), shop["customer_user"])

    open_page(app, "app_pages/order.py")

    assert not app.exception
    assert [title.value for title in app.title] == ["Orders"]
