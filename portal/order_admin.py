"""The supplier's side of orders: review, accept, cancel, and manage the backorder queue."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from portal import audit
from portal.errors import NotFound, PortalError
from portal.models import Customer, MovementKind, Order, OrderLine, OrderSource, OrderStatus, Product, StockMovement
from portal.ordering import OPEN_STATUSES, recompute_totals, refresh_status
from portal.stock import allocate_backorders

log = logging.getLogger(__name__)

ADMIN_ORDERS_PAGE_SIZE = 50


def _locked_order(session: Session, order_id: int) -> Order:
    order = session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .options(selectinload(Order.lines))
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound("order")
    return order


def _audit(session: Session, action: str, order: Order, user_id: int | None, detail: str = "") -> None:
    audit.record(
        session,
        action,
        actor_id=user_id,
        customer_id=order.customer_id,
        object_type="order",
        object_id=order.number,
        detail=detail,
    )


def find_order(session: Session, number: str) -> tuple[int, int]:
    """Return (order id, customer id) of an order by number, for the supplier's screens."""
    row = session.execute(select(Order.id, Order.customer_id).where(Order.number == number.strip())).first()
    if row is None:
        raise NotFound("order")
    return row[0], row[1]


def accept_order(session: Session, order_id: int, user_id: int | None = None) -> None:
    """Mark a new portal order as checked and accepted by the supplier."""
    order = _locked_order(session, order_id)
    if order.status is not OrderStatus.NEW:
        raise PortalError("admin_orders.not_new", number=order.number, status=order.status.value)
    order.status = OrderStatus.ACCEPTED
    _audit(session, "order_accepted", order, user_id)
    log.info("Order %s: accepted", order.number)


def _release_line(session: Session, line: OrderLine, user_id: int | None) -> None:
    if line.allocated == 0:
        return
    result = session.execute(
        update(Product)
        .where(Product.id == line.product_id, Product.allocated >= line.allocated)
        .values(allocated=Product.allocated - line.allocated)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise RuntimeError(f"product {line.product_id} has fewer allocated units than line {line.id} holds")
    session.add(
        StockMovement(
            product_id=line.product_id,
            kind=MovementKind.RELEASE,
            allocated_change=-line.allocated,
            order_line_id=line.id,
            reference="cancelled",
            user_id=user_id,
        )
    )
    line.allocated = 0


def _cancel_lines(session: Session, order: Order, lines: list[OrderLine], user_id: int | None) -> None:
    """Cancel what is undelivered of the lines, then let waiting backorders take the freed stock."""
    if order.status not in OPEN_STATUSES:
        raise PortalError("admin_orders.closed", number=order.number, status=order.status.value)
    product_ids = set()
    # Products in id order, as everywhere that locks several products.
    for line in sorted(lines, key=lambda item: (item.product_id or 0, item.id)):
        undelivered = line.quantity - line.delivered - line.cancelled
        if undelivered == 0:
            continue
        _release_line(session, line, user_id)
        line.cancelled += undelivered
        if line.product_id is not None:
            product_ids.add(line.product_id)
    recompute_totals(order)
    refresh_status(order)
    session.flush()
    for product_id in sorted(product_ids):
        allocate_backorders(session, product_id, user_id)


def cancel_order(session: Session, order_id: int, user_id: int | None = None) -> None:
    """Cancel everything undelivered of an order; allocated stock goes to the next backorders."""
    order = _locked_order(session, order_id)
    _cancel_lines(session, order, list(order.lines), user_id)
    _audit(session, "order_cancelled", order, user_id)
    log.info("Order %s: cancelled by user %s, now %s", order.number, user_id, order.status.value)


def cancel_line(session: Session, order_id: int, line_id: int, user_id: int | None = None) -> None:
    """Cancel what is undelivered of one order line."""
    order = _locked_order(session, order_id)
    line = next((line for line in order.lines if line.id == line_id), None)
    if line is None:
        raise NotFound("order_line")
    if line.delivered + line.cancelled == line.quantity:
        raise PortalError("admin_orders.line_closed", sku=line.sku)
    _cancel_lines(session, order, [line], user_id)
    _audit(session, "order_line_cancelled", order, user_id, f"line {line.line_number} ({line.sku})")
    log.info("Order %s: line %s cancelled by user %s", order.number, line.line_number, user_id)


def cancel_backorder(session: Session, line_id: int, user_id: int | None = None) -> int:
    """Cancel only the backordered part of a line, keeping what is allocated; return units cancelled."""
    line = session.get(OrderLine, line_id)
    if line is None:
        raise NotFound("order_line")
    order = _locked_order(session, line.order_id)
    line = next(item for item in order.lines if item.id == line_id)
    if order.status not in OPEN_STATUSES:
        raise PortalError("admin_orders.closed", number=order.number, status=order.status.value)
    waiting = line.backordered
    if waiting == 0:
        raise PortalError("admin_backorders.nothing_waiting", sku=line.sku)

    line.cancelled += waiting
    recompute_totals(order)
    refresh_status(order)
    _audit(session, "backorder_cancelled", order, user_id, f"{waiting} x {line.sku}")
    log.info("Order %s: backorder of %s x %s cancelled by user %s", order.number, waiting, line.sku, user_id)
    return waiting


def move_to_front(session: Session, line_id: int, user_id: int | None = None) -> None:
    """Put a backordered line first in its product's queue."""
    line = session.get(OrderLine, line_id)
    if line is None or line.product_id is None:
        raise NotFound("order_line")
    first = session.scalar(
        select(func.min(OrderLine.queue_position))
        .join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.product_id == line.product_id, Order.status.in_(OPEN_STATUSES))
    )
    if first is not None and first <= line.queue_position:
        line.queue_position = first - dt.timedelta(seconds=1)
    audit.record(session, "backorder_moved_forward", actor_id=user_id, object_type="order_line", object_id=line.id)
    log.info("Order line %s moved to the front of the queue of product %s", line.id, line.product_id)


