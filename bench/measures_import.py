"""The history import that builds the retail tier: time, peak memory, integrity, and the Orders screen after it.

Each repetition imports the Online Retail export with `python -m portal import-history
--skip-bad-lines` into a fresh SQLite database of its own, apart from the cached retail
workload, so the import is timed alone. After the first repetition, `python -m portal
check` runs on that database, and the order list of the customer id with the most
invoices in the export is compared with orders computed from the export by this module.

The expected orders follow the rules of the importer's documentation, written again
here instead of calling portal/history.py, so a bug there shows up as a mismatch:

- a line is imported when its stock code is five digits with an optional letter
  suffix, it has a customer id and its unit price is not negative. Its quantity must
  not be 0, and it is negative exactly on cancellation invoices (number starting with C);
- an invoice belongs to the customer of its first imported line, and lines of other
  customers on it are left out;
- each invoice becomes one order dated by its earliest line. A cancellation line takes
  its units back from earlier lines of the same customer, product (codes compared in
  upper case) and unit price. It takes them from the most recent such line with enough
  units left, or else from the most recent such lines together when they cover all its
  units;
- a cancellation invoice becomes a cancelled order with total 0, and an ordinary
  order whose every unit was taken back becomes cancelled;
- products new to the portal get 21 % VAT, the importer's default rate, so an order's
  total is its subtotal plus 21 % of it, rounded half up to cents.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import logging
import os
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select

from bench import workloads
from bench.results import Measure, Rule, Sample, Target
from portal import ordering
from portal.db import Database, create_portal_engine
from portal.models import Customer

log = logging.getLogger(__name__)

IMPORT_TIME_TARGET = Target(Rule.AT_MOST, 180.0, "≤ 180 s", ("retail",))
IMPORT_MEMORY_TARGET = Target(Rule.AT_MOST, 1000.0, "≤ 1,000 MB peak RSS", ("retail",))
CHECK_TARGET = Target(Rule.AT_MOST, 0.0, "`python -m portal check` passes", ("retail",))
ORDERS_TARGET = Target(Rule.AT_MOST, 0.0, "0 orders missing, extra or with another total", ("retail",))
CHECK_TIMEOUT_SECONDS = 900.0
# The last line `python -m portal check` prints when it finds violations.
VIOLATIONS_LINE = re.compile(r"^(\d+) violations found\.$", re.MULTILINE)

PRODUCT_CODE = re.compile(r"\d{5}[A-Za-z]*")
CANCELLATION_PREFIX = "C"
VAT_RATE = Decimal("0.21")
CENT = Decimal("0.01")
CANCELLED = "cancelled"
COMPLETED = "completed"


@dataclass
class _Line:
    code: str  # upper case
    unit_price: Decimal
    quantity: int
    remaining: int = 0


@dataclass
class _Invoice:
    number: str
    sequence: int  # order of first appearance in the file
    placed_at: str  # earliest line, "YYYY-MM-DD HH:MM:SS" local time, which sorts as text
    lines: list[tuple[str, _Line]] = field(default_factory=list)  # (line's own date, line)


@dataclass(frozen=True)
class OrderFigures:
    """An order's total incl. VAT and status, as computed from the export or as listed by the portal."""

    total: Decimal
    status: str


def _rows(csv_path: Path):
    opener = gzip.open if csv_path.suffix == ".gz" else open
    with opener(csv_path, "rt", encoding="utf-8", errors="replace", newline="") as stream:
        yield from csv.DictReader(stream)


def _customer_id(value: str) -> str:
    value = value.strip()
    return value[:-2] if value.endswith(".0") else value


def busiest_customer(csv_path: Path) -> tuple[str, int]:
    """Return the customer id with the most distinct invoice numbers in the export, and that count."""
    invoices: dict[str, set[str]] = defaultdict(set)
    for row in _rows(csv_path):
        customer = _customer_id(row["CustomerID"])
        if customer:
            invoices[customer].add(row["InvoiceNo"].strip())
    customer = max(invoices, key=lambda number: (len(invoices[number]), number))
    return customer, len(invoices[customer])


