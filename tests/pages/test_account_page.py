import datetime as dt

from portal import accounts
from tests.pages.conftest import new_app, open_page, sign_in

PASSWORD = "correct horse battery"


def _field(app, label):
    return next(field for field in app.text_input if field.label == label)


def _submit(app):
    next(button for button in app.button if button.label == "Change password").click().run()


def _change_password(app, new_password):
    """Fill the form with the right current password and `new_password` twice, and submit it."""
    _field(app, "Current password").input(PASSWORD)
    _field(app, "New password").input(new_password)
    _field(app, "New password again").input(new_password)
    _submit(app)


def test_password_change_keeps_this_browser_signed_in(shop, database):
    signed_in_before = dt.datetime.now(dt.UTC)
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/account.py")

    _change_password(app, "a fresh long password")
    app.switch_page("app_pages/products.py").run()

    assert not app.exception
    assert "Products" in [title.value for title in app.title]
    with database.read() as session:
        user = session.get(accounts.User, shop["customer_user"])
        assert accounts.check_password("a fresh long password", user.password_hash)
        assert accounts.current_user(session, user.id, signed_in_before) is None


def test_wrong_current_password_rejected(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/account.py")

    _field(app, "Current password").input("not my password")
    _field(app, "New password").input("a fresh long password")
    _field(app, "New password again").input("a fresh long password")
    _submit(app)

    assert [error.value for error in app.error] == ["The current password is incorrect."]


def test_mismatched_new_passwords_rejected(shop):
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/account.py")

    _field(app, "Current password").input(PASSWORD)
    _field(app, "New password").input("a fresh long password")
    _field(app, "New password again").input("another long password")
    _submit(app)

    assert any("differ" in error.value for error in app.error)


def test_password_changed_message_outlasts_cookie_rerun(shop):
    changed = "Your password is changed. Your other browsers and devices are signed out."
    app = sign_in(new_app(), shop["customer_user"])
    open_page(app, "app_pages/account.py")

    _change_password(app, "a fresh long password")
    after_change = [message.value for message in app.success]
    # The browser reports the new cookie back, which reruns the page once more.
    app.run()
    after_cookie_rerun = [message.value for message in app.success]
    app.run()
    later = [message.value for message in app.success]

    assert after_change == [changed]
    assert after_cookie_rerun == [changed]
    assert later == []
