"""Placing orders, allocating stock, and reading orders and backorders."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portal import audit
from portal.cart import get_cart, new_checkout_token, view_cart
from portal.catalog import CustomerContext
from portal.db import Database
from portal.errors import NotFound, PortalError, Problems
from portal.models import (
    Address,
    Cart,
    CartLine,
    Delivery,
    DeliveryLine,
    MovementKind,
    Order,
    OrderLine,
    OrderSource,
    OrderStatus,
    Product,
    StockMovement,
    utc_now,
)
from portal.pricing import compute_totals, line_total
from portal.quantities import check_quantity_rules

log = logging.getLogger(__name__)

OPEN_STATUSES = (OrderStatus.NEW, OrderStatus.ACCEPTED)
ORDERS_PAGE_SIZE = 25


@dataclass(frozen=True)
class PlacedOrder:
    order_id: int
    number: str
    # SKUs of lines left out because the product could no longer be ordered.
    skipped_skus: list[str]
    # True when the checkout token had been used already and the earlier order is returned.
    repeated: bool = False


def _order_by_token(session: Session, token: str) -> Order | None:
    return session.scalar(select(Order).where(Order.checkout_token == token))


def order_number_for_token(session: Session, customer_id: int, token: str) -> str | None:
    """Return the number of the customer's order placed with this checkout token, if any."""
    order = _order_by_token(session, token)
    return order.number if order is not None and order.customer_id == customer_id else None


