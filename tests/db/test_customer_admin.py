import datetime as dt
import logging

import pytest
from sqlalchemy import func, select

from portal import accounts, customer_admin
from portal.customer_admin import AddressInput, CustomerInput, UserInput
from portal.errors import NotFound, Problems
from portal.models import Address, AuditEvent, Customer, Role, StockDisplay, User, utc_now
from tests.factories import make_customer, make_user

ADMIN_ID = 999


@pytest.fixture(autouse=True)
def acting_admin(database):
    """Create the admin whose id the changes carry: audit events refer to a real user."""
    with database.write() as session:
        session.add(User(id=ADMIN_ID, username="acting-admin", name="Admin", password_hash="-", role=Role.ADMIN))


def _codes(error: Problems) -> list[str]:
    return [problem.code for problem in error.problems]


def _customer_input(**fields):
    values = {"number": "K100", "name": "Koffie & Co", "vat_number": "NL123456789B01", "country": "Nederland"}
    values.update(fields)
    return CustomerInput(**values)


def _address_input(**fields):
    values = {"name": "Magazijn", "street": "Kade 1", "postcode": "1011 AA", "city": "Amsterdam", "country": "NL"}
    values.update(fields)
    return AddressInput(**values)


@pytest.fixture
def customer_id(database):
    with database.write() as session:
        return customer_admin.create_customer(session, ADMIN_ID, _customer_input()).id


@pytest.fixture
def admin_id(database):
    with database.write() as session:
        return make_user(session, None, username="boss", role=Role.ADMIN)


# Customer companies


def test_create_customer_stores_fields(database):
    with database.write() as session:
        created = customer_admin.create_customer(
            session, ADMIN_ID, _customer_input(vat_number="nl 1234.567.89.b01", stock_display="exact", language="en")
        )
    with database.read() as session:
        customer = session.get(Customer, created.id)

        assert customer.number == "K100"
        assert customer.vat_number == "NL123456789B01"
        assert customer.stock_display is StockDisplay.EXACT
        assert customer.language == "en"
        assert customer.active is True


def test_duplicate_customer_number_rejected(database, customer_id):
    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.create_customer(session, ADMIN_ID, _customer_input(number="k100", name="Other"))

    assert _codes(raised.value) == ["customer.number_taken"]


def test_update_may_keep_own_number(database, customer_id):
    with database.write() as session:
        customer_admin.update_customer(session, ADMIN_ID, customer_id, _customer_input(name="Koffie B.V."))

    with database.read() as session:
        assert session.get(Customer, customer_id).name == "Koffie B.V."


def test_update_to_taken_number_rejected(database, customer_id):
    with database.write() as session:
        make_customer(session, number="K200")

    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.update_customer(session, ADMIN_ID, customer_id, _customer_input(number="K200"))

    assert _codes(raised.value) == ["customer.number_taken"]


def test_customer_reports_every_problem_at_once(database):
    values = CustomerInput(number="  ", name="", vat_number="not a vat", language="fr", stock_display="loud")

    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.create_customer(session, ADMIN_ID, values)

    assert _codes(raised.value) == [
        "customer.number_missing",
        "customer.name_missing",
        "customer.vat_number_invalid",
        "customer.language_invalid",
        "customer.stock_display_invalid",
    ]


def test_rejected_customer_is_not_saved(database):
    with database.write() as session, pytest.raises(Problems):
        customer_admin.create_customer(session, ADMIN_ID, _customer_input(name=""))

    with database.read() as session:
        assert session.scalar(select(func.count(Customer.id))) == 0


def test_rejected_update_changes_nothing(database, customer_id):
    with database.write() as session, pytest.raises(Problems):
        customer_admin.update_customer(session, ADMIN_ID, customer_id, _customer_input(name="New", vat_number="??"))

    with database.read() as session:
        assert session.get(Customer, customer_id).name == "Koffie & Co"


def test_too_long_name_rejected(database):
    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.create_customer(session, ADMIN_ID, _customer_input(name="x" * 201))

    assert _codes(raised.value) == ["customer.name_too_long"]


