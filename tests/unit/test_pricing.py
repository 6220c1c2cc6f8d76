from decimal import Decimal

import pytest

from portal.pricing import PriceTier, compute_totals, customer_unit_price, line_total


def test_totals_example_order():
    lines = [(line_total(10, Decimal("0.10")), Decimal("21")), (line_total(3, Decimal("19.99")), Decimal("21"))]

    totals = compute_totals(lines)

    assert totals.subtotal == Decimal("60.97")
    assert totals.vat_total == Decimal("12.80")
    assert totals.total == Decimal("73.77")


def test_vat_is_per_rate_not_per_line():
    # Per line, 0.10 x 21 % = 0.021 rounds to 0.02, which would give 0.20 over ten lines;
    # over the rate's sum, 1.00 x 21 % is 0.21.
    lines = [(Decimal("0.10"), Decimal("21"))] * 10

    totals = compute_totals(lines)

    assert totals.vat_by_rate == {Decimal("21"): Decimal("0.21")}


def test_vat_split_by_rate():
    lines = [(Decimal("100.00"), Decimal("21")), (Decimal("50.00"), Decimal("9")), (Decimal("10.00"), Decimal("0"))]

    totals = compute_totals(lines)

    assert totals.vat_by_rate[Decimal("21")] == Decimal("21.00")
    assert totals.vat_by_rate[Decimal("9")] == Decimal("4.50")
    assert totals.vat_by_rate[Decimal("0")] == Decimal("0.00")
    assert totals.total == Decimal("185.50")


def test_rates_written_differently_are_one_rate():
    totals = compute_totals([(Decimal("1.00"), Decimal("21.00")), (Decimal("1.00"), Decimal("21"))])

    assert list(totals.vat_by_rate) == [Decimal("21")]


def test_line_total_rounds_half_up():
    assert line_total(1, Decimal("0.125")) == Decimal("0.13")
    assert line_total(3, Decimal("0.3350")) == Decimal("1.01")


def test_totals_are_decimal():
    totals = compute_totals([(Decimal("1.10"), Decimal("21"))])

    assert isinstance(totals.total, Decimal)


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [(1, "10.0000"), (11, "10.0000"), (12, "9.0000"), (47, "9.0000"), (48, "8.5000"), (500, "8.5000")],
)
def test_volume_tier_with_highest_minimum_applies(quantity, expected):
    tiers = [PriceTier(12, Decimal("9")), PriceTier(48, Decimal("8.5"))]

    price = customer_unit_price(Decimal("10"), tiers, Decimal("0"), quantity)

    assert price == Decimal(expected)


def test_discount_applies_to_tier_price_and_rounds_to_four_decimals():
    tiers = [PriceTier(1, Decimal("2.55"))]

    price = customer_unit_price(Decimal("3.00"), tiers, Decimal("12.5"), 1)

    assert price == Decimal("2.2313")
