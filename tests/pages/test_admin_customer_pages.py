from decimal import Decimal

import pytest
from sqlalchemy import select
from streamlit.util import calc_hash

from portal import accounts, price_admin
from portal.models import Customer, PriceListItem, User
from tests.factories import make_product
from tests.pages.conftest import new_app, open_page, sign_in

PAGES = {
    "app_pages/admin_customers.py": ("admin-customers", "Customers and accounts"),
    "app_pages/admin_prices.py": ("admin-prices", "Prices"),
}
CUSTOMERS_PAGE = "app_pages/admin_customers.py"
PRICES_PAGE = "app_pages/admin_prices.py"


def _titles(app):
    return [element.value for element in app.title]


def _field(app, label):
    return next(field for field in app.text_input if field.label == label)


def _users_tab(app):
    return next(tab for tab in app.tabs if tab.label == "Users")


def test_only_open_tab_runs(shop):
    app = sign_in(new_app(), shop["admin"])
    _open_customer(app, shop["customer"], "Users")

    assert not app.exception
    assert _button(app, "Create user")
    assert not [button for button in app.button if button.label == "Save company"]


def _button(app, label):
    return next(button for button in app.button if button.label == label)


def _texts(elements):
    return " ".join(str(element.value) for element in elements)


@pytest.mark.parametrize(("page", "title"), [(page, title) for page, (_, title) in PAGES.items()])
def test_page_renders_for_admin(shop, page, title):
    app = sign_in(new_app(), shop["admin"])

    open_page(app, page)

    assert not app.exception
    assert title in _titles(app)


@pytest.mark.parametrize(("url_path", "title"), PAGES.values())
def test_page_refused_to_customer(shop, url_path, title):
    app = sign_in(new_app(), shop["customer_user"]).run()

    # What a browser sends for the page's URL: see test_customer_never_gets_admin_page.
    app._page_hash = calc_hash(url_path)
    app.run()

    assert title not in _titles(app)
    assert _titles(app) == ["Customer portal"], "the menu should fall back to Home"


def _open_customer(app, customer_id, tab):
    app.session_state["admin_customer_choice"] = customer_id
    app.session_state["admin_customer_tab"] = tab
    return open_page(app, CUSTOMERS_PAGE)


def test_admin_creates_customer(shop, database):
    app = sign_in(new_app(), shop["admin"])
    open_page(app, CUSTOMERS_PAGE)

    _field(app, "Customer number").input("K-77")
    _field(app, "Company name").input("<b>Koffie</b> & Co")
    _button(app, "Save company").click().run()

    assert not app.exception
    assert "The customer is created" in _texts(app.success)
    with database.read() as session:
        customer = session.scalar(select(Customer).where(Customer.number == "K-77"))
    assert customer.name == "<b>Koffie</b> & Co"
    assert app.session_state["admin_customer_choice"] == customer.id
    assert "\\<b\\>Koffie\\</b\\> \\& Co" in _texts(app.subheader), "the name is escaped Markdown"


def test_empty_company_form_names_each_field(shop):
    app = sign_in(new_app(), shop["admin"])
    open_page(app, CUSTOMERS_PAGE)

    _button(app, "Save company").click().run()

    errors = _texts(app.error)
    assert "Customer number: enter the customer number." in errors
    assert "Company name: enter the company name." in errors


def test_duplicate_number_rejected_on_page(shop, database):
    with database.read() as session:
        taken = session.get(Customer, shop["customer"]).number
    app = sign_in(new_app(), shop["admin"])
    open_page(app, CUSTOMERS_PAGE)

    _field(app, "Customer number").input(taken)
    _field(app, "Company name").input("Copy")
    _button(app, "Save company").click().run()

    assert f"{taken} belongs to another customer" in _texts(app.error)


def test_new_user_password_shown_once(shop, database):
    app = sign_in(new_app(), shop["admin"])
    _open_customer(app, shop["customer"], "Users")

    _field(_users_tab(app), "Username").input("piet")
    _field(_users_tab(app), "Name").input("Piet Jansen")
    _field(_users_tab(app), "Email").input("piet@example.com")
    _button(app, "Create user").click().run()

    assert not app.exception
    password = app.code[0].value
    with database.read() as session:
        account = accounts.account_for_sign_in(session, "piet")
    assert accounts.check_password(password, account.password_hash)
    assert "shown only now" in _texts(app.warning)

    app.run()

    assert [element.value for element in app.code] == []


