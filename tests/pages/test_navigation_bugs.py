from urllib.parse import parse_qsl

from streamlit.util import calc_hash

from tests.pages.conftest import new_app, open_page, sign_in


def _button(app, label):
    return next(button for button in app.button if button.label.replace("\\", "") == label)


def _follow_link(app, label):
    """Rerun with the link's query parameters, as a browser does on a click.

    AppTest cannot click a st.page_link, so the test reads where the link points.
    """
    link = next(link for link in app.get("page_link") if link.value.replace("\\", "") == label)
    assert link.proto.page == "products"
    for name, value in parse_qsl(link.proto.query_string):
        app.query_params[name] = value
    return app.run()


def test_product_opened_from_list_stays_open_after_add(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/products.py")

    _follow_link(app, "Product 1")
    _button(app, "Add").click().run()

    assert app.query_params["product"] == "SKU1"
    assert "Product 1" in [title.value.replace("\\", "") for title in app.title]


def test_back_from_product_closes_detail(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/products.py")
    _follow_link(app, "Product 1")

    _button(app, "⬅️ Back to products").click().run()

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
