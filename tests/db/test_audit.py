import datetime as dt

from sqlalchemy import select

from portal import accounts, stock
from portal.models import AuditEvent
from tests.factories import make_customer, make_product, make_user

PASSWORD = "correct horse battery"


def _actions(database):
    with database.read() as session:
        return [event.action for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def _all_text(database):
    with database.read() as session:
        return " ".join(
            f"{event.actor_username} {event.object_id} {event.detail}" for event in session.scalars(select(AuditEvent))
        )


def test_failed_attempts_and_lockout_logged(database):
    with database.write() as session:
        make_user(session, make_customer(session), username="anna")
    for _ in range(5):
        with database.write() as session:
            accounts.record_failed_sign_in(session, "anna", dt.datetime(2026, 12, 1, tzinfo=dt.UTC))

    assert _actions(database) == ["sign_in_failed"] * 5 + ["account_locked"]


def test_unknown_username_attempt_logged_with_typed_name(database):
    with database.write() as session:
        accounts.record_failed_sign_in(session, "Mallory")

    with database.read() as session:
        event = session.scalars(select(AuditEvent)).one()
    assert (event.action, event.actor_username, event.actor_id) == ("sign_in_failed", "mallory", None)


def test_password_change_logged_without_password(database):
    with database.write() as session:
        user_id = make_user(session, make_customer(session), username="anna", password=PASSWORD)
    with database.write() as session:
        accounts.change_password(session, user_id, PASSWORD, "brand new secret words")

    assert _actions(database) == ["password_changed"]
    assert "brand new secret" not in _all_text(database)
    assert PASSWORD not in _all_text(database)


def test_sign_in_and_sign_out_logged(database):
    with database.write() as session:
        user_id = make_user(session, make_customer(session), username="anna")
    with database.write() as session:
        accounts.record_successful_sign_in(session, "anna")
        accounts.sign_out(session, user_id)

    assert _actions(database) == ["sign_in", "sign_out"]


def test_stock_changes_logged_with_admin(database):
    with database.write() as session:
        product_id = make_product(session, sku="LOG1").id
        admin_id = make_user(session, None, username="boss", role=accounts.Role.ADMIN)
    with database.write() as session:
        stock.receive_stock(session, product_id, 4, "PO-9", admin_id)
        stock.correct_stock(session, product_id, -1, "broken", admin_id)

    with database.read() as session:
        events = [(event.action, event.actor_id, event.object_id) for event in session.scalars(select(AuditEvent))]
    assert events == [("stock_received", admin_id, "LOG1"), ("stock_corrected", admin_id, "LOG1")]
