from sqlalchemy import func, select, update

from portal.demo import load_demo_data
from portal.integrity import check_invariants
from portal.models import Order, OrderLine, OrderStatus, Product
from tests.db.test_cli import place_small_order


def test_demo_data_passes_invariant_check(database):
    with database.write() as session:
        load_demo_data(session)

    with database.read() as session:
        violations = check_invariants(session)
        backordered = session.scalar(
            select(func.count(OrderLine.id))
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                Order.status.in_([OrderStatus.NEW, OrderStatus.ACCEPTED]),
                OrderLine.quantity > OrderLine.allocated + OrderLine.delivered + OrderLine.cancelled,
            )
        )
        out_of_stock = session.scalar(select(func.count(Product.id)).where(Product.on_hand == 0))

    assert violations == []
    assert backordered > 0
    assert out_of_stock > 0


def test_check_reports_allocation_drift(database):
    place_small_order(database)
    with database.write() as session:
        session.execute(update(Product).values(allocated=Product.allocated - 1))

    with database.read() as session:
        rules = {violation.rule for violation in check_invariants(session)}

    assert rules == {"allocated_differs_from_lines"}


def test_check_reports_wrong_order_total(database):
    place_small_order(database)
    with database.write() as session:
        session.execute(update(Order).values(total=Order.total + 1))

    with database.read() as session:
        rules = {violation.rule for violation in check_invariants(session)}

    assert rules == {"order_totals_wrong"}
