"""The invariants of stock and orders, checked over a whole database."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import AssortmentItem, Order, OrderLine, Product
from portal.ordering import OPEN_STATUSES
from portal.pricing import compute_totals, line_total


@dataclass(frozen=True)
class Violation:
    """One broken invariant: what it is, on which object, with the numbers involved."""

    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.subject}: {self.detail}"


def _stock_violations(session: Session) -> list[Violation]:
    violations = []
    open_allocated = (
        select(OrderLine.product_id, func.sum(OrderLine.allocated).label("allocated"))
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status.in_(OPEN_STATUSES))
        .group_by(OrderLine.product_id)
        .subquery()
    )
    rows = session.execute(
        select(Product.id, Product.sku, Product.on_hand, Product.allocated, open_allocated.c.allocated).outerjoin(
            open_allocated, open_allocated.c.product_id == Product.id
        )
    )
    for product_id, sku, on_hand, allocated, lines_allocated in rows:
        subject = f"product {product_id} ({sku})"
        if on_hand < 0:
            violations.append(Violation("on_hand_negative", subject, f"on hand {on_hand}"))
        if allocated < 0 or allocated > on_hand:
            violations.append(Violation("allocated_out_of_range", subject, f"allocated {allocated}, on hand {on_hand}"))
        if allocated != (lines_allocated or 0):
            violations.append(
                Violation(
                    "allocated_differs_from_lines",
                    subject,
                    f"product says {allocated}, open order lines hold {lines_allocated or 0}",
                )
            )

    closed_with_allocation = session.execute(
        select(Order.number, OrderLine.line_number, OrderLine.allocated)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status.not_in(OPEN_STATUSES), OrderLine.allocated != 0)
    )
    for number, line_number, allocated in closed_with_allocation:
        violations.append(
            Violation("closed_order_holds_stock", f"order {number} line {line_number}", f"allocated {allocated}")
        )
    return violations


def _line_violations(session: Session) -> list[Violation]:
    violations = []
    rows = session.execute(
        select(
            Order.number,
            OrderLine.line_number,
            OrderLine.quantity,
            OrderLine.allocated,
            OrderLine.delivered,
            OrderLine.cancelled,
            OrderLine.unit_price,
            OrderLine.line_total,
        ).join(Order, Order.id == OrderLine.order_id)
    )
    for number, line_number, quantity, allocated, delivered, cancelled, unit_price, total in rows:
        subject = f"order {number} line {line_number}"
        if min(quantity, allocated, delivered, cancelled) < 0 or allocated + delivered + cancelled > quantity:
            violations.append(
                Violation(
                    "line_parts_out_of_range",
                    subject,
                    f"quantity {quantity}, allocated {allocated}, delivered {delivered}, cancelled {cancelled}",
                )
            )
        expected = line_total(quantity - cancelled, unit_price)
        if total != expected:
            violations.append(Violation("line_total_wrong", subject, f"stored {total}, expected {expected}"))
    return violations


def _order_total_violations(session: Session) -> list[Violation]:
    base: dict[int, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for order_id, rate, amount in session.execute(
        select(OrderLine.order_id, OrderLine.vat_rate, func.sum(OrderLine.line_total)).group_by(
            OrderLine.order_id, OrderLine.vat_rate
        )
    ):
        base[order_id].append((Decimal(amount), rate))

    violations = []
    for order_id, number, subtotal, vat_total, total in session.execute(
        select(Order.id, Order.number, Order.subtotal, Order.vat_total, Order.total)
    ):
        expected = compute_totals(base.get(order_id, []))
        if (subtotal, vat_total, total) != (expected.subtotal, expected.vat_total, expected.total):
            violations.append(
                Violation(
                    "order_totals_wrong",
                    f"order {number}",
                    f"stored {subtotal}/{vat_total}/{total}, lines give "
                    f"{expected.subtotal}/{expected.vat_total}/{expected.total} (subtotal/VAT/total)",
                )
            )
        if total < 0:
            violations.append(Violation("order_total_negative", f"order {number}", f"total {total}"))
    return violations


def _assortment_name_violations(session: Session) -> list[Violation]:
    rows = session.execute(
        select(AssortmentItem.customer_id, Product.sku, AssortmentItem.product_name, Product.name)
        .join(Product, Product.id == AssortmentItem.product_id)
        .where(AssortmentItem.product_name.is_distinct_from(Product.name))
    )
    return [
        Violation(
            "assortment_name_differs",
            f"customer {customer_id} product {sku}",
            f"selection lists it as {copied!r}, the product is named {name!r}",
        )
        for customer_id, sku, copied, name in rows
    ]


def check_invariants(session: Session) -> list[Violation]:
    """Return every violation of the stock, order and selection invariants; an empty list means sound.

    - per product: 0 <= allocated <= on hand, and allocated equals the sum of its open
      order lines' allocated units; closed orders hold no allocation;
    - per line: allocated + delivered + cancelled <= quantity, and the line total is
      the uncancelled quantity times the unit price, rounded half up to cents;
    - per order: the totals equal those computed from its lines, and none is negative;
    - per selection item: the copy of the product's name that orders the selection equals
      the product's name.
    """
    return (
        _stock_violations(session)
        + _line_violations(session)
        + _order_total_violations(session)
        + _assortment_name_violations(session)
    )
