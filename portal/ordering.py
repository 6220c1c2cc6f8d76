"""Placing orders, allocating stock, and reading orders and backorders."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.util import identity_key

from portal import audit
from portal.cart import new_checkout_token
from portal.catalog import CustomerContext, price_tiers, visibility_condition
from portal.db import Database
from portal.errors import NotFound, PortalError, Problems
from portal.models import (
    Address,
    AssortmentMode,
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
from portal.pricing import compute_totals, customer_unit_price, line_total
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


def _order_number(placed_at: dt.datetime, order_id: int) -> str:
    return f"{placed_at.year}-{order_id:06d}"


# place_order's statements are built once and run on the session's connection: building
# them and passing them through the ORM cost more than running them.
_carts, _cart_lines, _orders, _order_lines = Cart.__table__, CartLine.__table__, Order.__table__, OrderLine.__table__
_products, _movements, _addresses = Product.__table__, StockMovement.__table__, Address.__table__

_LOCK_CART = (
    select(
        _carts.c.id,
        _carts.c.comment,
        _carts.c.checkout_token,
        _addresses.c.id.label("address_id"),
        _addresses.c.customer_id.label("address_customer_id"),
        _addresses.c.active.label("address_active"),
        _addresses.c.name.label("address_name"),
        _addresses.c.street,
        _addresses.c.postcode,
        _addresses.c.city,
        _addresses.c.country,
    )
    .outerjoin(_addresses, _addresses.c.id == _carts.c.address_id)
    .where(_carts.c.user_id == bindparam("user_id"), _carts.c.customer_id == bindparam("customer_id"))
    .with_for_update(of=_carts)
)

_ORDER_BY_TOKEN = select(_orders.c.id, _orders.c.number, _orders.c.customer_id).where(
    _orders.c.checkout_token == bindparam("token")
)


def _cart_lines_statement(mode: AssortmentMode) -> Select:
    return (
        select(
            _cart_lines.c.id,
            _cart_lines.c.quantity,
            _products.c.id.label("product_id"),
            _products.c.sku,
            _products.c.name,
            _products.c.list_price,
            _products.c.vat_rate,
            _products.c.min_quantity,
            _products.c.order_multiple,
            _products.c.on_hand,
            _products.c.allocated,
            visibility_condition(mode, bindparam("customer_id")).label("orderable"),
        )
        .join(_products, _products.c.id == _cart_lines.c.product_id)
        .where(_cart_lines.c.cart_id == bindparam("cart_id"))
        .order_by(_products.c.id)
    )


_CART_LINES = {mode: _cart_lines_statement(mode) for mode in AssortmentMode}
_INSERT_ORDER = insert(_orders).returning(_orders.c.id)
_SET_ORDER_NUMBER = update(_orders).where(_orders.c.id == bindparam("order_id")).values(number=bindparam("number"))
_INSERT_ORDER_LINES = insert(_order_lines)
# Guarded: a row only changes while it has `take` free units, so a unit is never promised
# twice even if the caller's lock were missing.
_ALLOCATE_FREE_STOCK = (
    update(_products)
    .where(_products.c.id == bindparam("locked_id"), _products.c.on_hand - _products.c.allocated >= bindparam("take"))
    .values(allocated=_products.c.allocated + bindparam("take"))
)
_ALLOCATION_MOVEMENT_COLUMNS = [
    "product_id",
    "kind",
    "on_hand_change",
    "allocated_change",
    "order_line_id",
    "reference",
    "user_id",
    "created_at",
]


def _allocation_movement_values(
    product_id: ColumnElement[int],
    units: ColumnElement[int],
    line_id: ColumnElement[int],
    user_parameter: str,
    now_parameter: str,
) -> list[ColumnElement]:
    """Return the values of an allocation movement, in _ALLOCATION_MOVEMENT_COLUMNS order, for a SELECT."""
    return [
        product_id,
        literal(MovementKind.ALLOCATION, _movements.c.kind.type),
        literal(0),
        units,
        line_id,
        literal(""),
        bindparam(user_parameter, type_=_movements.c.user_id.type),
        bindparam(now_parameter, type_=_movements.c.created_at.type),
    ]


# One movement per new line that was allocated units, in product id order.
_INSERT_ALLOCATION_MOVEMENTS = insert(_movements).from_select(
    _ALLOCATION_MOVEMENT_COLUMNS,
    select(
        *_allocation_movement_values(
            _order_lines.c.product_id, _order_lines.c.allocated, _order_lines.c.id, "user_id", "now"
        )
    )
    .where(_order_lines.c.order_id == bindparam("order_id"), _order_lines.c.allocated > 0)
    .order_by(_order_lines.c.product_id),
)


def _allocation_statement() -> Select:
    """Build PostgreSQL's allocation of a new order's lines: lock, allocate and record in one statement.

    The products are locked in id order, so two orders with overlapping products do not
    deadlock. test_races.py fails without the lock (oversold units, deadlocks). FOR NO KEY
    UPDATE, because the order lines' foreign keys take KEY SHARE locks on their products.
    A row that changed after the statement began is read again once its lock is granted.
    The update of products is guarded as on SQLite. No parameter is named after a column,
    because an UPDATE would set that column to it.
    """
    new_lines = select(_order_lines.c.product_id).where(_order_lines.c.order_id == bindparam("new_order_id"))
    locked = (
        select(_products.c.id, (_products.c.on_hand - _products.c.allocated).label("free"))
        .where(_products.c.id.in_(new_lines))
        .order_by(_products.c.id)
        .with_for_update(key_share=True)
        .cte("locked")
    )
    takes = (
        select(
            _order_lines.c.id.label("line_id"),
            _order_lines.c.product_id,
            func.least(_order_lines.c.quantity, locked.c.free).label("units"),
        )
        .join(locked, locked.c.id == _order_lines.c.product_id)
        .where(_order_lines.c.order_id == bindparam("new_order_id"), locked.c.free > 0)
        .cte("takes")
    )
    products = (
        update(_products)
        .where(_products.c.id == takes.c.product_id, _products.c.on_hand - _products.c.allocated >= takes.c.units)
        .values(allocated=_products.c.allocated + takes.c.units)
        .returning(_products.c.id)
        .cte("allocated_products")
    )
    lines = (
        update(_order_lines)
        .where(_order_lines.c.id == takes.c.line_id)
        .values(allocated=takes.c.units)
        .returning(_order_lines.c.id)
        .cte("allocated_lines")
    )
    movements = (
        insert(_movements)
        .from_select(
            _ALLOCATION_MOVEMENT_COLUMNS,
            select(
                *_allocation_movement_values(
                    takes.c.product_id, takes.c.units, takes.c.line_id, "placing_user_id", "placed_at"
                )
            ).order_by(takes.c.product_id),
        )
        .returning(_movements.c.id)
        .cte("allocation_movements")
    )
    # The counts tell a line that got no units (not in `takes`) from a guard that failed.
    return select(
        *(
            select(func.count()).select_from(part).scalar_subquery().label(name)
            for part, name in ((takes, "wanted"), (products, "products"), (lines, "lines"), (movements, "movements"))
        )
    )


_ALLOCATE_IN_ONE_STATEMENT = _allocation_statement()

_EMPTY_CART = delete(_cart_lines).where(_cart_lines.c.cart_id == bindparam("cart_id"))
_RESET_CART = (
    update(_carts)
    .where(_carts.c.id == bindparam("cart_id"))
    .values(comment="", address_id=None, checkout_token=bindparam("new_token"), updated_at=bindparam("now"))
)


@dataclass(frozen=True)
class _DraftLine:
    """A line of the current order priced for the customer, with its product's locked stock."""

    cart_line_id: int
    product_id: int
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal
    vat_rate: Decimal
    min_quantity: int
    order_multiple: int
    free_stock: int
    orderable: bool

    @property
    def allocatable(self) -> int:
        """Units the new order line is allocated: as many as it wants of the free stock."""
        return min(self.quantity, max(self.free_stock, 0))