def allocate(session: Session, product_id: int, wanted: int, order_line_id: int, user_id: int | None) -> int:
    """Allocate up to `wanted` free units of a product to an order line; return how many.

    The caller must hold the product's row (FOR UPDATE on PostgreSQL, the write lock on
    SQLite). The update is guarded anyway, so a unit is never promised twice.
    """
    on_hand, allocated = session.execute(
        select(Product.on_hand, Product.allocated).where(Product.id == product_id).with_for_update(key_share=True)
    ).one()
    take = min(wanted, max(on_hand - allocated, 0))
    if take <= 0:
        return 0

    result = session.execute(
        update(Product)
        .where(Product.id == product_id, Product.on_hand - Product.allocated >= take)
        .values(allocated=Product.allocated + take)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise RuntimeError(f"guarded allocation of {take} units of product {product_id} matched no row")
    session.execute(
        update(OrderLine)
        .where(OrderLine.id == order_line_id)
        .values(allocated=OrderLine.allocated + take)
        .execution_options(synchronize_session=False)
    )
    session.add(
        StockMovement(
            product_id=product_id,
            kind=MovementKind.ALLOCATION,
            allocated_change=take,
            order_line_id=order_line_id,
            user_id=user_id,
        )
    )
    return take


def lock_products(session: Session, product_ids: list[int]) -> None:
    """Lock the products' rows in id order before an order touches any of them.

    FOR NO KEY UPDATE, because inserting order lines takes KEY SHARE locks on the
    products they reference, which plain FOR UPDATE would wait for: two orders with the
    same products could then deadlock. Locking in one order avoids cycles. SQLite's
    write transactions exclude each other already, and it ignores the clause.
    """
    if product_ids:
        session.execute(
            select(Product.id)
            .where(Product.id.in_(sorted(set(product_ids))))
            .order_by(Product.id)
            .with_for_update(key_share=True)
        ).all()


def _order_number(order: Order) -> str:
    return f"{order.placed_at.year}-{order.id:06d}"


def _check_cart(session: Session, context: CustomerContext, cart: Cart, address_id: int | None) -> Address:
    """Check the whole current order and raise Problems listing everything wrong with it."""
    problems: list[PortalError] = []
    address = session.get(Address, address_id) if address_id is not None else None
    if address is None or address.customer_id != context.customer_id or not address.active:
        problems.append(PortalError("order.address_missing"))

    view = view_cart(session, context, cart.user_id)
    if not view.orderable_lines:
        problems.append(PortalError("order.empty"))
    products = {line.product_id: line.product for line in cart.lines}
    for line in view.orderable_lines:
        product = products[line.product_id]
        try:
            check_quantity_rules(line.quantity, product.min_quantity, product.order_multiple)
        except PortalError as error:
            error.params["sku"] = product.sku
            problems.append(error)
    if problems:
        raise Problems(problems)
    assert address is not None
    return address


def place_order(
    session: Session,
    context: CustomerContext,
    user_id: int,
    checkout_token: str,
    *,
    source: OrderSource = OrderSource.PORTAL,
) -> PlacedOrder:
    """Turn the current order into an order, allocate free stock and empty the current order.

    Runs inside the caller's write transaction. The comment and delivery address are the
    ones stored on the current order. A token that already placed an order returns that
    order again, so a double click, a refresh or a second tab never places two.
    """
    # Lock the cart first: a concurrent submit with the same token waits here, then sees
    # the order the first one committed.
    cart = get_cart(session, user_id, context.customer_id, for_update=True)
    existing = _order_by_token(session, checkout_token)
    if existing is not None:
        if existing.customer_id != context.customer_id:
            raise NotFound("order")
        return PlacedOrder(existing.id, existing.number, [], repeated=True)
    if cart is None or cart.checkout_token != checkout_token:
        raise PortalError("order.stale")

    address = _check_cart(session, context, cart, cart.address_id)
    view = view_cart(session, context, user_id)
    lock_products(session, [line.product_id for line in view.orderable_lines])
    skipped = [line.sku for line in view.lines if not line.orderable]
    lines = view.orderable_lines
    totals = compute_totals((line.line_total, line.vat_rate) for line in lines)
    now = utc_now()

    order = Order(
        number=f"pending-{uuid.uuid4().hex}",
        customer_id=context.customer_id,
        user_id=user_id,
        status=OrderStatus.ACCEPTED if source is OrderSource.SUPPLIER else OrderStatus.NEW,
        source=source,
        comment=cart.comment,
        address_name=address.name,
        address_street=address.street,
        address_postcode=address.postcode,
        address_city=address.city,
        address_country=address.country,
        placed_at=now,
        checkout_token=checkout_token,
        subtotal=totals.subtotal,
        vat_total=totals.vat_total,
        total=totals.total,
    )
    session.add(order)
    session.flush()
    order.number = _order_number(order)

    order_lines = []
    for number, line in enumerate(lines, start=1):
        order_line = OrderLine(
            order_id=order.id,
            line_number=number,
            product_id=line.product_id,
            sku=line.sku,
            name=line.name,
            unit_price=line.unit_price,
            vat_rate=line.vat_rate,
            quantity=line.quantity,
            line_total=line.line_total,
            queue_position=now,
        )
        session.add(order_line)
        order_lines.append(order_line)
    session.flush()

    # Products in id order, so two orders with overlapping products lock them in the same
    # order and cannot deadlock.
    for order_line in sorted(order_lines, key=lambda item: item.product_id or 0):
        allocate(session, order_line.product_id, order_line.quantity, order_line.id, user_id)

    session.query(CartLine).filter(CartLine.cart_id == cart.id).delete(synchronize_session=False)
    session.expire(cart, ["lines"])
    cart.comment = ""
    cart.address_id = None
    cart.checkout_token = new_checkout_token()
    cart.updated_at = now
    log.info(
        "Order %s: placed by user %s for customer %s, %s lines, total %s",
        order.number,
        user_id,
        context.customer_id,
        len(order_lines),
        order.total,
    )
    if skipped:
        log.info("Order %s: left out products no longer orderable: %s", order.number, ", ".join(skipped))
    return PlacedOrder(order.id, order.number, skipped)


def place_order_once(
    database: Database,
    context: CustomerContext,
    user_id: int,
    checkout_token: str,
    *,
    source: OrderSource = OrderSource.PORTAL,
) -> PlacedOrder:
    """Place the order in its own transaction, returning the earlier order on a token clash.

    Two submits with one token normally meet at the cart lock; the unique token on
    orders is the backstop if they do not.
    """
    try:
        return database.transaction(
            lambda session: place_order(session, context, user_id, checkout_token, source=source)
        )
    except IntegrityError:
        with database.read() as session:
            existing = _order_by_token(session, checkout_token)
            if existing is None or existing.customer_id != context.customer_id:
                raise
            return PlacedOrder(existing.id, existing.number, [], repeated=True)


@dataclass(frozen=True)
class OrderSummary:
    id: int
    number: str
    placed_at: dt.datetime
    status: OrderStatus
    source: OrderSource
    total: Decimal


@dataclass(frozen=True)
class OrdersPage:
    rows: list[OrderSummary]
    next_cursor: tuple[dt.datetime, int] | None


def list_orders(
    session: Session, customer_id: int, before: tuple[dt.datetime, int] | None = None, page_size: int = ORDERS_PAGE_SIZE
) -> OrdersPage:
    """Return one page of a customer's orders, newest first, paged by keyset."""
    statement = select(Order).where(Order.customer_id == customer_id)
    if before is not None:
        statement = statement.where(tuple_(Order.placed_at, Order.id) < tuple_(*before))
    orders = list(session.scalars(statement.order_by(Order.placed_at.desc(), Order.id.desc()).limit(page_size + 1)))

    has_more = len(orders) > page_size
    orders = orders[:page_size]
    rows = [OrderSummary(o.id, o.number, o.placed_at, o.status, o.source, o.total) for o in orders]
    return OrdersPage(rows=rows, next_cursor=(orders[-1].placed_at, orders[-1].id) if has_more else None)


@dataclass(frozen=True)
class OrderLineView:
    id: int
    line_number: int
    sku: str
    name: str
    unit_price: Decimal
    vat_rate: Decimal
    quantity: int
    allocated: int
    delivered: int
    cancelled: int
    backordered: int
    line_total: Decimal


@dataclass(frozen=True)
class DeliveryView:
    delivered_on: dt.date
    track_and_trace: str
    lines: list[tuple[str, str, int]]  # (SKU, name, quantity)


@dataclass(frozen=True)
class OrderDetail:
    summary: OrderSummary
    comment: str
    address: tuple[str, str, str, str, str]  # name, street, postcode, city, country
    lines: list[OrderLineView]
    deliveries: list[DeliveryView]
    subtotal: Decimal
    vat_by_rate: dict[Decimal, Decimal]
    vat_total: Decimal


def _backordered(line: OrderLine, status: OrderStatus) -> int:
    return line.backordered if status in OPEN_STATUSES else 0


def get_order(session: Session, customer_id: int, number: str) -> OrderDetail:
    """Return an order of the customer by number; any other raises NotFound."""
    order = session.scalar(
        select(Order)
        .where(Order.number == number, Order.customer_id == customer_id)
        .options(
            selectinload(Order.lines),
            selectinload(Order.deliveries).selectinload(Delivery.lines).selectinload(DeliveryLine.order_line),
        )
    )
    if order is None:
        raise NotFound("order")

    lines = [
        OrderLineView(
            id=line.id,
            line_number=line.line_number,
            sku=line.sku,
            name=line.name,
            unit_price=line.unit_price,
            vat_rate=line.vat_rate,
            quantity=line.quantity,
            allocated=line.allocated,
            delivered=line.delivered,
            cancelled=line.cancelled,
            backordered=_backordered(line, order.status),
            line_total=line.line_total,
        )
        for line in order.lines
    ]
    deliveries = [
        DeliveryView(
            delivered_on=delivery.delivered_on,
            track_and_trace=delivery.track_and_trace,
            lines=[(item.order_line.sku, item.order_line.name, item.quantity) for item in delivery.lines],
        )
        for delivery in order.deliveries
    ]
    totals = compute_totals((line.line_total, line.vat_rate) for line in order.lines)
    return OrderDetail(
        summary=OrderSummary(order.id, order.number, order.placed_at, order.status, order.source, order.total),
        comment=order.comment,
        address=(
            order.address_name,
            order.address_street,
            order.address_postcode,
            order.address_city,
            order.address_country,
        ),
        lines=lines,
        deliveries=deliveries,
        subtotal=order.subtotal,
        vat_by_rate=totals.vat_by_rate,
        vat_total=order.vat_total,
    )


@dataclass(frozen=True)
class BackorderRow:
    order_number: str
    placed_at: dt.datetime
    sku: str
    name: str
    quantity: int
    outstanding: int


def list_backorders(session: Session, customer_id: int) -> list[BackorderRow]:
    """Return every open order line of the customer with units still to come, oldest first."""
    rows = session.execute(
        select(
            Order.number,
            Order.placed_at,
            OrderLine.sku,
            OrderLine.name,
            OrderLine.quantity,
            OrderLine.quantity - OrderLine.allocated - OrderLine.delivered - OrderLine.cancelled,
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.customer_id == customer_id,
            Order.status.in_(OPEN_STATUSES),
            OrderLine.quantity - OrderLine.allocated - OrderLine.delivered - OrderLine.cancelled > 0,
        )
        .order_by(Order.placed_at, Order.id, OrderLine.line_number)
    )
    return [BackorderRow(*row) for row in rows]


def recompute_totals(order: Order) -> None:
    """Set each line's total from its uncancelled quantity and the order's totals from its lines."""
    for line in order.lines:
        line.line_total = line_total(line.quantity - line.cancelled, line.unit_price)
    totals = compute_totals((line.line_total, line.vat_rate) for line in order.lines)
    order.subtotal = totals.subtotal
    order.vat_total = totals.vat_total
    order.total = totals.total


def refresh_status(order: Order) -> None:
    """Close an open order once every line is delivered or cancelled."""
    if order.status not in OPEN_STATUSES:
        return
    if all(line.delivered + line.cancelled == line.quantity for line in order.lines):
        delivered_any = any(line.delivered for line in order.lines)
        order.status = OrderStatus.COMPLETED if delivered_any else OrderStatus.CANCELLED


def record_delivery(
    session: Session,
    order_id: int,
    quantities: dict[int, int],
    delivered_on: dt.date,
    track_and_trace: str = "",
    user_id: int | None = None,
) -> Delivery:
    """Ship allocated units of order lines: allocated and on hand both go down.

    `quantities` maps order line id to units shipped; each must be whole, positive and
    at most what the line has allocated. All lines are checked before anything changes.
    """
    order = session.scalar(
        select(Order).where(Order.id == order_id).options(selectinload(Order.lines)).with_for_update(key_share=True)
    )
    if order is None:
        raise NotFound("order")
    if order.status not in OPEN_STATUSES:
        raise PortalError("delivery.order_closed", number=order.number, status=order.status.value)
    lines = {line.id: line for line in order.lines}
    problems: list[PortalError] = []
    for line_id, quantity in quantities.items():
        line = lines.get(line_id)
        if line is None:
            raise NotFound("order_line")
        if quantity <= 0 or quantity > line.allocated:
            problems.append(PortalError("delivery.too_many", sku=line.sku, quantity=quantity, allocated=line.allocated))
    if not quantities:
        problems.append(PortalError("delivery.empty"))
    if problems:
        raise Problems(problems)

    delivery = Delivery(order_id=order.id, delivered_on=delivered_on, track_and_trace=track_and_trace.strip())
    session.add(delivery)
    session.flush()
    for line_id, quantity in sorted(quantities.items(), key=lambda item: lines[item[0]].product_id or 0):
        line = lines[line_id]
        result = session.execute(
            update(Product)
            .where(Product.id == line.product_id, Product.allocated >= quantity, Product.on_hand >= quantity)
            .values(allocated=Product.allocated - quantity, on_hand=Product.on_hand - quantity)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise RuntimeError(
                f"product {line.product_id} has fewer than {quantity} allocated units for line {line.id}"
            )
        line.allocated -= quantity
        line.delivered += quantity
        session.add(DeliveryLine(delivery_id=delivery.id, order_line_id=line.id, quantity=quantity))
        session.add(
            StockMovement(
                product_id=line.product_id,
                kind=MovementKind.DELIVERY,
                on_hand_change=-quantity,
                allocated_change=-quantity,
                order_line_id=line.id,
                reference=order.number,
                user_id=user_id,
            )
        )
    refresh_status(order)
    audit.record(
        session,
        "delivery_recorded",
        actor_id=user_id,
        customer_id=order.customer_id,
        object_type="order",
        object_id=order.number,
        detail=f"delivery {delivery.id}, {len(quantities)} lines",
    )
    log.info("Order %s: delivery %s recorded, %s lines", order.number, delivery.id, len(quantities))
    return delivery
