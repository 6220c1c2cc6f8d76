"""Importing order history from an export of invoice lines.

Most tests import tests/data/online-retail-slice.csv: 1,997 real lines of the Online
Retail export, cut by tests/data/make_slice.py (its docstring lists the rules). The
export has no quantity 0 and no code with leading zeros, so the tests that need those
write small files of their own.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal import cli
from portal.history import HistoryFileError, ImportOptions, ImportSummary, SkipReason, import_history
from portal.integrity import check_invariants
from portal.models import (
    Base,
    Customer,
    Delivery,
    DeliveryLine,
    Order,
    OrderLine,
    OrderSource,
    OrderStatus,
    Product,
    StockMovement,
)
from portal.pricing import compute_totals

SLICE = Path(__file__).resolve().parent.parent / "data" / "online-retail-slice.csv"
HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
GOOD_ROWS = [
    ["900001", "00123", "LEADING ZERO TEST MUG", "6", "2011-12-10 09:00:00", "1.25", "17850.0", "United Kingdom"],
    [
        "900001",
        "85123A",
        "WHITE HANGING HEART T-LIGHT HOLDER",
        "12",
        "2011-12-10 09:00:00",
        "2.55",
        "17850.0",
        "United Kingdom",
    ],
    ["900002", "22632", "HAND WARMER RED POLKA DOT", "24", "2011-12-10 10:00:00", "1.85", "12346.0", "United Kingdom"],
]

# Facts of the slice, checked by hand against the file.
SLICE_PRODUCTS = 707
SLICE_CUSTOMERS = 55
SLICE_ORDERS = 90
SLICE_CANCELLATION_ORDERS = 26
SLICE_LINES = 470
SLICE_LINES_WITHOUT_CUSTOMER = 1272
SLICE_NON_PRODUCT_LINES = 202


def run_import(database, path: Path, options: ImportOptions | None = None, progress=None) -> ImportSummary:
    with database.write() as session:
        return import_history(session, path, options, progress)


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER, delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def table_counts(session) -> dict[str, int]:
    return {
        table.name: session.scalar(select(func.count()).select_from(table)) for table in Base.metadata.sorted_tables
    }


def orders_digest(session) -> str:
    """Hash every column of the orders, their lines and deliveries, in a stable order."""
    digest = hashlib.sha256()
    for model, order_by in (
        (Order, Order.number),
        (OrderLine, OrderLine.id),
        (Delivery, Delivery.id),
        (DeliveryLine, DeliveryLine.id),
    ):
        for row in session.execute(select(model.__table__).order_by(order_by)):
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def order_by_number(session, number: str) -> Order:
    return session.scalars(select(Order).where(Order.number == number)).one()


def line_of(order: Order, sku: str) -> OrderLine:
    return next(line for line in order.lines if line.sku == sku)


@pytest.fixture
def imported(database):
    summary = run_import(database, SLICE)
    return database, summary


def test_slice_counts(imported):
    database, summary = imported

    with database.read() as session:
        counts = table_counts(session)

    assert summary.products_created == SLICE_PRODUCTS
    assert summary.customers_created == SLICE_CUSTOMERS
    assert summary.orders_created == SLICE_ORDERS
    assert summary.cancellation_orders_created == SLICE_CANCELLATION_ORDERS
    assert summary.lines_imported == SLICE_LINES
    assert counts["products"] == SLICE_PRODUCTS
    assert counts["customers"] == SLICE_CUSTOMERS
    assert counts["orders"] == SLICE_ORDERS
    assert counts["order_lines"] == SLICE_LINES
    assert counts["users"] == 0


def test_summary_report_names_each_skip_reason(imported):
    _, summary = imported

    report = "\n".join(summary.report())

    assert SkipReason.NO_CUSTOMER in report
    assert SkipReason.NON_PRODUCT in report
    assert "BANK CHARGES" in report
    assert "Time taken" in report


def test_sku_kept_as_written(database, tmp_path):
    run_import(database, SLICE)
    run_import(database, write_csv(tmp_path / "extra.csv", GOOD_ROWS))

    with database.read() as session:
        skus = set(session.scalars(select(Product.sku)))

    assert "85123A" in skus
    assert "00123" in skus
    assert "123" not in skus


def test_lower_case_suffix_is_same_product(imported):
    database, _ = imported

    with database.read() as session:
        skus = set(session.scalars(select(Product.sku).where(func.upper(Product.sku) == "85123A")))
        line_skus = set(session.scalars(select(OrderLine.sku).where(func.upper(OrderLine.sku) == "85123A")))

    assert skus == {"85123A"}
    assert line_skus == {"85123A"}


def test_name_is_most_frequent_description(imported):
    database, _ = imported

    with database.read() as session:
        product = session.scalars(select(Product).where(Product.sku == "22632")).one()

    # 17 sale lines carry HAND WARMER RED POLKA DOT, 2 carry HAND WARMER RED RETROSPOT.
    assert product.name == "HAND WARMER RED POLKA DOT"
    assert "hand warmer red polka dot" in product.search_text


def test_list_price_is_most_recent_price(imported):
    database, _ = imported

    with database.read() as session:
        rows = session.execute(select(Product.sku, Product.list_price).where(Product.sku.in_(["48185", "47556B"])))
        prices = {sku: price for sku, price in rows}

    # 48185 sold at 6.75 in January 2011 and at 6.35 in April 2011; 47556B at 2.55, then 2.10.
    assert prices["48185"] == Decimal("6.35")
    assert prices["47556B"] == Decimal("2.10")


def test_non_products_reported_not_in_catalogue(imported):
    database, summary = imported

    with database.read() as session:
        skus = set(session.scalars(select(Product.sku)))

    for code in ("POST", "DOT", "M", "D", "BANK CHARGES", "AMAZONFEE", "gift_0001_10", "DCGS0003", "m"):
        assert summary.non_product_codes[code] > 0, code
        assert code not in skus, code
    assert summary.skipped[SkipReason.NON_PRODUCT] == SLICE_NON_PRODUCT_LINES


def test_customer_number_drops_float_suffix(imported):
    database, _ = imported

    with database.read() as session:
        customer = session.scalars(select(Customer).where(Customer.number == "17850")).one()
        float_numbers = session.scalar(select(func.count()).where(Customer.number.like("%.%")))

    assert customer.name == "Customer 17850"
    assert customer.country == "United Kingdom"
    assert customer.language == "en"
    assert float_numbers == 0


def test_lines_without_customer_counted(imported):
    database, summary = imported

    with database.read() as session:
        blank_customers = session.scalar(select(func.count()).where(Customer.number == ""))

    assert summary.skipped[SkipReason.NO_CUSTOMER] == SLICE_LINES_WITHOUT_CUSTOMER
    assert blank_customers == 0


def test_orders_imported_completed_and_delivered(imported):
    database, _ = imported

    with database.read() as session:
        order = order_by_number(session, "536365")
        lines = list(order.lines)
        delivery = order.deliveries[0]
        delivered = {item.order_line_id: item.quantity for item in delivery.lines}

    assert order.source is OrderSource.IMPORT
    assert order.status is OrderStatus.COMPLETED
    assert order.user_id is None
    assert len(lines) == 7
    assert all(line.delivered == line.quantity for line in lines)
    assert delivery.delivered_on == dt.date(2010, 12, 1)
    assert delivered == {line.id: line.quantity for line in lines}
    assert order.total == compute_totals((line.line_total, line.vat_rate) for line in lines).total


def test_import_leaves_stock_alone(imported):
    database, _ = imported

    with database.read() as session:
        on_hand = session.scalar(select(func.sum(Product.on_hand)))
        allocated = session.scalar(select(func.sum(Product.allocated)))
        movements = session.scalar(select(func.count()).select_from(StockMovement))

    assert on_hand == 0
    assert allocated == 0
    assert movements == 0


def test_cancellation_cancels_whole_original(imported):
    database, _ = imported

    with database.read() as session:
        original = order_by_number(session, "541431")
        line = line_of(original, "23166")
        cancellation = order_by_number(session, "C541433")
        cancellation_lines = len(cancellation.lines)
        deliveries = len(original.deliveries)

    assert original.status is OrderStatus.CANCELLED
    assert line.cancelled == 74215
    assert line.delivered == 0
    assert line.line_total == Decimal("0.00")
    assert original.total == Decimal("0.00")
    assert deliveries == 0
    assert cancellation.status is OrderStatus.CANCELLED
    assert cancellation_lines == 0
    assert "541431" in cancellation.comment


def test_cancellation_reverses_part_of_order(imported):
    database, _ = imported

    with database.read() as session:
        order = order_by_number(session, "536790")
        line = line_of(order, "21071")
        lines = list(order.lines)
        delivered = session.scalar(select(DeliveryLine.quantity).where(DeliveryLine.order_line_id == line.id))

    # C543611 takes back 6 of the 12 units at 1.06.
    assert order.status is OrderStatus.COMPLETED
    assert line.cancelled == 6
    assert line.delivered == 6
    assert line.line_total == Decimal("6.36")
    assert delivered == 6
    assert order.subtotal == sum(item.line_total for item in lines)
    assert order.total == compute_totals((item.line_total, item.vat_rate) for item in lines).total


def test_order_totals_never_negative(imported):
    database, _ = imported

    with database.read() as session:
        lowest_total = session.scalar(select(func.min(Order.total)))
        lowest_line = session.scalar(select(func.min(OrderLine.line_total)))
        lowest_quantity = session.scalar(select(func.min(OrderLine.quantity)))

    assert lowest_total >= 0
    assert lowest_line >= 0
    assert lowest_quantity > 0


def test_unmatched_cancellation_stored_cancelled(imported):
    database, summary = imported

    with database.read() as session:
        order = order_by_number(session, "C536391")
        lines = list(order.lines)
        deliveries = len(order.deliveries)

    # Customer 17548 cancels on 2010-12-01, the export's first day, so no earlier invoice exists.
    assert order.status is OrderStatus.CANCELLED
    assert order.total == Decimal("0.00")
    assert len(lines) == 7
    assert all(line.quantity > 0 for line in lines)
    assert all(line.cancelled == line.quantity for line in lines)
    assert all(line.delivered == 0 for line in lines)
    assert all(line.line_total == 0 for line in lines)
    assert deliveries == 0
    assert summary.cancellation_lines_unmatched == 32


def test_times_converted_to_utc(imported):
    database, _ = imported

    with database.read() as session:
        winter = order_by_number(session, "536365")
        summer = order_by_number(session, "555744")
        summer_delivery = summer.deliveries[0].delivered_on

    # 08:26 GMT on 2010-12-01 and 10:44 BST on 2011-06-07 in the export.
    assert winter.placed_at == dt.datetime(2010, 12, 1, 8, 26, tzinfo=dt.UTC)
    assert summer.placed_at == dt.datetime(2011, 6, 7, 9, 44, tzinfo=dt.UTC)
    assert summer_delivery == dt.date(2011, 6, 7)


def test_time_zone_option(database, tmp_path):
    path = write_csv(tmp_path / "amsterdam.csv", GOOD_ROWS[2:])

    run_import(database, path, ImportOptions(time_zone="Europe/Amsterdam"))

    with database.read() as session:
        placed_at = order_by_number(session, "900002").placed_at
    assert placed_at == dt.datetime(2011, 12, 10, 9, 0, tzinfo=dt.UTC)


def test_check_invariants_pass(database, tmp_path):
    run_import(database, SLICE)
    run_import(database, write_csv(tmp_path / "extra.csv", GOOD_ROWS))

    with database.read() as session:
        violations = check_invariants(session)

    assert violations == []


def test_reimport_changes_nothing(imported):
    database, _ = imported
    with database.read() as session:
        counts_before = table_counts(session)
        digest_before = orders_digest(session)

    summary = run_import(database, SLICE)

    with database.read() as session:
        counts_after = table_counts(session)
        digest_after = orders_digest(session)
    assert counts_after == counts_before
    assert digest_after == digest_before
    assert summary.orders_created == 0
    assert summary.orders_already_imported == SLICE_ORDERS
    assert summary.products_created == 0
    assert summary.products_repriced == 0
    assert summary.customers_created == 0


def test_later_export_adds_only_new(database, tmp_path):
    with SLICE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    first_export = write_csv(tmp_path / "until-march.csv", [row for row in rows if row[4] < "2011-04-01"])
    first = run_import(database, first_export)
    with database.read() as session:
        price_before = session.scalar(select(Product.list_price).where(Product.sku == "48185"))

    later = run_import(database, SLICE)

    with database.read() as session:
        orders = session.scalar(select(func.count()).select_from(Order))
        price_after = session.scalar(select(Product.list_price).where(Product.sku == "48185"))
        violations = check_invariants(session)
    assert first.orders_created + later.orders_created == SLICE_ORDERS
    assert later.orders_already_imported == first.orders_created
    assert orders == SLICE_ORDERS
    assert price_before == Decimal("6.75")
    assert price_after == Decimal("6.35")
    assert later.products_repriced > 0
    assert violations == []


def test_later_cancellation_reverses_earlier_import(database, tmp_path):
    original = ["900010", "22632", "HAND WARMER RED POLKA DOT", "24", "2011-12-10 10:00:00", "1.85", "12346.0", "UK"]
    cancellation = [
        "C900011",
        "22632",
        "HAND WARMER RED POLKA DOT",
        "-4",
        "2011-12-11 10:00:00",
        "1.85",
        "12346.0",
        "UK",
    ]
    run_import(database, write_csv(tmp_path / "first.csv", [original]))

    run_import(database, write_csv(tmp_path / "second.csv", [cancellation]))

    with database.read() as session:
        line = line_of(order_by_number(session, "900010"), "22632")
    assert line.cancelled == 4
    assert line.delivered == 20
    assert line.line_total == Decimal("37.00")


def test_zero_quantity_skipped(database, tmp_path):
    zero = ["900003", "22632", "HAND WARMER RED POLKA DOT", "0", "2011-12-10 10:00:00", "1.85", "12346.0", "UK"]
    path = write_csv(tmp_path / "zero.csv", [*GOOD_ROWS, zero])

    summary = run_import(database, path)

    with database.read() as session:
        numbers = set(session.scalars(select(Order.number)))
    assert summary.skipped[SkipReason.ZERO_QUANTITY] == 1
    assert "900003" not in numbers


def test_stock_correction_skipped(database, tmp_path):
    correction = ["900004", "22632", "damaged", "-3", "2011-12-10 10:00:00", "0", "12346.0", "UK"]
    path = write_csv(tmp_path / "correction.csv", [*GOOD_ROWS, correction])

    summary = run_import(database, path)

    assert summary.skipped[SkipReason.STOCK_CORRECTION] == 1


def _bad_file(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.csv"
    if case == "missing column":
        header = [name for name in HEADER if name != "Quantity"]
        return write_csv(path, [row[:3] + row[4:] for row in GOOD_ROWS], header=header)
    if case == "semicolon delimiter":
        return write_csv(path, GOOD_ROWS, delimiter=";")
    if case == "windows-1252 bytes":
        write_csv(path, GOOD_ROWS)
        with path.open("ab") as handle:
            handle.write("900005,22632,CAFÉ MUG,6,2011-12-10 10:00:00,1.85,12346.0,UK\n".encode("cp1252"))
        return path
    bad_value = {
        "non-numeric quantity": (3, "six"),
        "bad price": (5, "2,55"),
        "unreadable date": (4, "10/12/2011 10:00"),
    }[case]
    row = list(GOOD_ROWS[2])
    row[bad_value[0]] = bad_value[1]
    return write_csv(path, [*GOOD_ROWS, row])


@pytest.mark.parametrize(
    ("case", "line", "column"),
    [
        ("missing column", 1, "Quantity"),
        ("semicolon delimiter", 1, "InvoiceNo"),
        ("windows-1252 bytes", 5, "Description"),
        ("non-numeric quantity", 5, "Quantity"),
        ("bad price", 5, "UnitPrice"),
        ("unreadable date", 5, "InvoiceDate"),
    ],
)
def test_bad_input_stops_before_writing(database, tmp_path, case, line, column):
    path = _bad_file(tmp_path, case)

    with pytest.raises(HistoryFileError) as raised:
        run_import(database, path)

    with database.read() as session:
        counts = table_counts(session)
    assert raised.value.line == line
    assert raised.value.column == column
    assert f"line {line}, column {column}" in str(raised.value)
    assert counts["products"] == 0
    assert counts["customers"] == 0
    assert counts["orders"] == 0


def test_unreadable_csv_stops_import(database, tmp_path):
    huge = ["900005", "22632", "X" * 200_000, "6", "2011-12-10 10:00:00", "1.85", "12346.0", "UK"]
    path = write_csv(tmp_path / "huge.csv", [*GOOD_ROWS, huge])

    with pytest.raises(HistoryFileError) as raised:
        run_import(database, path, ImportOptions(skip_bad_lines=True))

    assert raised.value.line == 5


def test_semicolon_error_suggests_delimiter(database, tmp_path):
    with pytest.raises(HistoryFileError) as raised:
        run_import(database, _bad_file(tmp_path, "semicolon delimiter"))

    assert "';'" in str(raised.value)


def test_skip_bad_lines_imports_rest(database, tmp_path):
    rows = [
        *GOOD_ROWS,
        ["900006", "22632", "HAND WARMER", "six", "2011-12-10 10:00:00", "1.85", "12346.0", "UK"],
        ["900007", "22632", "HAND WARMER", "6", "2011-12-10 10:00:00", "abc", "12346.0", "UK"],
        ["900008", "22632", "HAND WARMER", "6", "yesterday", "1.85", "12346.0", "UK"],
        ["900009", "22632", "HAND WARMER", "6"],
    ]
    path = write_csv(tmp_path / "some-bad.csv", rows)

    summary = run_import(database, path, ImportOptions(skip_bad_lines=True))

    with database.read() as session:
        numbers = set(session.scalars(select(Order.number)))
    skipped = [(bad.line, bad.column) for bad in summary.bad_lines]
    assert skipped == [(5, "Quantity"), (6, "UnitPrice"), (7, "InvoiceDate"), (8, "InvoiceDate")]
    assert all(bad.problem for bad in summary.bad_lines)
    assert summary.skipped[SkipReason.BAD_LINE] == 4
    assert numbers == {"900001", "900002"}


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_plain_and_gzip_files(database, tmp_path, compressed):
    path = SLICE
    if compressed:
        path = tmp_path / "slice.csv.gz"
        path.write_bytes(gzip.compress(SLICE.read_bytes()))

    summary = run_import(database, path)

    assert summary.orders_created == SLICE_ORDERS
    assert summary.lines_imported == SLICE_LINES


def test_column_mapping_and_delimiter(database, tmp_path):
    header = ["Invoice", "SKU", "Name", "Qty", "Date", "Price", "Customer", "Land"]
    path = write_csv(tmp_path / "other.csv", GOOD_ROWS, header=header, delimiter=";")
    mapping = {
        "invoice": "Invoice",
        "stock_code": "SKU",
        "description": "Name",
        "quantity": "Qty",
        "invoice_date": "Date",
        "unit_price": "Price",
        "customer_id": "Customer",
        "country": "Land",
    }

    summary = run_import(database, path, ImportOptions(delimiter=";").with_columns(mapping))

    with database.read() as session:
        name = session.scalar(select(Product.name).where(Product.sku == "00123"))
    assert summary.orders_created == 2
    assert summary.lines_imported == 3
    assert name == "LEADING ZERO TEST MUG"


def test_progress_reaches_one(database):
    reports: list[tuple[float, str]] = []

    run_import(database, SLICE, progress=lambda fraction, step: reports.append((fraction, step)))

    fractions = [fraction for fraction, _ in reports]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0


def test_cli_prints_summary(database_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PORTAL_DATABASE_URL", database_url)
    monkeypatch.setenv("PORTAL_COOKIE_KEY", "k" * 40)
    path = write_csv(tmp_path / "extra.csv", GOOD_ROWS)

    code = cli.main(["import-history", str(path)])

    output = capsys.readouterr().out
    assert code == 0
    assert "Orders: 2 created" in output


def test_cli_reports_bad_line(database_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PORTAL_DATABASE_URL", database_url)
    monkeypatch.setenv("PORTAL_COOKIE_KEY", "k" * 40)
    path = _bad_file(tmp_path, "bad price")

    code = cli.main(["import-history", str(path)])

    output = capsys.readouterr().out
    assert code == 1
    assert "line 5, column UnitPrice" in output