def test_html_in_name_stored_as_typed(database):
    name = "<script>alert('x')</script> **Bold**"
    with database.write() as session:
        created = customer_admin.create_customer(session, ADMIN_ID, _customer_input(name=name))

    with database.read() as session:
        assert session.get(Customer, created.id).name == name


def test_deactivating_customer_ends_user_sessions(database, customer_id):
    with database.write() as session:
        user_id = make_user(session, session.get(Customer, customer_id), username="anna")
    signed_in_at = utc_now()
    cookie_issued_at = utc_now()

    with database.write() as session:
        customer_admin.deactivate_customer(session, ADMIN_ID, customer_id)

    with database.read() as session:
        assert accounts.current_user(session, user_id, signed_in_at) is None
        assert accounts.user_for_cookie(session, "anna", cookie_issued_at) is None
        assert accounts.account_for_sign_in(session, "anna") is None


def test_reactivated_customer_user_signs_in_again(database, customer_id):
    with database.write() as session:
        make_user(session, session.get(Customer, customer_id), username="anna")
        customer_admin.deactivate_customer(session, ADMIN_ID, customer_id)
    with database.write() as session:
        customer_admin.reactivate_customer(session, ADMIN_ID, customer_id)

    with database.read() as session:
        assert accounts.account_for_sign_in(session, "anna") is not None


def test_search_customers_matches_number_and_name(database):
    with database.write() as session:
        make_customer(session, number="A-1", name="Bakkerij Jansen")
        make_customer(session, number="B-2", name="Slagerij Pietersen", active=False)
        make_customer(session, number="C-3", name="Jansen Koffie")

    with database.read() as session:
        matches = customer_admin.search_customers(session, "jansen")
        inactive = customer_admin.search_customers(session, "b-2")

    assert [row.number for row in matches.rows] == ["A-1", "C-3"]
    assert [row.active for row in inactive.rows] == [False]


def test_search_customers_is_cut_off_with_total(database):
    with database.write() as session:
        for number in range(7):
            make_customer(session, number=f"N{number}", name="Same name")

    with database.read() as session:
        matches = customer_admin.search_customers(session, "same", limit=5)

    assert len(matches.rows) == 5
    assert matches.total == 7


def test_search_customers_treats_percent_literally(database):
    with database.write() as session:
        make_customer(session, number="P1", name="100% Koffie")
        make_customer(session, number="P2", name="Thee")

    with database.read() as session:
        matches = customer_admin.search_customers(session, "%")

    assert [row.number for row in matches.rows] == ["P1"]


# Delivery addresses


def _addresses(database, customer_id):
    with database.read() as session:
        return customer_admin.list_customer_addresses(session, customer_id)


def test_first_address_becomes_default(database, customer_id):
    with database.write() as session:
        customer_admin.create_address(session, ADMIN_ID, customer_id, _address_input())

    assert [row.is_default for row in _addresses(database, customer_id)] == [True]


def test_new_default_address_replaces_old_one(database, customer_id):
    with database.write() as session:
        customer_admin.create_address(session, ADMIN_ID, customer_id, _address_input(name="First"))
        customer_admin.create_address(session, ADMIN_ID, customer_id, _address_input(name="Second", is_default=True))

    defaults = [row.name for row in _addresses(database, customer_id) if row.is_default]
    assert defaults == ["Second"]


def test_default_cannot_be_unticked(database, customer_id):
    with database.write() as session:
        address_id = customer_admin.create_address(session, ADMIN_ID, customer_id, _address_input()).id

    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.update_address(session, ADMIN_ID, address_id, _address_input(is_default=False))

    assert _codes(raised.value) == ["customer.address_default_required"]


def test_deactivating_default_moves_default(database, customer_id):
    with database.write() as session:
        first = customer_admin.create_address(session, ADMIN_ID, customer_id, _address_input(name="First")).id
        customer_admin.create_address(session, ADMIN_ID, customer_id, _address_input(name="Second"))
    with database.write() as session:
        customer_admin.deactivate_address(session, ADMIN_ID, first)

    rows = _addresses(database, customer_id)
    assert [(row.name, row.is_default) for row in rows] == [("Second", True)]