def _imported_line(row: dict[str, str]) -> tuple[str, str, str, _Line] | None:
    """Return (invoice, customer, date, line) for a line the import keeps, or None."""
    invoice = row["InvoiceNo"].strip()
    code = row["StockCode"].strip()
    customer = _customer_id(row["CustomerID"])
    date = row["InvoiceDate"].strip()
    try:
        quantity = int(row["Quantity"].strip())
        unit_price = Decimal(row["UnitPrice"].strip())
        dt.datetime.fromisoformat(date)
    except (ValueError, InvalidOperation):
        return None
    if not PRODUCT_CODE.fullmatch(code) or not customer or quantity == 0 or unit_price < 0:
        return None
    if (quantity < 0) != invoice.startswith(CANCELLATION_PREFIX):
        return None
    return invoice, customer, date, _Line(code.upper(), unit_price, quantity)


def expected_orders(csv_path: Path, customer: str) -> dict[str, OrderFigures]:
    """Compute from the export every order the import should create for one customer id."""
    owners: dict[str, str] = {}
    invoices: dict[str, _Invoice] = {}
    for row in _rows(csv_path):
        parsed = _imported_line(row)
        if parsed is None:
            continue
        number, line_customer, date, line = parsed
        owner = owners.setdefault(number, line_customer)
        if owner != customer or line_customer != customer:
            continue
        invoice = invoices.get(number)
        if invoice is None:
            invoice = invoices[number] = _Invoice(number, len(invoices), date)
        invoice.placed_at = min(invoice.placed_at, date)
        line.remaining = line.quantity
        invoice.lines.append((date, line))

    ordinary = [invoice for invoice in invoices.values() if not invoice.number.startswith(CANCELLATION_PREFIX)]
    # Most recent first; an order's lines in file order.
    ordinary.sort(key=lambda invoice: (invoice.placed_at, invoice.sequence), reverse=True)
    for invoice in invoices.values():
        if invoice.number.startswith(CANCELLATION_PREFIX):
            for cancelled_at, cancellation in invoice.lines:
                _take_back(ordinary, cancellation, cancelled_at)

    expected = {}
    for invoice in invoices.values():
        if invoice.number.startswith(CANCELLATION_PREFIX):
            expected[invoice.number] = OrderFigures(Decimal("0.00"), CANCELLED)
            continue
        subtotal = sum(
            ((line.remaining * line.unit_price).quantize(CENT, ROUND_HALF_UP) for _, line in invoice.lines),
            Decimal("0.00"),
        )
        total = subtotal + (subtotal * VAT_RATE).quantize(CENT, ROUND_HALF_UP)
        status = CANCELLED if all(line.remaining == 0 for _, line in invoice.lines) else COMPLETED
        expected[invoice.number] = OrderFigures(total, status)
    return expected


def _take_back(ordinary: list[_Invoice], cancellation: _Line, cancelled_at: str) -> None:
    """Take a cancellation line's units back from the earlier lines it matches, if they cover them."""
    units = -cancellation.quantity
    matches = [
        line
        for invoice in ordinary
        if invoice.placed_at <= cancelled_at
        for _, line in invoice.lines
        if line.code == cancellation.code and line.unit_price == cancellation.unit_price and line.remaining > 0
    ]
    single = next((line for line in matches if line.remaining >= units), None)
    if single is not None:
        single.remaining -= units
        return
    if sum(line.remaining for line in matches) < units:
        return
    for line in matches:
        units_taken = min(line.remaining, units)
        line.remaining -= units_taken
        units -= units_taken
        if units == 0:
            return


def listed_orders(url: str, customer_number: str) -> tuple[dict[str, OrderFigures], int]:
    """Page through the customer's Orders screen list as the page does; return its orders and the page count."""
    database = Database(create_portal_engine(url))
    try:
        with database.read() as session:
            customer_id = session.scalar(select(Customer.id).where(Customer.number == customer_number))
            if customer_id is None:
                return {}, 0
            orders: dict[str, OrderFigures] = {}
            pages = 0
            cursor = None
            while True:
                page = ordering.list_orders(session, customer_id, cursor)
                pages += 1
                for row in page.rows:
                    orders[row.number] = OrderFigures(row.total, row.status.value)
                if page.next_cursor is None:
                    return orders, pages
                cursor = page.next_cursor
    finally:
        database.engine.dispose()


