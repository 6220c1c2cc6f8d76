"""The benchmark's history import group: its expected orders and its check of a real import."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import update

from bench import measures_import
from bench.measures_import import OrderFigures
from portal.db import Database, create_portal_engine
from portal.models import Order

SLICE = Path(__file__).resolve().parent / "data" / "online-retail-slice.csv"
# Far more than an import of SLICE takes.
BALLAST_BYTES = 600 * 2**20
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
# Customer 100 buys and cancels; customer 200 has one invoice, with a line of 100 on it.
LINES = [
    "500001,10001,MUG,5,2011-01-03 09:00:00,1.50,100.0,United Kingdom",
    "500001,10002A,PLATE,4,2011-01-03 09:00:00,2.25,100.0,United Kingdom",
    "500001,POST,POSTAGE,1,2011-01-03 09:00:00,18.00,100.0,United Kingdom",
    "500002,10001,MUG,6,2011-01-04 10:00:00,1.50,100.0,United Kingdom",
    "500002,10003,BOWL,0,2011-01-04 10:00:00,3.00,100.0,United Kingdom",
    "500003,10001,MUG,5,2011-01-05 11:00:00,1.50,200.0,France",
    "500003,10002a,PLATE,3,2011-01-05 11:00:00,2.25,100.0,France",
    # 8 mugs: no order has 8 left, so the 6 of 500002 and 2 of 500001 are taken back.
    "C500004,10001,MUG,-8,2011-01-06 12:00:00,1.50,100.0,United Kingdom",
    # All 4 plates of 500001, written with a lower-case suffix.
    "C500004,10002a,PLATE,-4,2011-01-06 12:00:00,2.25,100.0,United Kingdom",
    # Another price: no earlier line matches, so nothing is taken back.
    "C500005,10001,MUG,-1,2011-01-07 12:00:00,1.99,100.0,United Kingdom",
    "500006,10001,MUG,-3,2011-01-08 12:00:00,1.50,100.0,United Kingdom",
    "500007,10001,MUG,2,2011-01-09 12:00:00,1.50,,United Kingdom",
    "500008,10002A,PLATE,3,2011-01-10 09:00:00,2.25,100.0,United Kingdom",
    "500009,10002A,PLATE,5,2011-01-10 10:00:00,2.25,100.0,United Kingdom",
    # The newest order with 4 plates left, 500009, gives them all.
    "C500010,10002A,PLATE,-4,2011-01-10 11:00:00,2.25,100.0,United Kingdom",
    # Dated before every order of the plate, so nothing is taken back.
    "C500011,10002A,PLATE,-1,2011-01-02 08:00:00,2.25,100.0,United Kingdom",
]


@pytest.fixture
def small_export(tmp_path: Path) -> Path:
    path = tmp_path / "export.csv"
    path.write_text(HEADER + "\n".join(LINES) + "\n")
    return path


def test_busiest_customer_counts_invoices(small_export):
    assert measures_import.busiest_customer(small_export) == ("100", 10)


def test_expected_orders_apply_cancellations(small_export):
    expected = measures_import.expected_orders(small_export, "100")

    # 3 of 5 mugs left at 1.50 and no plate: 4.50 + 0.945 VAT, rounded half up.
    assert expected["500001"] == OrderFigures(Decimal("5.45"), "completed")
    assert expected["500002"] == OrderFigures(Decimal("0.00"), "cancelled")
    # 3 plates at 2.25: 6.75 + 1.4175 VAT.
    assert expected["500008"] == OrderFigures(Decimal("8.17"), "completed")
    # 1 plate left: 2.25 + 0.4725 VAT.
    assert expected["500009"] == OrderFigures(Decimal("2.72"), "completed")
    for cancellation in ("C500004", "C500005", "C500010", "C500011"):
        assert expected[cancellation] == OrderFigures(Decimal("0.00"), "cancelled")
    # 500003 belongs to customer 200, its first line's; 500006 is a stock correction.
    assert set(expected) == {"500001", "500002", "500008", "500009", "C500004", "C500005", "C500010", "C500011"}


def test_expected_orders_of_other_customer(small_export):
    expected = measures_import.expected_orders(small_export, "200")

    assert expected == {"500003": OrderFigures(Decimal("9.08"), "completed")}


def test_compare_orders_names_each_difference():
    expected = {
        "1": OrderFigures(Decimal("1.21"), "completed"),
        "2": OrderFigures(Decimal("0.00"), "cancelled"),
        "3": OrderFigures(Decimal("2.42"), "completed"),
    }
    listed = {
        "1": OrderFigures(Decimal("1.21"), "completed"),
        "2": OrderFigures(Decimal("0.00"), "completed"),
        "4": OrderFigures(Decimal("5.00"), "completed"),
    }

    problems = measures_import.compare_orders(expected, listed)

    assert problems == ["3: missing", "4: not in the export", "2: status completed, expected cancelled"]


@pytest.mark.timeout(300)
def test_import_measures_on_export_slice(tmp_path):
    measures = measures_import.run_import_measures("retail", "sqlite", Path.cwd(), tmp_path, 1, SLICE)
    by_key = {measure.key: measure for measure in measures}

    assert all(not measure.error for measure in measures), [measure.error for measure in measures]
    assert by_key["import_seconds"].samples[0].figure > 0
    assert by_key["import_peak_rss"].samples[0].figure > 10
    assert by_key["import_check"].samples[0].figure == 0
    orders = by_key["import_orders_match"].samples[0]
    assert orders.figure == 0, by_key["import_orders_match"].note
    assert orders.details["expected"] > measures_import.ordering.ORDERS_PAGE_SIZE
    assert orders.details["pages"] >= 2


def test_import_peak_excludes_parent(tmp_path):
    # Linux carries a parent's RSS into its child's maximum RSS across fork and exec, so
    # with the figure from wait4 this process's ballast would count as the import's.
    ballast = b"\x01" * BALLAST_BYTES
    url = f"sqlite:///{tmp_path / 'history.db'}"
    measures_import.workloads.fresh_database(url).engine.dispose()

    run = measures_import.workloads.run_history_import(url, Path.cwd(), SLICE)

    assert run.returncode == 0, run.output[-2000:]
    assert 10 * 2**20 < run.peak_rss_bytes < len(ballast)


def test_listed_orders_show_a_changed_total(tmp_path):
    url = f"sqlite:///{tmp_path / 'history.db'}"
    measures_import.workloads.fresh_database(url).engine.dispose()
    run = measures_import.workloads.run_history_import(url, Path.cwd(), SLICE)
    assert run.returncode == 0, run.output[-2000:]
    customer, _ = measures_import.busiest_customer(SLICE)
    expected = measures_import.expected_orders(SLICE, customer)
    changed = sorted(number for number, order in expected.items() if order.status == "completed")[0]
    database = Database(create_portal_engine(url))
    with database.write() as session:
        session.execute(update(Order).where(Order.number == changed).values(total=Order.total + 1))
    database.engine.dispose()

    listed, _ = measures_import.listed_orders(url, customer)
    problems = measures_import.compare_orders(expected, listed)

    assert problems == [f"{changed}: total {expected[changed].total + 1}, expected {expected[changed].total}"]


def test_importer_agrees_on_small_export(small_export, tmp_path):
    url = f"sqlite:///{tmp_path / 'small.db'}"
    measures_import.workloads.fresh_database(url).engine.dispose()
    run = measures_import.workloads.run_history_import(url, Path.cwd(), small_export)
    assert run.returncode == 0, run.output[-2000:]

    for customer in ("100", "200"):
        listed, pages = measures_import.listed_orders(url, customer)

        assert pages == 1
        assert measures_import.compare_orders(measures_import.expected_orders(small_export, customer), listed) == []