def test_address_reports_every_empty_field(database, customer_id):
    empty = AddressInput(name=" ", street="", postcode="", city="", country="")

    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.create_address(session, ADMIN_ID, customer_id, empty)

    assert _codes(raised.value) == [
        "customer.address_name_missing",
        "customer.street_missing",
        "customer.postcode_missing",
        "customer.city_missing",
        "customer.address_country_missing",
    ]
    with database.read() as session:
        assert session.scalar(select(func.count(Address.id))) == 0


def test_address_of_unknown_customer_not_found(database):
    with database.write() as session, pytest.raises(NotFound):
        customer_admin.create_address(session, ADMIN_ID, 12345, _address_input())


# User accounts


def _user_input(**fields):
    values = {"username": "Anna", "name": "Anna de Vries", "email": "anna@example.com"}
    values.update(fields)
    return UserInput(**values)


def test_created_user_signs_in_with_shown_password(database, customer_id):
    with database.write() as session:
        created = customer_admin.create_user_with_password(session, ADMIN_ID, customer_id, _user_input())

    with database.read() as session:
        account = accounts.account_for_sign_in(session, "anna")
        user = session.get(User, created.user_id)

        assert created.username == "anna"
        assert accounts.check_password(created.password, account.password_hash)
        assert created.password not in user.password_hash
        assert user.language == "nl", "a customer user gets the company's language"


def test_generated_passwords_are_strong_and_differ():
    passwords = {customer_admin.generate_password() for _ in range(20)}

    assert len(passwords) == 20
    assert all(len(password) >= accounts.MIN_PASSWORD_LENGTH for password in passwords)


def test_password_never_logged(database, customer_id, caplog):
    caplog.set_level(logging.DEBUG)
    with database.write() as session:
        created = customer_admin.create_user_with_password(session, ADMIN_ID, customer_id, _user_input())
        reset = customer_admin.reset_password(session, ADMIN_ID, created.user_id)

    assert created.password not in caplog.text
    assert reset.password not in caplog.text
    assert reset.password not in repr(reset)
    assert f"Admin {ADMIN_ID} created user {created.user_id}" in caplog.text


def test_duplicate_username_rejected(database, customer_id):
    with database.write() as session:
        customer_admin.create_user_with_password(session, ADMIN_ID, customer_id, _user_input())

    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.create_user_with_password(session, ADMIN_ID, customer_id, _user_input(username=" ANNA "))

    assert _codes(raised.value) == ["user.username_taken"]


def test_customer_user_needs_company(database):
    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.create_user_with_password(session, ADMIN_ID, None, _user_input(role="customer"))

    assert _codes(raised.value) == ["user.customer_missing"]


def test_admin_with_company_rejected(database, customer_id):
    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.create_user_with_password(session, ADMIN_ID, customer_id, _user_input(role="admin"))

    assert _codes(raised.value) == ["user_admin.admin_with_customer"]


def test_admin_without_company_created(database):
    with database.write() as session:
        created = customer_admin.create_user_with_password(session, ADMIN_ID, None, _user_input(role="admin"))

    with database.read() as session:
        assert session.get(User, created.user_id).role is Role.ADMIN


@pytest.mark.parametrize("email", ["anna", "anna@", "anna@example", "an na@example.com", "a@b@example.com"])
def test_invalid_email_rejected(database, customer_id, email):
    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.create_user_with_password(session, ADMIN_ID, customer_id, _user_input(email=email))

    assert _codes(raised.value) == ["user_admin.email_invalid"]


def test_user_reports_every_problem_at_once(database):
    values = UserInput(username="", name="", email="nope", role="customer")

    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.create_user_with_password(session, ADMIN_ID, None, values)

    assert _codes(raised.value) == [
        "user.username_missing",
        "user_admin.name_missing",
        "user_admin.email_invalid",
        "user.customer_missing",
    ]
    with database.read() as session:
        assert session.scalar(select(func.count(User.id)).where(User.id != ADMIN_ID)) == 0


