"""The current order: one per user and customer, kept in the database between visits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portal.catalog import CustomerContext, is_orderable, price_tiers
from portal.errors import NotFound, PortalError, Problems
from portal.models import Address, Cart, CartLine, Product, utc_now
from portal.pricing import Totals, compute_totals, customer_unit_price, line_total
from portal.quantities import MAX_QUANTITY, check_quantity_rules, parse_quantity

MAX_COMMENT_LENGTH = 2000


def new_checkout_token() -> str:
    return secrets.token_urlsafe(24)


def get_cart(session: Session, user_id: int, customer_id: int, *, for_update: bool = False) -> Cart | None:
    statement = select(Cart).where(Cart.user_id == user_id, Cart.customer_id == customer_id)
    if for_update:
        statement = statement.with_for_update()
    return session.scalar(statement)


def get_or_create_cart(session: Session, user_id: int, customer_id: int) -> Cart:
    cart = get_cart(session, user_id, customer_id, for_update=True)
    if cart is not None:
        return cart
    # Two tabs adding a first product at once both find no cart; the unique constraint
    # lets one insert win, and the other uses the winner's cart.
    try:
        with session.begin_nested():
            cart = Cart(user_id=user_id, customer_id=customer_id, checkout_token=new_checkout_token())
            session.add(cart)
    except IntegrityError:
        cart = get_cart(session, user_id, customer_id, for_update=True)
        assert cart is not None
    return cart


def _visible_product(session: Session, context: CustomerContext, product_id: int) -> Product:
    if product_id not in is_orderable(session, context, [product_id]):
        raise NotFound("product")
    product = session.get(Product, product_id)
    assert product is not None
    return product


def add_to_cart(session: Session, context: CustomerContext, user_id: int, product_id: int, quantity: str | int) -> int:
    """Add a quantity of a product to the current order; return the line's new quantity."""
    amount = parse_quantity(quantity)
    product = _visible_product(session, context, product_id)
    cart = get_or_create_cart(session, user_id, context.customer_id)

    line = session.scalar(select(CartLine).where(CartLine.cart_id == cart.id, CartLine.product_id == product.id))
    new_quantity = amount + (line.quantity if line else 0)
    if new_quantity > MAX_QUANTITY:
        raise PortalError("quantity.total_too_large", total=new_quantity, maximum=MAX_QUANTITY)
    check_quantity_rules(new_quantity, product.min_quantity, product.order_multiple)

    if line is None:
        session.add(CartLine(cart_id=cart.id, product_id=product.id, quantity=new_quantity))
    else:
        line.quantity = new_quantity
    cart.updated_at = utc_now()
    return new_quantity


def set_quantities(session: Session, context: CustomerContext, user_id: int, quantities: dict[int, str]) -> None:
    """Set the quantity of several lines at once; all are checked before any is saved.

    Keys are product ids of lines in the current order. A line whose product is no longer
    orderable may only be removed, which a quantity of "0" here does not do: use
    remove_line for that.
    """
    cart = get_or_create_cart(session, user_id, context.customer_id)
    lines = {line.product_id: line for line in cart.lines}
    problems: list[PortalError] = []
    parsed: dict[int, int] = {}
    for product_id, raw in quantities.items():
        line = lines.get(product_id)
        if line is None:
            raise NotFound("cart_line")
        try:
            value = parse_quantity(raw)
            check_quantity_rules(value, line.product.min_quantity, line.product.order_multiple)
        except PortalError as error:
            error.params.setdefault("sku", line.product.sku)
            problems.append(error)
            continue
        parsed[product_id] = value
    if problems:
        raise Problems(problems)

    for product_id, value in parsed.items():
        lines[product_id].quantity = value
    cart.updated_at = utc_now()


def remove_line(session: Session, context: CustomerContext, user_id: int, product_id: int) -> None:
    cart = get_cart(session, user_id, context.customer_id, for_update=True)
    if cart is None:
        return
    line = session.scalar(select(CartLine).where(CartLine.cart_id == cart.id, CartLine.product_id == product_id))
    if line is not None:
        session.delete(line)
        cart.updated_at = utc_now()


def set_details(
    session: Session, context: CustomerContext, user_id: int, *, comment: str, address_id: int | None
) -> None:
    """Store the comment and delivery address chosen for the current order."""
    if len(comment) > MAX_COMMENT_LENGTH:
        raise PortalError("order.comment_too_long", maximum=MAX_COMMENT_LENGTH)
    if address_id is not None:
        address = session.get(Address, address_id)
        if address is None or address.customer_id != context.customer_id or not address.active:
            raise NotFound("address")
    cart = get_or_create_cart(session, user_id, context.customer_id)
    cart.comment = comment
    cart.address_id = address_id


@dataclass(frozen=True)
class CartLineView:
    product_id: int
    sku: str
    name: str
    unit: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal
    vat_rate: Decimal
    free_stock: int
    orderable: bool

    @property
    def backorder_quantity(self) -> int:
        """Units that will be backordered if the order is placed now."""
        return max(0, self.quantity - max(self.free_stock, 0))


@dataclass(frozen=True)
class CartView:
    lines: list[CartLineView]
    totals: Totals
    comment: str
    address_id: int | None
    checkout_token: str

    @property
    def orderable_lines(self) -> list[CartLineView]:
        return [line for line in self.lines if line.orderable]


def view_cart(session: Session, context: CustomerContext, user_id: int) -> CartView:
    """Return the current order with the customer's prices, free stock and totals.

    Lines whose product left the assortment or was deactivated are kept and marked not
    orderable; they do not count in the totals.
    """
    cart = session.scalar(
        select(Cart)
        .where(Cart.user_id == user_id, Cart.customer_id == context.customer_id)
        .options(selectinload(Cart.lines).selectinload(CartLine.product))
    )
    if cart is None:
        return CartView(lines=[], totals=compute_totals([]), comment="", address_id=None, checkout_token="")

    product_ids = [line.product_id for line in cart.lines]
    orderable = is_orderable(session, context, product_ids)
    tiers = price_tiers(session, context.price_list_id, product_ids)
    views = []
    for line in cart.lines:
        product = line.product
        unit_price = customer_unit_price(
            product.list_price, tiers.get(product.id, []), context.discount_percent, line.quantity
        )
        views.append(
            CartLineView(
                product_id=product.id,
                sku=product.sku,
                name=product.name,
                unit=product.unit,
                quantity=line.quantity,
                unit_price=unit_price,
                line_total=line_total(line.quantity, unit_price),
                vat_rate=product.vat_rate,
                free_stock=product.on_hand - product.allocated,
                orderable=product.id in orderable,
            )
        )
    totals = compute_totals((line.line_total, line.vat_rate) for line in views if line.orderable)
    return CartView(
        lines=views, totals=totals, comment=cart.comment, address_id=cart.address_id, checkout_token=cart.checkout_token
    )


def cart_quantities(session: Session, user_id: int, customer_id: int) -> dict[int, int]:
    """Return product id to quantity for the current order, for check marks in lists."""
    rows = session.execute(
        select(CartLine.product_id, CartLine.quantity)
        .join(Cart, Cart.id == CartLine.cart_id)
        .where(Cart.user_id == user_id, Cart.customer_id == customer_id)
    )
    return {product_id: quantity for product_id, quantity in rows}


def cart_line_count(session: Session, user_id: int, customer_id: int) -> int:
    return (
        session.scalar(
            select(func.count(CartLine.id))
            .join(Cart, Cart.id == CartLine.cart_id)
            .where(Cart.user_id == user_id, Cart.customer_id == customer_id)
        )
        or 0
    )
