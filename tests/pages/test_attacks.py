"""Attacks on the customer screens under AppTest: ids and junk in the URL, odd input in fields.

A test marked xfail documents a hole that is still open; it turns into a required pass
once the hole is closed.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal import cart, ordering
from portal.catalog import load_customer_context
from portal.i18n import translate
from portal.models import AssortmentMode, Cart, Customer, Product
from tests.factories import make_address, make_customer, make_product, make_user, select_products
from tests.pages.conftest import new_app, open_page, sign_in

NOT_FOUND = translate("en", "error.not_found")
JUNK = [
    "../../../../etc/passwd",
    "..%2F..%2Fportal.db",
    "<script>alert(1)</script>",
    "' OR '1'='1' --",
    "%00",
    "😀" * 20,
    "‮evil",
    "x" * 5000,
    "SKU0\n",
    "1e309",
    "-1",
]


@pytest.fixture
def rival(shop, database):
    """Set our company to a selection assortment and give a rival company an order of a product outside it."""
    with database.write() as session:
        ours = session.get(Customer, shop["customer"])
        ours.assortment_mode = AssortmentMode.SELECTION
        select_products(session, ours, *session.scalars(select(Product).where(Product.sku.like("SKU%"))))
        private = make_product(session, sku="PRIVATE", name="Private product", on_hand=1)
        theirs = make_customer(session, name="Rival B.V.")
        their_user = make_user(session, theirs, username="rival")
        their_address = make_address(session, theirs, name="Rival warehouse")
        ids = {"private": private.id, "theirs": theirs.id, "their_user": their_user}
    with database.write() as session:
        context = load_customer_context(session, ids["theirs"])
        cart.add_to_cart(session, context, their_user, ids["private"], 3)
        cart.set_details(session, context, their_user, comment="Rival secret comment", address_id=their_address.id)
        token = cart.get_cart(session, their_user, ids["theirs"]).checkout_token
        ids["their_order"] = ordering.place_order(session, context, their_user, token).number
    return ids


def open_with_parameter(shop, page: str, name: str, value: str):
    app = sign_in(new_app(), shop["customer_user"])
    app.query_params[name] = value
    return open_page(app, page)


def warnings(app) -> list[str]:
    return [element.value for element in app.warning]


def shown_text(app) -> str:
    """Return every title, Markdown, caption and text element of the run, joined."""
    parts = [element.value for element in (*app.title, *app.markdown, *app.caption, *app.text)]
    return " ".join(str(part) for part in parts)


def test_foreign_order_gets_not_found(shop, rival):
    app = open_with_parameter(shop, "app_pages/orders.py", "order", rival["their_order"])

    assert warnings(app) == [NOT_FOUND]


def test_foreign_order_shows_no_data(shop, rival):
    app = open_with_parameter(shop, "app_pages/orders.py", "order", rival["their_order"])

    assert "Rival" not in shown_text(app)
    assert not app.dataframe


def test_foreign_order_looks_missing(shop, rival):
    foreign = open_with_parameter(shop, "app_pages/orders.py", "order", rival["their_order"])
    missing = open_with_parameter(shop, "app_pages/orders.py", "order", "2999-999999")

    assert shown_text(foreign) == shown_text(missing)


def test_unlisted_product_looks_missing(shop, rival):
    outside = open_with_parameter(shop, "app_pages/products.py", "product", "PRIVATE")
    missing = open_with_parameter(shop, "app_pages/products.py", "product", "NO-SUCH-SKU")

    assert warnings(outside) == [NOT_FOUND]
    assert shown_text(outside) == shown_text(missing)


def test_unlisted_product_has_no_add(shop, rival):
    app = open_with_parameter(shop, "app_pages/products.py", "product", "PRIVATE")

    assert [button.label for button in app.button if button.label == "Add"] == []


@pytest.mark.parametrize("value", JUNK, ids=range(len(JUNK)))
def test_junk_order_parameter_gets_not_found(shop, value):
    app = open_with_parameter(shop, "app_pages/orders.py", "order", value)

    assert not app.exception
    assert warnings(app) == [NOT_FOUND]


@pytest.mark.parametrize("value", JUNK, ids=range(len(JUNK)))
def test_junk_product_parameter_gets_not_found(shop, value):
    app = open_with_parameter(shop, "app_pages/products.py", "product", value)

    assert not app.exception
    assert warnings(app) == [NOT_FOUND]


def test_nul_order_parameter_gets_not_found(shop):
    app = open_with_parameter(shop, "app_pages/orders.py", "order", "2024-000001\x00")

    assert not app.exception
    assert warnings(app) == [NOT_FOUND]


def test_nul_search_shows_no_error(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/products.py")

    app.text_input(key="product_search").input("Product\x00 1").run()

    assert not app.exception


def test_oversized_search_shows_no_error(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/products.py")

    app.text_input(key="product_search").set_value("Product " * 5_000).run()

    assert not app.exception


def test_oversized_comment_cut_to_maximum(shop, database):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/current_order.py")

    app.text_area[0].set_value("x" * (cart.MAX_COMMENT_LENGTH + 500)).run()

    with database.read() as session:
        saved = session.scalar(select(Cart.comment).where(Cart.user_id == shop["customer_user"]))
    assert len(saved) == cart.MAX_COMMENT_LENGTH


def test_nul_comment_causes_no_error(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/current_order.py")

    app.text_area[0].input("deliver\x00 later").run()

    assert not app.exception


def test_sign_out_forgets_typed_search(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/products.py")
    app.text_input(key="product_search").input("typed by the first user").run()

    app.switch_page("app_pages/sign_out.py").run()
    app.button(key="confirm_sign_out").click().run()

    assert "product_search" not in app.session_state