def compare_orders(expected: dict[str, OrderFigures], listed: dict[str, OrderFigures]) -> list[str]:
    """Return one line per order that is missing, extra, or listed with another total or status."""
    problems = [f"{number}: missing" for number in sorted(expected.keys() - listed.keys())]
    problems += [f"{number}: not in the export" for number in sorted(listed.keys() - expected.keys())]
    for number in sorted(expected.keys() & listed.keys()):
        want, got = expected[number], listed[number]
        if want.total != got.total:
            problems.append(f"{number}: total {got.total}, expected {want.total}")
        if want.status != got.status:
            problems.append(f"{number}: status {got.status}, expected {want.status}")
    return problems


def _portal_check(url: str, app_dir: Path) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "portal", "check"],
        cwd=app_dir,
        env={**os.environ, "PORTAL_DATABASE_URL": url},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_SECONDS,
    )
    return result.returncode, result.stdout.strip()


def run_import_measures(
    tier: str, engine: str, app_dir: Path, work_dir: Path, repeat: int, csv_path: Path
) -> list[Measure]:
    """Import csv_path `repeat` times into fresh SQLite databases and check the first result."""
    seconds = Measure("import_seconds", "History import: wall time", "s", "time", "", IMPORT_TIME_TARGET, tier, engine)
    memory = Measure(
        "import_peak_rss", "History import: peak RSS", "MB", "peak", "", IMPORT_MEMORY_TARGET, tier, engine
    )
    check = Measure(
        "import_check", "History import: invariant check", "count", "violations", "", CHECK_TARGET, tier, engine
    )
    orders = Measure(
        "import_orders_match",
        "History import: busiest customer's Orders list vs the export",
        "count",
        "mismatches",
        "",
        ORDERS_TARGET,
        tier,
        engine,
    )
    measures = [seconds, memory, check, orders]
    folder = work_dir / "import"
    folder.mkdir(parents=True, exist_ok=True)

    for number in range(1, repeat + 1):
        path = folder / f"history-{number}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        workloads.fresh_database(url).engine.dispose()
        log.info("%s/%s: history import, repetition %s of %s", tier, engine, number, repeat)
        run = workloads.run_history_import(url, app_dir, csv_path)
        if run.returncode != 0:
            error = f"import-history exited {run.returncode}: {run.output.strip()[-300:]}"
            log.warning("%s/%s: %s", tier, engine, error)
            for measure in measures:
                measure.error = error
            break
        log.info("%s/%s: imported in %.1f s, peak RSS %.0f MB", tier, engine, run.seconds, run.peak_rss_bytes / 1e6)
        seconds.samples.append(Sample(run.seconds))
        memory.samples.append(Sample(run.peak_rss_bytes / 1e6))
        if number == 1:
            _check_result(url, app_dir, csv_path, check, orders)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    seconds.note = f"`python -m portal import-history {csv_path.name} --skip-bad-lines` into an empty SQLite database"
    memory.note = "the import process's own high-water mark of resident memory (VmHWM in /proc)"
    return measures


def _check_result(url: str, app_dir: Path, csv_path: Path, check: Measure, orders: Measure) -> None:
    """Run `python -m portal check` and compare the busiest customer's order list with the export."""
    returncode, output = _portal_check(url, app_dir)
    if returncode == 0:
        check.samples.append(Sample(0.0))
        check.note = "on the database of the first repetition"
    else:
        counted = VIOLATIONS_LINE.search(output)
        check.samples.append(Sample(float(counted.group(1)) if counted else 1.0))
        check.note = f"exit {returncode}: {output[-300:]}"
        log.warning("portal check after the import failed:\n%s", output[-2000:])

    customer, invoice_count = busiest_customer(csv_path)
    expected = expected_orders(csv_path, customer)
    listed, pages = listed_orders(url, customer)
    problems = compare_orders(expected, listed)
    for problem in problems[:20]:
        log.warning("customer %s: %s", customer, problem)
    orders.samples.append(
        Sample(
            float(len(problems)),
            details={"expected": len(expected), "listed": len(listed), "pages": pages},
        )
    )
    expected_sum = sum((order.total for order in expected.values()), Decimal("0.00"))
    listed_sum = sum((order.total for order in listed.values()), Decimal("0.00"))
    orders.note = (
        f"customer {customer} ({invoice_count:,} invoice numbers in the export): {len(expected):,} orders expected, "
        f"{len(listed):,} listed on {pages} pages of {ordering.ORDERS_PAGE_SIZE}; totals incl. VAT "
        f"{expected_sum:,} expected, {listed_sum:,} listed"
    )
    if problems:
        orders.note += "; first mismatches: " + "; ".join(problems[:3])
