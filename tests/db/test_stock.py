import datetime as dt

import pytest
from sqlalchemy import select

from portal import cart, order_admin, ordering, stock
from portal.catalog import load_customer_context
from portal.errors import PortalError
from portal.integrity import check_invariants
from portal.models import MovementKind, Order, OrderLine, OrderStatus, Product, StockMovement
from tests.factories import make_address, make_customer, make_product, make_user


@pytest.fixture
def backorders(database):
    """Three orders of one product with 0 on hand: backorders of 5, 5 and 2, in that order."""
    with database.write() as session:
        product_id = make_product(session, sku="FIFO", on_hand=0).id
        customer = make_customer(session)
        address_id = make_address(session, customer).id
        user_id = make_user(session, customer)
        customer_id = customer.id
    order_ids = []
    for quantity in (5, 5, 2):
        order_ids.append(_order(database, customer_id, user_id, address_id, product_id, quantity))
    return {"product": product_id, "orders": order_ids, "customer": customer_id, "user": user_id, "address": address_id}


def _order(database, customer_id, user_id, address_id, product_id, quantity):
    with database.write() as session:
        context = load_customer_context(session, customer_id)
        cart.add_to_cart(session, context, user_id, product_id, quantity)
        cart.set_details(session, context, user_id, comment="", address_id=address_id)
        token = cart.get_cart(session, user_id, customer_id).checkout_token
        return ordering.place_order(session, context, user_id, token).order_id


def _line(database, order_id):
    with database.read() as session:
        line = session.scalars(select(OrderLine).where(OrderLine.order_id == order_id)).one()
        return line.allocated, line.backordered


def _free(database, product_id):
    with database.read() as session:
        product = session.get(Product, product_id)
        return product.on_hand - product.allocated


def _assert_sound(database):
    with database.read() as session:
        assert check_invariants(session) == []


def test_receipt_serves_backorders_first_in_first_out(database, backorders):
    with database.write() as session:
        result = stock.receive_stock(session, backorders["product"], 6, "PO-1")

    first, second, third = (_line(database, order_id) for order_id in backorders["orders"])
    assert first == (5, 0)
    assert second == (1, 4)
    assert third == (0, 2)
    assert _free(database, backorders["product"]) == 0
    assert result.allocated_to_backorders == 6
    _assert_sound(database)


def test_receipt_writes_movements(database, backorders):
    with database.write() as session:
        stock.receive_stock(session, backorders["product"], 3, "PO-2")

    with database.read() as session:
        kinds = [
            movement.kind
            for movement in session.scalars(
                select(StockMovement)
                .where(StockMovement.product_id == backorders["product"])
                .order_by(StockMovement.id)
            )
        ]
    assert kinds == [MovementKind.RECEIPT, MovementKind.ALLOCATION]


def test_moved_forward_line_served_first(database, backorders):
    last_line_id = _line_id(database, backorders["orders"][2])
    with database.write() as session:
        order_admin.move_to_front(session, last_line_id)

    with database.write() as session:
        stock.receive_stock(session, backorders["product"], 2)

    assert _line(database, backorders["orders"][2]) == (2, 0)
    assert _line(database, backorders["orders"][0]) == (0, 5)


def _line_id(database, order_id):
    with database.read() as session:
        return session.scalar(select(OrderLine.id).where(OrderLine.order_id == order_id))


def test_cancel_releases_stock_to_next_backorder(database, backorders):
    with database.write() as session:
        stock.receive_stock(session, backorders["product"], 5)

    with database.write() as session:
        order_admin.cancel_order(session, backorders["orders"][0])

    with database.read() as session:
        status = session.get(Order, backorders["orders"][0]).status
    assert status is OrderStatus.CANCELLED
    assert _line(database, backorders["orders"][1]) == (5, 0)
    _assert_sound(database)


