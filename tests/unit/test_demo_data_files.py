"""Consistency checks on the committed demo CSV files in data/demo."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"

PRODUCT_COLUMNS = ["sku", "name", "list_price", "product_group", "vat_rate", "unit"]
CUSTOMER_COLUMNS = ["number", "name", "country"]
ORDER_LINE_COLUMNS = [
    "invoice",
    "customer_number",
    "invoiced_at_utc",
    "sku",
    "name",
    "quantity",
    "unit_price",
]

# A plain decimal with at most four decimals, so "2.55" passes and "2.5500001" or "1E+1" fail.
PRICE_TEXT = re.compile(r"\d+(\.\d{1,4})?")
PRODUCT_CODE = re.compile(r"\d{5}[A-Za-z]*")


@cache
def read_rows(file_name: str) -> tuple[list[str], list[dict[str, str]]]:
    """Read a demo CSV file and return its header and rows."""
    with (DEMO_DIR / file_name).open(encoding="utf-8", newline="") as source:
        reader = csv.DictReader(source)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def products() -> list[dict[str, str]]:
    """Return the rows of products.csv."""
    return read_rows("products.csv")[1]


def customers() -> list[dict[str, str]]:
    """Return the rows of customers.csv."""
    return read_rows("customers.csv")[1]


def order_lines() -> list[dict[str, str]]:
    """Return the rows of order_lines.csv."""
    return read_rows("order_lines.csv")[1]


def parse_price(text: str) -> Decimal:
    """Parse a price column, failing the test when it is not a plain decimal."""
    assert PRICE_TEXT.fullmatch(text), f"price {text!r} is not a decimal with at most 4 decimals"
    return Decimal(text)


@pytest.mark.parametrize(
    ("file_name", "columns"),
    [
        ("products.csv", PRODUCT_COLUMNS),
        ("customers.csv", CUSTOMER_COLUMNS),
        ("order_lines.csv", ORDER_LINE_COLUMNS),
    ],
)
def test_files_have_expected_columns(file_name: str, columns: list[str]) -> None:
    header, rows = read_rows(file_name)

    assert header == columns
    assert rows, f"{file_name} has no rows"


def test_product_skus_are_unique() -> None:
    skus = [product["sku"] for product in products()]

    assert len(skus) == len(set(skus))


def test_skus_stay_text() -> None:
    skus = {product["sku"] for product in products()}

    assert all(PRODUCT_CODE.fullmatch(sku) for sku in skus)
    assert "85123A" in skus
    assert any(sku[-1].isalpha() for sku in skus)
    assert not any(sku.endswith(".0") for sku in skus)


def test_products_have_names_and_groups() -> None:
    for product in products():
        assert product["name"], f"product {product['sku']} has no name"
        assert product["name"] == product["name"].strip()
        assert product["product_group"], f"product {product['sku']} has no group"
        assert product["vat_rate"] in {"21", "9"}
        assert product["unit"] == "pcs"


def test_list_prices_are_positive_decimals() -> None:
    for product in products():
        price = parse_price(product["list_price"])

        assert price > 0, f"product {product['sku']} has list price {price}"


def test_customer_numbers_are_unique_integers() -> None:
    numbers = [customer["number"] for customer in customers()]

    assert len(numbers) == len(set(numbers))
    assert all(number.isdigit() for number in numbers)


def test_customers_use_full_country_names() -> None:
    countries = {customer["country"] for customer in customers()}

    assert "" not in countries
    assert "EIRE" not in countries


def test_order_lines_reference_known_products() -> None:
    skus = {product["sku"] for product in products()}
    unknown = {line["sku"] for line in order_lines()} - skus

    assert not unknown


def test_order_lines_reference_known_customers() -> None:
    numbers = {customer["number"] for customer in customers()}
    unknown = {line["customer_number"] for line in order_lines()} - numbers

    assert not unknown


def test_every_customer_has_order_lines() -> None:
    numbers = {customer["number"] for customer in customers()}
    ordering = {line["customer_number"] for line in order_lines()}

    assert numbers == ordering


def test_order_line_prices_are_decimals() -> None:
    for line in order_lines():
        price = parse_price(line["unit_price"])

        assert price >= 0, f"invoice {line['invoice']} has unit price {price}"


def test_order_lines_have_names() -> None:
    for line in order_lines():
        assert line["name"], f"invoice {line['invoice']} has a line without a name"


def test_cancellations_have_negative_quantities() -> None:
    cancellation_lines = [line for line in order_lines() if line["invoice"].startswith("C")]
    cancellations = {line["invoice"] for line in cancellation_lines}

    assert len(cancellations) >= 3
    for line in cancellation_lines:
        assert int(line["quantity"]) < 0, f"cancellation {line['invoice']} has quantity {line['quantity']}"


def test_orders_have_positive_quantities() -> None:
    for line in order_lines():
        if not line["invoice"].startswith("C"):
            assert int(line["quantity"]) > 0, f"invoice {line['invoice']} has quantity {line['quantity']}"


def test_timestamps_are_utc() -> None:
    for line in order_lines():
        text = line["invoiced_at_utc"]
        invoiced_at = dt.datetime.fromisoformat(text)

        assert text.endswith("+00:00"), f"timestamp {text!r} is not written in UTC"
        assert invoiced_at.tzinfo is not None
        assert invoiced_at.utcoffset() == dt.timedelta(0)


def test_invoice_has_one_customer_and_time() -> None:
    customers_by_invoice: defaultdict[str, set[str]] = defaultdict(set)
    times_by_invoice: defaultdict[str, set[str]] = defaultdict(set)
    for line in order_lines():
        customers_by_invoice[line["invoice"]].add(line["customer_number"])
        times_by_invoice[line["invoice"]].add(line["invoiced_at_utc"])

    assert all(len(numbers) == 1 for numbers in customers_by_invoice.values())
    assert all(len(times) == 1 for times in times_by_invoice.values())
