"""Stock on hand: goods receipts, corrections, and serving backorders first in, first out."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import audit
from portal.catalog import search_condition
from portal.errors import NotFound, PortalError
from portal.models import MovementKind, Order, OrderLine, Product, StockMovement, User
from portal.ordering import OPEN_STATUSES, allocate
from portal.quantities import MAX_QUANTITY

log = logging.getLogger(__name__)

MAX_REFERENCE_LENGTH = 200


def _locked_product(session: Session, product_id: int) -> Product:
    # populate_existing: earlier guarded UPDATEs in this transaction bypassed the identity map.
    product = session.scalar(
        select(Product)
        .where(Product.id == product_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if product is None:
        raise NotFound("product")
    return product


def waiting_lines(session: Session, product_id: int) -> list[OrderLine]:
    """Return the product's open order lines with units still backordered, in queue order.

    The queue is first in, first out by order time; the supplier can move a line forward
    by giving it an earlier queue position.
    """
    statement = (
        select(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            OrderLine.product_id == product_id,
            Order.status.in_(OPEN_STATUSES),
            OrderLine.quantity > OrderLine.allocated + OrderLine.delivered + OrderLine.cancelled,
        )
        .order_by(OrderLine.queue_position, OrderLine.id)
    )
    return list(session.scalars(statement))


def allocate_backorders(session: Session, product_id: int, user_id: int | None = None) -> int:
    """Allocate the product's free stock to waiting backorders in queue order; return units allocated.

    The caller holds the product's row lock (or takes it here), so a unit freed by a
    receipt or a cancellation is promised once.
    """
    _locked_product(session, product_id)
    total = 0
    for line in waiting_lines(session, product_id):
        taken = allocate(session, product_id, line.backordered, line.id, user_id)
        if taken == 0:
            break
        total += taken
        session.refresh(line, ["allocated"])
    if total:
        log.info("Product %s: %s units allocated to backorders", product_id, total)
    return total


@dataclass(frozen=True)
class ReceiptResult:
    on_hand: int
    allocated_to_backorders: int


def _check_reference(reference: str) -> str:
    reference = reference.strip()
    if len(reference) > MAX_REFERENCE_LENGTH:
        raise PortalError("stock.reference_too_long", maximum=MAX_REFERENCE_LENGTH)
    return reference


def receive_stock(
    session: Session, product_id: int, quantity: int, reference: str = "", user_id: int | None = None
) -> ReceiptResult:
    """Book a goods receipt: raise stock on hand, then serve waiting backorders first in, first out."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise PortalError("quantity.not_positive", value=str(quantity))
    if quantity > MAX_QUANTITY:
        raise PortalError("quantity.too_large", value=str(quantity), maximum=MAX_QUANTITY)
    reference = _check_reference(reference)
    product = _locked_product(session, product_id)

    session.execute(
        update(Product)
        .where(Product.id == product_id)
        .values(on_hand=Product.on_hand + quantity)
        .execution_options(synchronize_session=False)
    )
    session.add(
        StockMovement(
            product_id=product_id,
            kind=MovementKind.RECEIPT,
            on_hand_change=quantity,
            reference=reference,
            user_id=user_id,
        )
    )
    allocated = allocate_backorders(session, product_id, user_id)
    session.refresh(product, ["on_hand"])
    audit.record(
        session,
        "stock_received",
        actor_id=user_id,
        object_type="product",
        object_id=product.sku,
        detail=f"+{quantity} ({reference})",
    )
    log.info("Product %s: received %s units (%s)", product.sku, quantity, reference or "no reference")
    return ReceiptResult(on_hand=product.on_hand, allocated_to_backorders=allocated)