def test_cancelled_order_has_zero_total(database, backorders):
    with database.write() as session:
        order_admin.cancel_order(session, backorders["orders"][0])

    with database.read() as session:
        order = session.get(Order, backorders["orders"][0])
        total = order.total
    assert total == 0


def test_partial_delivery_then_cancel_completes_order(database, backorders):
    with database.write() as session:
        stock.receive_stock(session, backorders["product"], 3)
    line_id = _line_id(database, backorders["orders"][0])
    with database.write() as session:
        order_admin.accept_order(session, backorders["orders"][0])
        ordering.record_delivery(session, backorders["orders"][0], {line_id: 2}, dt.date(2026, 12, 2), "TT1")

    with database.read() as session:
        line = session.get(OrderLine, line_id)
        parts = (line.delivered, line.allocated, line.backordered)
        product = session.get(Product, backorders["product"])
        stock_after = (product.on_hand, product.allocated)
    assert parts == (2, 1, 2)
    assert stock_after == (1, 1)

    with database.write() as session:
        order_admin.cancel_order(session, backorders["orders"][0])

    with database.read() as session:
        order = session.get(Order, backorders["orders"][0])
        status, total = order.status, order.total
    assert status is OrderStatus.COMPLETED
    assert total == order_total_for(2)
    _assert_sound(database)


def order_total_for(quantity):
    from decimal import Decimal

    subtotal = Decimal("1.00") * quantity
    return subtotal + (subtotal * Decimal("0.21")).quantize(Decimal("0.01"))


def test_cancel_backorder_keeps_allocated_part(database, backorders):
    with database.write() as session:
        stock.receive_stock(session, backorders["product"], 2)
    line_id = _line_id(database, backorders["orders"][0])

    with database.write() as session:
        cancelled = order_admin.cancel_backorder(session, line_id)

    assert cancelled == 3
    assert _line(database, backorders["orders"][0]) == (2, 0)
    _assert_sound(database)


def test_loss_turns_newest_allocation_into_backorder(database, backorders):
    with database.write() as session:
        stock.receive_stock(session, backorders["product"], 12)

    with database.write() as session:
        stock.correct_stock(session, backorders["product"], -3, "broken in the warehouse")

    assert _line(database, backorders["orders"][2]) == (0, 2)
    assert _line(database, backorders["orders"][1]) == (4, 1)
    assert _line(database, backorders["orders"][0]) == (5, 0)
    _assert_sound(database)


@pytest.mark.parametrize(
    ("change", "reason", "code"),
    [(-1, "counted", "stock.below_zero"), (0, "counted", "stock.change_zero"), (5, " ", "stock.reason_missing")],
)
def test_bad_correction_rejected(database, backorders, change, reason, code):
    with database.write() as session, pytest.raises(PortalError) as raised:
        stock.correct_stock(session, backorders["product"], change, reason)

    assert raised.value.code == code


@pytest.mark.parametrize("quantity", [0, -3, True])
def test_bad_receipt_rejected(database, backorders, quantity):
    with database.write() as session, pytest.raises(PortalError):
        stock.receive_stock(session, backorders["product"], quantity)


def test_accept_only_new_orders(database, backorders):
    with database.write() as session:
        order_admin.accept_order(session, backorders["orders"][0])

    with database.write() as session, pytest.raises(PortalError) as raised:
        order_admin.accept_order(session, backorders["orders"][0])

    assert raised.value.code == "admin_orders.not_new"


def test_admin_order_list_puts_new_first(database, backorders):
    with database.write() as session:
        order_admin.accept_order(session, backorders["orders"][2])

    with database.read() as session:
        rows = order_admin.list_orders(session)

    assert [row.status for row in rows] == [OrderStatus.NEW, OrderStatus.NEW, OrderStatus.ACCEPTED]


def test_admin_backorder_list_in_queue_order(database, backorders):
    with database.read() as session:
        rows = order_admin.list_backorders(session, product_id=backorders["product"])

    assert [row.waiting for row in rows] == [5, 5, 2]