def _priced_lines(connection: Connection, context: CustomerContext, cart_id: int) -> list[_DraftLine]:
    """Return the cart's lines priced for the customer, with their products' free stock, in cart line order.

    Nothing is locked here. On SQLite the write transaction excludes every other writer,
    so the free stock read is current. PostgreSQL ignores this free stock, because the
    allocation statement reads it again under the products' row locks.
    """
    rows = connection.execute(
        _CART_LINES[context.assortment_mode], {"cart_id": cart_id, "customer_id": context.customer_id}
    ).all()
    tiers = price_tiers(connection, context.price_list_id, [row.product_id for row in rows])
    lines = []
    for row in sorted(rows, key=lambda row: row.id):
        unit_price = customer_unit_price(
            row.list_price, tiers.get(row.product_id, []), context.discount_percent, row.quantity
        )
        lines.append(
            _DraftLine(
                cart_line_id=row.id,
                product_id=row.product_id,
                sku=row.sku,
                name=row.name,
                quantity=row.quantity,
                unit_price=unit_price,
                line_total=line_total(row.quantity, unit_price),
                vat_rate=row.vat_rate,
                min_quantity=row.min_quantity,
                order_multiple=row.order_multiple,
                free_stock=row.on_hand - row.allocated,
                orderable=bool(row.orderable),
            )
        )
    return lines