def test_invalid_email_rejected_on_page(shop, database):
    app = sign_in(new_app(), shop["admin"])
    _open_customer(app, shop["customer"], "Users")

    _field(_users_tab(app), "Username").input("piet")
    _field(_users_tab(app), "Name").input("Piet")
    _field(_users_tab(app), "Email").input("piet@")
    _button(app, "Create user").click().run()

    assert 'Email: "piet@" is not a valid email address' in _texts(app.error)
    with database.read() as session:
        assert session.scalar(select(User.id).where(User.username == "piet")) is None


def test_admin_deactivates_user_on_page(shop, database):
    app = sign_in(new_app(), shop["admin"])
    _open_customer(app, shop["customer"], "Users")

    _button(app, "Deactivate user").click().run()

    assert not app.exception
    assert "is deactivated and signed out everywhere" in _texts(app.success)
    with database.read() as session:
        assert session.get(User, shop["customer_user"]).active is False


def test_group_added_to_selection_on_page(shop, database):
    with database.write() as session:
        for number in range(3):
            make_product(session, sku=f"COF{number}", name=f"Coffee {number}", product_group="Coffee")
    app = sign_in(new_app(), shop["admin"])
    _open_customer(app, shop["customer"], "Assortment")

    _button(app, "Add all 3 products of this group").click().run()

    assert not app.exception
    assert "3 products added to the selection." in _texts(app.success)
    assert "Selection: 3 products" in _texts(app.markdown)


def test_search_preview_counts_matches(shop):
    app = sign_in(new_app(), shop["admin"])
    _open_customer(app, shop["customer"], "Assortment")

    _field(app, "Search products").input("product").run()

    assert "3 active products match." in _texts(app.caption)
    assert _button(app, "Add all 3 matches")


def test_bad_discount_rejected_on_page(shop, database):
    app = sign_in(new_app(), shop["admin"])
    _open_customer(app, shop["customer"], "Prices")

    _field(app, "Discount in %").input("101")
    _button(app, "Save prices").click().run()

    assert "Discount: 101 is more than 100" in _texts(app.error)
    with database.read() as session:
        assert session.get(Customer, shop["customer"]).discount_percent == 0


def test_staff_section_lists_admins(shop):
    app = sign_in(new_app(), shop["admin"])
    open_page(app, CUSTOMERS_PAGE)

    app.radio(key="admin_customers_section").set_value("staff").run()

    assert not app.exception
    assert _button(app, "Create user")
    assert "boss (Test User)" in app.selectbox(key="manage_user_staff").options


@pytest.fixture
def price_list(shop, database):
    with database.write() as session:
        return price_admin.create_price_list(session, shop["admin"], "Horeca").id


def test_admin_sets_volume_price(shop, database, price_list):
    app = sign_in(new_app(), shop["admin"])
    open_page(app, PRICES_PAGE)

    _field(app, "Product code").input("SKU1")
    _field(app, "From quantity").input("10")
    _field(app, "Unit price excl. VAT").input("0,1255")
    _button(app, "Save price").click().run()

    assert not app.exception
    assert "Saved: SKU1 from 10 at €0.1255." in _texts(app.success)
    with database.read() as session:
        item = session.scalar(select(PriceListItem))
    assert item.unit_price == Decimal("0.1255")
    assert "SKU1" in [element.value for element in app.text]


def test_bad_price_row_names_each_field(shop, database, price_list):
    app = sign_in(new_app(), shop["admin"])
    open_page(app, PRICES_PAGE)

    _field(app, "Product code").input("SKU1")
    _field(app, "From quantity").input("1.5")
    _field(app, "Unit price excl. VAT").input("1.23456")
    _button(app, "Save price").click().run()

    # Typed values reach the page as escaped Markdown: 1\.5 shows as 1.5.
    errors = _texts(app.error)
    assert 'From quantity: "1\\.5" is not a whole number' in errors
    assert "Unit price: 1\\.23456 has more than four decimals" in errors
    with database.read() as session:
        assert session.scalar(select(PriceListItem.id)) is None


def test_admin_creates_price_list(shop, database):
    app = sign_in(new_app(), shop["admin"])
    open_page(app, PRICES_PAGE)

    _field(app, "New price list").input("Retail")
    _button(app, "Create").click().run()

    assert not app.exception
    assert "The price list is created" in _texts(app.success)
    assert app.selectbox(key="admin_price_list_choice").value is not None