def _release_newest_allocations(session: Session, product: Product, units: int, user_id: int | None) -> None:
    """Take `units` allocated units back from open lines, newest in the queue first."""
    lines = session.scalars(
        select(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.product_id == product.id, Order.status.in_(OPEN_STATUSES), OrderLine.allocated > 0)
        .order_by(OrderLine.queue_position.desc(), OrderLine.id.desc())
    )
    remaining = units
    for line in lines:
        if remaining == 0:
            break
        taken = min(line.allocated, remaining)
        line.allocated -= taken
        remaining -= taken
        session.add(
            StockMovement(
                product_id=product.id,
                kind=MovementKind.RELEASE,
                allocated_change=-taken,
                order_line_id=line.id,
                reference="stock correction",
                user_id=user_id,
            )
        )
    product.allocated -= units - remaining


def correct_stock(
    session: Session, product_id: int, change: int, reason: str, user_id: int | None = None
) -> ReceiptResult:
    """Correct stock on hand by `change` units (negative for a loss) with a reason.

    When a loss leaves fewer units on hand than are promised to orders, the newest
    allocations become backorders again. A gain serves waiting backorders.
    """
    reason = _check_reference(reason)
    if not reason:
        raise PortalError("stock.reason_missing")
    if isinstance(change, bool) or not isinstance(change, int) or change == 0:
        raise PortalError("stock.change_zero")
    product = _locked_product(session, product_id)
    if product.on_hand + change < 0:
        raise PortalError("stock.below_zero", sku=product.sku, on_hand=product.on_hand, change=change)

    new_on_hand = product.on_hand + change
    if new_on_hand < product.allocated:
        _release_newest_allocations(session, product, product.allocated - new_on_hand, user_id)
    product.on_hand = new_on_hand
    session.add(
        StockMovement(
            product_id=product_id,
            kind=MovementKind.CORRECTION,
            on_hand_change=change,
            reference=reason,
            user_id=user_id,
        )
    )
    session.flush()
    allocated = allocate_backorders(session, product_id, user_id) if change > 0 else 0
    audit.record(
        session,
        "stock_corrected",
        actor_id=user_id,
        object_type="product",
        object_id=product.sku,
        detail=f"{change:+d} ({reason})",
    )
    log.info("Product %s: stock corrected by %s (%s)", product.sku, change, reason)
    return ReceiptResult(on_hand=new_on_hand, allocated_to_backorders=allocated)


def set_stock(session: Session, product_id: int, on_hand: int, reason: str, user_id: int | None = None) -> None:
    """Set stock on hand to a counted level, booking the difference as a correction."""
    if isinstance(on_hand, bool) or not isinstance(on_hand, int) or on_hand < 0:
        raise PortalError("stock.below_zero_level", value=str(on_hand))
    product = _locked_product(session, product_id)
    if on_hand != product.on_hand:
        correct_stock(session, product_id, on_hand - product.on_hand, reason, user_id)


@dataclass(frozen=True)
class MovementView:
    created_at: dt.datetime
    kind: MovementKind
    on_hand_change: int
    allocated_change: int
    reference: str
    username: str | None


def list_movements(session: Session, product_id: int, limit: int = 200) -> list[MovementView]:
    """Return the product's stock movements, newest first."""
    rows = session.execute(
        select(
            StockMovement.created_at,
            StockMovement.kind,
            StockMovement.on_hand_change,
            StockMovement.allocated_change,
            StockMovement.reference,
            User.username,
        )
        .outerjoin(User, User.id == StockMovement.user_id)
        .where(StockMovement.product_id == product_id)
        .order_by(StockMovement.created_at.desc(), StockMovement.id.desc())
        .limit(limit)
    )
    return [MovementView(*row) for row in rows]


@dataclass(frozen=True)
class StockRow:
    id: int
    sku: str
    name: str
    active: bool
    on_hand: int
    allocated: int

    @property
    def free(self) -> int:
        return self.on_hand - self.allocated


def find_products(session: Session, query: str, limit: int = 25) -> list[StockRow]:
    """Return products matching the query, inactive ones included, for the supplier's screens."""
    statement = select(Product.id, Product.sku, Product.name, Product.active, Product.on_hand, Product.allocated)
    condition = search_condition(session, query)
    if condition is not None:
        statement = statement.where(condition)
    rows = session.execute(statement.order_by(Product.name, Product.id).limit(limit))
    return [StockRow(*row) for row in rows]