def _check_order(context: CustomerContext, cart: Row, lines: list[_DraftLine]) -> None:
    """Check the whole current order and raise Problems listing everything wrong with it."""
    problems: list[PortalError] = []
    if cart.address_id is None or cart.address_customer_id != context.customer_id or not cart.address_active:
        problems.append(PortalError("order.address_missing"))
    orderable = [line for line in lines if line.orderable]
    if not orderable:
        problems.append(PortalError("order.empty"))
    for line in orderable:
        try:
            check_quantity_rules(line.quantity, line.min_quantity, line.order_multiple)
        except PortalError as error:
            error.params["sku"] = line.sku
            problems.append(error)
    if problems:
        raise Problems(problems)


def _repeated_or_stale(connection: Connection, context: CustomerContext, checkout_token: str) -> PlacedOrder:
    """Return the order an earlier submit placed with this token, or raise when there is none."""
    existing = connection.execute(_ORDER_BY_TOKEN, {"token": checkout_token}).one_or_none()
    if existing is None:
        raise PortalError("order.stale")
    if existing.customer_id != context.customer_id:
        raise NotFound("order")
    return PlacedOrder(existing.id, existing.number, [], repeated=True)


def _insert_order(
    connection: Connection,
    context: CustomerContext,
    user_id: int,
    checkout_token: str,
    source: OrderSource,
    cart: Row,
    lines: list[_DraftLine],
    now: dt.datetime,
) -> tuple[int, str, Decimal]:
    """Insert the order with snapshots of the address and the totals, and return its id, number and total."""
    totals = compute_totals((line.line_total, line.vat_rate) for line in lines)
    order_id = connection.execute(
        _INSERT_ORDER,
        {
            "number": f"pending-{uuid.uuid4().hex}",
            "customer_id": context.customer_id,
            "user_id": user_id,
            "status": OrderStatus.ACCEPTED if source is OrderSource.SUPPLIER else OrderStatus.NEW,
            "source": source,
            "comment": cart.comment,
            "address_name": cart.address_name,
            "address_street": cart.street,
            "address_postcode": cart.postcode,
            "address_city": cart.city,
            "address_country": cart.country,
            "placed_at": now,
            "checkout_token": checkout_token,
            "subtotal": totals.subtotal,
            "vat_total": totals.vat_total,
            "total": totals.total,
        },
    ).scalar_one()
    number = _order_number(now, order_id)
    connection.execute(_SET_ORDER_NUMBER, {"order_id": order_id, "number": number})
    return order_id, number, totals.total


def _insert_order_lines(
    connection: Connection, order_id: int, lines: list[_DraftLine], now: dt.datetime, *, allocate: bool
) -> None:
    """Insert the order's lines with snapshots of names and prices.

    With `allocate`, each line is allocated as much of its product's free stock as it can
    take, and the rest is backordered. Without it, every line starts with nothing allocated.
    """
    connection.execute(
        _INSERT_ORDER_LINES,
        [
            {
                "order_id": order_id,
                "line_number": number_in_order,
                "product_id": line.product_id,
                "sku": line.sku,
                "name": line.name,
                "unit_price": line.unit_price,
                "vat_rate": line.vat_rate,
                "quantity": line.quantity,
                "allocated": line.allocatable if allocate else 0,
                "delivered": 0,
                "cancelled": 0,
                "line_total": line.line_total,
                "queue_position": now,
            }
            for number_in_order, line in enumerate(lines, start=1)
        ],
    )