@dataclass(frozen=True)
class AdminOrderRow:
    id: int
    number: str
    customer_number: str
    customer_name: str
    placed_at: dt.datetime
    status: OrderStatus
    source: OrderSource
    total: Decimal


def list_orders(
    session: Session,
    statuses: list[OrderStatus] | None = None,
    customer_id: int | None = None,
    limit: int = ADMIN_ORDERS_PAGE_SIZE,
    offset: int = 0,
) -> list[AdminOrderRow]:
    """Return orders for the supplier, new portal orders first, then newest first."""
    statement = select(Order, Customer.number, Customer.name).join(Customer, Customer.id == Order.customer_id)
    if statuses:
        statement = statement.where(Order.status.in_(statuses))
    if customer_id is not None:
        statement = statement.where(Order.customer_id == customer_id)
    is_new = (Order.status == OrderStatus.NEW.value).desc()
    statement = statement.order_by(is_new, Order.placed_at.desc(), Order.id.desc()).limit(limit).offset(offset)
    return [
        AdminOrderRow(order.id, order.number, number, name, order.placed_at, order.status, order.source, order.total)
        for order, number, name in session.execute(statement)
    ]


@dataclass(frozen=True)
class AdminBackorderRow:
    line_id: int
    order_id: int
    order_number: str
    customer_number: str
    customer_name: str
    placed_at: dt.datetime
    product_id: int
    sku: str
    name: str
    waiting: int
    allocated: int
    free_stock: int


def list_backorders(
    session: Session, product_id: int | None = None, customer_id: int | None = None
) -> list[AdminBackorderRow]:
    """Return every open backordered line with the product's free stock, in queue order per product."""
    waiting = OrderLine.quantity - OrderLine.allocated - OrderLine.delivered - OrderLine.cancelled
    statement = (
        select(
            OrderLine.id,
            Order.id,
            Order.number,
            Customer.number,
            Customer.name,
            Order.placed_at,
            Product.id,
            OrderLine.sku,
            OrderLine.name,
            waiting,
            OrderLine.allocated,
            Product.on_hand - Product.allocated,
        )
        .join(Order, Order.id == OrderLine.order_id)
        .join(Customer, Customer.id == Order.customer_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(Order.status.in_(OPEN_STATUSES), waiting > 0)
        .order_by(OrderLine.sku, OrderLine.queue_position, OrderLine.id)
    )
    if product_id is not None:
        statement = statement.where(OrderLine.product_id == product_id)
    if customer_id is not None:
        statement = statement.where(Order.customer_id == customer_id)
    return [AdminBackorderRow(*row) for row in session.execute(statement)]
