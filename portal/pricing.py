"""Money, customer prices and VAT. All amounts are Decimal; floats never enter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
UNIT_PRICE_STEP = Decimal("0.0001")
HUNDRED = Decimal(100)


def round_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def line_total(quantity: int, unit_price: Decimal) -> Decimal:
    """Quantity times unit price, rounded half up to cents."""
    return round_cents(unit_price * quantity)


@dataclass(frozen=True)
class PriceTier:
    min_quantity: int
    unit_price: Decimal


def customer_unit_price(
    list_price: Decimal,
    tiers: Sequence[PriceTier],
    discount_percent: Decimal,
    quantity: int,
) -> Decimal:
    """Return the unit price excl. VAT a customer pays at this quantity.

    The price list's tier with the highest minimum not above the quantity wins; without
    one the list price applies. The customer's discount comes off that, and the result
    is rounded half up to four decimals, the precision unit prices are stored with.
    """
    price = list_price
    best_minimum = 0
    for tier in tiers:
        if best_minimum < tier.min_quantity <= quantity:
            price = tier.unit_price
            best_minimum = tier.min_quantity
    return discounted_unit_price(price, discount_percent)


def discounted_unit_price(price: Decimal, discount_percent: Decimal) -> Decimal:
    """Take the customer's discount off a list or tier price and round it as customer_unit_price does."""
    if discount_percent:
        price = price * (HUNDRED - discount_percent) / HUNDRED
    return price.quantize(UNIT_PRICE_STEP, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Totals:
    """Subtotal excl. VAT, VAT per rate, and total incl. VAT of a set of lines."""

    subtotal: Decimal
    vat_by_rate: dict[Decimal, Decimal] = field(default_factory=dict)

    @property
    def vat_total(self) -> Decimal:
        return sum(self.vat_by_rate.values(), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.vat_total


def compute_totals(lines: Iterable[tuple[Decimal, Decimal]]) -> Totals:
    """Sum (line total, VAT rate in percent) pairs into totals.

    VAT is computed once per rate over the sum of that rate's line totals and rounded
    half up to cents; rounding per unit or per line would drift by cents.
    """
    base_by_rate: dict[Decimal, Decimal] = {}
    subtotal = Decimal("0.00")
    for amount, rate in lines:
        subtotal += amount
        key = rate.normalize() if rate else Decimal(0)
        base_by_rate[key] = base_by_rate.get(key, Decimal("0.00")) + amount

    vat_by_rate = {rate: round_cents(base * rate / HUNDRED) for rate, base in sorted(base_by_rate.items())}
    return Totals(subtotal=subtotal, vat_by_rate=vat_by_rate)