@pytest.mark.parametrize("username", ["ab", "anna de vries", "<b>anna</b>"])
def test_bad_username_rejected(database, customer_id, username):
    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.create_user_with_password(session, ADMIN_ID, customer_id, _user_input(username=username))

    assert _codes(raised.value)[0] in {"user_admin.username_length", "user_admin.username_invalid"}


@pytest.fixture
def anna(database, customer_id):
    with database.write() as session:
        return customer_admin.create_user_with_password(session, ADMIN_ID, customer_id, _user_input())


def test_reset_password_replaces_password_and_cookies(database, anna):
    signed_in_at = utc_now()
    with database.write() as session:
        reset = customer_admin.reset_password(session, ADMIN_ID, anna.user_id)

    with database.read() as session:
        account = accounts.account_for_sign_in(session, "anna")

        assert accounts.check_password(reset.password, account.password_hash)
        assert not accounts.check_password(anna.password, account.password_hash)
        assert accounts.current_user(session, anna.user_id, signed_in_at) is None


def test_admin_cannot_reset_own_password(database, admin_id):
    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.reset_password(session, admin_id, admin_id)

    assert _codes(raised.value) == ["user_admin.reset_own_password"]


def test_unlock_lifts_lockout(database, anna):
    with database.write() as session:
        for _ in range(accounts.MAX_FAILED_ATTEMPTS):
            accounts.record_failed_sign_in(session, "anna")
    with database.read() as session:
        assert [row.status for row in customer_admin.list_users(session, anna_customer(session))] == ["locked"]

    with database.write() as session:
        customer_admin.unlock_user(session, ADMIN_ID, anna.user_id)

    with database.read() as session:
        assert accounts.account_for_sign_in(session, "anna") is not None


def anna_customer(session):
    return session.scalar(select(User.customer_id).where(User.username == "anna"))


def test_deactivated_user_cannot_sign_in_or_use_cookie(database, anna):
    signed_in_at = utc_now()
    cookie_issued_at = utc_now() - dt.timedelta(minutes=1)
    with database.write() as session:
        customer_admin.deactivate_user(session, ADMIN_ID, anna.user_id)

    with database.read() as session:
        assert accounts.account_for_sign_in(session, "anna") is None
        assert accounts.user_for_cookie(session, "anna", cookie_issued_at) is None
        assert accounts.current_user(session, anna.user_id, signed_in_at) is None
        assert [row.status for row in customer_admin.list_users(session, anna_customer(session))] == ["deactivated"]


def test_reactivated_user_keeps_old_cookies_invalid(database, anna):
    cookie_issued_at = utc_now()
    with database.write() as session:
        customer_admin.deactivate_user(session, ADMIN_ID, anna.user_id)
    with database.write() as session:
        customer_admin.reactivate_user(session, ADMIN_ID, anna.user_id)

    with database.read() as session:
        assert accounts.account_for_sign_in(session, "anna") is not None
        assert accounts.user_for_cookie(session, "anna", cookie_issued_at) is None


def test_admin_cannot_deactivate_self(database, admin_id):
    with database.write() as session, pytest.raises(Problems) as raised:
        customer_admin.deactivate_user(session, admin_id, admin_id)

    assert _codes(raised.value) == ["user_admin.deactivate_self"]


def test_staff_list_holds_admins_only(database, anna, admin_id):
    with database.read() as session:
        staff = customer_admin.list_users(session, None)

    assert [(row.username, row.status) for row in staff] == [("acting-admin", "active"), ("boss", "active")]


def test_user_changes_audited_without_password(database, anna):
    with database.write() as session:
        reset = customer_admin.reset_password(session, ADMIN_ID, anna.user_id)

    with database.read() as session:
        events = session.execute(
            select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.object_id, AuditEvent.detail).order_by(
                AuditEvent.id
            )
        ).all()

    assert [(action, actor, object_id) for action, actor, object_id, _ in events[-2:]] == [
        ("user_created", ADMIN_ID, str(anna.user_id)),
        ("password_reset", ADMIN_ID, str(anna.user_id)),
    ]
    assert all(anna.password not in detail and reset.password not in detail for *_, detail in events)