def _book_allocations(
    connection: Connection, order_id: int, lines: list[_DraftLine], user_id: int, now: dt.datetime
) -> None:
    """Add the units _insert_order_lines allocated to the order's lines to their products, with stock movements.

    Used on SQLite: its write transaction excludes every other writer, so the free stock
    read at the start of the transaction is current.
    """
    allocations = [
        (line.product_id, line.allocatable)
        for line in sorted(lines, key=lambda line: line.product_id)
        if line.allocatable > 0
    ]
    if not allocations:
        return
    result = connection.execute(
        _ALLOCATE_FREE_STOCK, [{"locked_id": product_id, "take": take} for product_id, take in allocations]
    )
    if result.rowcount != len(allocations):
        raise RuntimeError(
            f"guarded allocation matched {result.rowcount} of {len(allocations)} products: {allocations}"
        )
    connection.execute(_INSERT_ALLOCATION_MOVEMENTS, {"order_id": order_id, "user_id": user_id, "now": now})


def _allocate_locked(connection: Connection, order_id: int, user_id: int, now: dt.datetime) -> None:
    """Allocate free stock to the new order's lines on PostgreSQL, with stock movements, in one statement."""
    counts = connection.execute(
        _ALLOCATE_IN_ONE_STATEMENT, {"new_order_id": order_id, "placing_user_id": user_id, "placed_at": now}
    ).one()
    if not counts.wanted == counts.products == counts.lines == counts.movements:
        raise RuntimeError(f"guarded allocation for order {order_id} did not match every line: {counts}")


def _reset_cart(session: Session, connection: Connection, cart_id: int, now: dt.datetime) -> None:
    """Empty the current order and give it a new checkout token."""
    connection.execute(_EMPTY_CART, {"cart_id": cart_id})
    connection.execute(_RESET_CART, {"cart_id": cart_id, "new_token": new_checkout_token(), "now": now})
    # The statements above bypass the session, so a Cart the caller loaded would keep its
    # old lines and token.
    loaded = session.identity_map.get(identity_key(Cart, cart_id))
    if loaded is not None:
        session.expire(loaded)


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
    # The statements below run on the connection, which does not flush the session first:
    # lines the caller added to the cart in this session must be written before they are read.
    session.flush()
    connection = session.connection()
    # A concurrent submit of the same cart waits at the cart's row lock, then finds the
    # order that the first one committed.
    cart = connection.execute(_LOCK_CART, {"user_id": user_id, "customer_id": context.customer_id}).one_or_none()
    if cart is None or cart.checkout_token != checkout_token:
        return _repeated_or_stale(connection, context, checkout_token)
    # Placing an order replaces the cart's token in the same transaction, so a token still
    # on the cart has placed no order. The unique token on orders backs this up.

    cart_lines = _priced_lines(connection, context, cart.id)
    _check_order(context, cart, cart_lines)
    skipped = [line.sku for line in cart_lines if not line.orderable]
    lines = [line for line in cart_lines if line.orderable]
    now = utc_now()

    order_id, number, total = _insert_order(connection, context, user_id, checkout_token, source, cart, lines, now)
    _reset_cart(session, connection, cart.id, now)
    if connection.dialect.name == "postgresql":
        # Everything that does not depend on stock is written first, so other orders for the
        # same products wait at the row locks only for one statement and the commit.
        _insert_order_lines(connection, order_id, lines, now, allocate=False)
        _allocate_locked(connection, order_id, user_id, now)
    else:
        _insert_order_lines(connection, order_id, lines, now, allocate=True)
        _book_allocations(connection, order_id, lines, user_id, now)
    log.info(
        "Order %s: placed by user %s for customer %s, %s lines, total %s",
        number,
        user_id,
        context.customer_id,
        len(lines),
        total,
    )
    if skipped:
        log.info("Order %s: left out products no longer orderable: %s", number, ", ".join(skipped))
    return PlacedOrder(order_id, number, skipped)


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
