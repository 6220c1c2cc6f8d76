"""Importing a supplier's order history from another system's export of invoice lines.

The export is a CSV file, plain or gzip-compressed, with one row per invoice line. The
default column names are those of the UCI "Online Retail" export: InvoiceNo, StockCode,
Description, Quantity, InvoiceDate, UnitPrice, CustomerID and Country. Other exports map
their own names onto the same fields.

The import reads the file three times. It keeps a summary per product, customer and
invoice in memory, but never all of the lines:

1. Validate every line and gather per product, per customer and per invoice summaries.
   Bad input stops the import here, before anything is written, unless bad lines are
   skipped on request.
2. Write products and customers, then every ordinary invoice as a completed, delivered
   order, in bulk inserts of a few thousand rows.
3. Apply the cancellation invoices: each cancelled line reverses a line of an earlier
   order of the same customer where one is found, or else is kept on a cancelled order
   of its own.

The caller opens the session and commits it, so a failure in any step writes nothing.
Imported orders change no stock and write no stock movements: the goods were delivered
before the portal existed, so the stock counted today already reflects them.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import enum
import gzip
import logging
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, delete, exists, func, insert, select, text, tuple_, update
from sqlalchemy.orm import Session

from portal.catalog import product_search_text
from portal.errors import PortalError
from portal.models import (
    Customer,
    Delivery,
    DeliveryLine,
    Order,
    OrderLine,
    OrderSource,
    OrderStatus,
    Product,
)
from portal.pricing import compute_totals, line_total

log = logging.getLogger(__name__)

# Field of the import -> column name in the UCI Online Retail export.
ONLINE_RETAIL_COLUMNS: Mapping[str, str] = {
    "invoice": "InvoiceNo",
    "stock_code": "StockCode",
    "description": "Description",
    "quantity": "Quantity",
    "invoice_date": "InvoiceDate",
    "unit_price": "UnitPrice",
    "customer_id": "CustomerID",
    "country": "Country",
}
# Description and country may be missing from an export; names then fall back to the SKU.
REQUIRED_FIELDS = ("invoice", "stock_code", "quantity", "invoice_date", "unit_price", "customer_id")

# In the Online Retail export a product code is five digits with an optional letter
# suffix (85123A, 15056BL). Every other code there is postage, a fee, a discount, a
# manual correction or a sample.
ONLINE_RETAIL_PRODUCT_CODE = re.compile(r"\d{5}[A-Za-z]*")
# Non-product codes of the Online Retail export, compared in upper case. With the
# prefixes below, they also catch such lines in exports whose product codes follow no
# pattern.
KNOWN_NON_PRODUCT_CODES = frozenset(
    {
        "POST",  # postage
        "DOT",  # dotcom postage
        "C2",  # carriage
        "D",  # discount
        "M",  # manual correction
        "S",  # samples
        "B",  # bad debt adjustment
        "CRUK",  # charity commission
        "PADS",  # pads to match all cushions
        "BANK CHARGES",
        "AMAZONFEE",
        "ADJUST",
    }
)
KNOWN_NON_PRODUCT_PREFIXES = ("GIFT_", "DCGS")  # gift vouchers, marketplace sales

CANCELLATION_PREFIX = "C"
DEFAULT_TIME_ZONE = "Europe/London"
# New products get the model's default rate; products already in the portal keep theirs.
DEFAULT_VAT_RATE = Decimal("21")
INSERT_CHUNK_ROWS = 5_000
LOOKUP_CHUNK_SIZE = 500
PROGRESS_EVERY_LINES = 10_000
# SQLite page cache while importing, in KiB. The whole database after importing the
# 541,909-line Online Retail export is about 100 MB, so it fits with room to spare.
SQLITE_IMPORT_CACHE_KIB = 256 * 1024

# Column limits of the models; longer values are rejected as bad lines rather than cut.
MAX_INVOICE_LENGTH = 40
MAX_SKU_LENGTH = 64
MAX_NAME_LENGTH = 300
MAX_CUSTOMER_NUMBER_LENGTH = 40
MAX_COUNTRY_LENGTH = 100
MAX_QUANTITY = 2**31 - 1
MAX_PRICE_DECIMALS = 4
MAX_PRICE = Decimal("1e8")

GZIP_MAGIC = b"\x1f\x8b"
# A customer id written as a float, such as 17850.0; its integer part is the number.
FLOAT_CUSTOMER_ID = re.compile(r"(\d+)\.0*")

ProgressCallback = Callable[[float, str], None]
"""Called with the fraction of the import done (0 to 1) and the current step's label."""


class SkipReason(enum.StrEnum):
    """Reason a line of the export was not imported.

    A line counts under the first reason that applies, in the order listed here.
    """

    BAD_LINE = "bad line"
    NON_PRODUCT = "non-product code (postage, fee, discount, correction or sample)"
    NO_CUSTOMER = "no customer id"
    ZERO_QUANTITY = "quantity 0"
    STOCK_CORRECTION = "negative quantity on an invoice that is not a cancellation"
    POSITIVE_ON_CANCELLATION = "positive quantity on a cancellation invoice"
    NEGATIVE_PRICE = "negative unit price"
    OTHER_CUSTOMER = "customer id differs from the first line of its invoice"
    ALREADY_IMPORTED = "order already imported"
    NUMBER_TAKEN = "order number already used by an order not imported from history"


class HistoryFileError(PortalError):
    """The export cannot be imported as it is; names the line and the column at fault."""

    def __init__(self, line: int, column: str | None, problem: str) -> None:
        super().__init__("error.history_file", line=line, column=column, problem=problem)
        self.line = line
        self.column = column
        self.problem = problem

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class BadLine:
    """A line that failed validation and was skipped, with where and why."""

    line: int
    column: str | None
    problem: str

    def __str__(self) -> str:
        return str(HistoryFileError(self.line, self.column, self.problem))


@dataclass(frozen=True)
class ImportOptions:
    """How to read an export; the defaults read the Online Retail export."""

    columns: Mapping[str, str] = field(default_factory=lambda: dict(ONLINE_RETAIL_COLUMNS))
    delimiter: str = ","
    time_zone: str = DEFAULT_TIME_ZONE
    # None reads ISO 8601 (2010-12-01 08:26:00); otherwise a strptime format.
    date_format: str | None = None
    # A code is a product when it matches this pattern (None: any code does) and is
    # neither in non_product_codes nor starts with one of non_product_prefixes.
    product_code: re.Pattern[str] | None = ONLINE_RETAIL_PRODUCT_CODE
    non_product_codes: frozenset[str] = KNOWN_NON_PRODUCT_CODES
    non_product_prefixes: tuple[str, ...] = KNOWN_NON_PRODUCT_PREFIXES
    # The export writes some codes with a lower-case suffix (85123a beside 85123A) for
    # the same product, so codes that differ only in letter case are one product.
    fold_code_case: bool = True
    skip_bad_lines: bool = False

    def with_columns(self, overrides: Mapping[str, str]) -> ImportOptions:
        """Return options whose column names are the defaults with these fields renamed."""
        unknown = sorted(set(overrides) - set(ONLINE_RETAIL_COLUMNS))
        if unknown:
            raise ValueError(
                f"unknown field {', '.join(unknown)} in the column mapping; "
                f"the fields are {', '.join(ONLINE_RETAIL_COLUMNS)}"
            )
        return dataclasses.replace(self, columns={**self.columns, **overrides})

    def is_product_code(self, code: str) -> bool:
        """Tell whether a stock code names a product rather than a fee, discount or correction."""
        upper = code.upper()
        if upper in self.non_product_codes or upper.startswith(self.non_product_prefixes):
            return False
        return self.product_code is None or self.product_code.fullmatch(code) is not None

    def product_key(self, code: str) -> str:
        """Return the key under which spellings of one product's code are grouped."""
        return code.upper() if self.fold_code_case else code


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One valid invoice line of the export."""

    line: int
    invoice: str
    stock_code: str
    description: str
    quantity: int
    invoiced_at: dt.datetime  # UTC
    local_date: dt.date  # the invoice date in the export's time zone
    unit_price: Decimal
    customer_number: str
    country: str


@dataclass
class ImportSummary:
    """Counts of the rows an import wrote and the lines it skipped, by reason."""

    products_created: int = 0
    products_repriced: int = 0
    products_existing: int = 0
    customers_created: int = 0
    customers_existing: int = 0
    orders_created: int = 0
    cancellation_orders_created: int = 0
    orders_already_imported: int = 0
    lines_imported: int = 0
    cancellation_lines_matched: int = 0
    cancellation_lines_unmatched: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    non_product_codes: Counter[str] = field(default_factory=Counter)
    bad_lines: list[BadLine] = field(default_factory=list)
    seconds: float = 0.0

    def report(self) -> list[str]:
        """Return the summary as lines of text for an operator."""
        lines = [
            f"Products: {self.products_created:,} created, {self.products_existing:,} already present "
            f"({self.products_repriced:,} of them given a newer list price).",
            f"Customers: {self.customers_created:,} created, {self.customers_existing:,} already present.",
            f"Orders: {self.orders_created:,} created, {self.cancellation_orders_created:,} of them cancellation "
            f"invoices; {self.orders_already_imported:,} already imported.",
            f"Order lines: {self.lines_imported:,} imported; of the cancellation lines, "
            f"{self.cancellation_lines_matched:,} cancelled lines of earlier orders and "
            f"{self.cancellation_lines_unmatched:,} matched none and were stored as cancelled lines.",
        ]
        if self.skipped:
            lines.append(f"Skipped lines: {sum(self.skipped.values()):,}")
            lines.extend(f"  {count:>9,}  {reason}" for reason, count in self.skipped.most_common())
        if self.non_product_codes:
            lines.append("Non-product codes kept off the catalogue (lines):")
            lines.extend(f"  {count:>9,}  {code}" for code, count in sorted(self.non_product_codes.items()))
        if self.bad_lines:
            lines.append("Bad lines skipped:")
            lines.extend(f"  {bad}" for bad in self.bad_lines)
        lines.append(f"Time taken: {self.seconds:.1f} s.")
        return lines


def parse_column_mapping(text: str) -> dict[str, str]:
    """Parse 'field=Column,field=Column' into a mapping of import fields to column names."""
    mapping = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        field_name, separator, column = pair.partition("=")
        if not separator or not field_name.strip() or not column.strip():
            raise ValueError(f"invalid column mapping {pair!r}; write it as field=Column, such as invoice=InvoiceNo")
        mapping[field_name.strip()] = column.strip()
    return mapping


def parse_delimiter(text: str) -> str:
    """Return the delimiter character that an option names; 'tab' and '\\t' mean a tab."""
    delimiter = "\t" if text in ("tab", "\\t") else text
    if len(delimiter) != 1:
        raise ValueError(f"invalid delimiter {text!r}; give one character, or 'tab'")
    return delimiter


# --- Reading the export -----------------------------------------------------------


class _ExportReader:
    """Stream an export's rows as HistoryLine or BadLine values, reporting progress by bytes read."""

    def __init__(
        self,
        path: Path,
        options: ImportOptions,
        progress: Callable[[float], None],
        invoice_filter: Callable[[str], bool] | None = None,
    ) -> None:
        self.path = path
        self.options = options
        self.progress = progress
        # Rows whose invoice number fails the filter are passed over without being parsed.
        self.invoice_filter = invoice_filter
        try:
            self.zone = ZoneInfo(options.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {options.time_zone!r}; use an IANA name such as Europe/London") from (
                error
            )
        self._date_cache: tuple[str, dt.datetime, dt.date] | None = None

    def __iter__(self) -> Iterator[HistoryLine | BadLine]:
        with self.path.open("rb") as raw:
            size = os.fstat(raw.fileno()).st_size or 1
            compressed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            binary = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            undecodable: list[int] = []
            physical = 0

            def text_lines() -> Iterator[str]:
                nonlocal physical
                try:
                    for data in binary:
                        physical += 1
                        try:
                            yield data.decode("utf-8")
                        except UnicodeDecodeError:
                            # Kept readable so the row parses and the column can be named.
                            undecodable.append(physical)
                            yield data.decode("utf-8", "surrogateescape")
                except (OSError, EOFError, zlib.error) as error:
                    raise HistoryFileError(physical + 1, None, f"the gzip data is damaged or cut off ({error})") from (
                        error
                    )

            reader = csv.reader(text_lines(), delimiter=self.options.delimiter)
            try:
                header = next(reader)
            except StopIteration:
                raise HistoryFileError(1, None, "the file is empty; expected a header line") from None
            names, indexes = self._header_indexes(header, bool(undecodable))

            previous_end = reader.line_num
            for count, row in enumerate(self._rows(reader), start=1):
                start, previous_end = previous_end + 1, reader.line_num
                if count % PROGRESS_EVERY_LINES == 0:
                    self.progress(min(raw.tell() / size, 1.0))
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if undecodable and undecodable[0] <= previous_end:
                    del undecodable[:]
                    yield self._encoding_problem(start, row, names)
                    continue
                if len(row) != len(names):
                    missing = names[len(row)] if len(row) < len(names) else None
                    yield BadLine(
                        start,
                        missing,
                        f"expected {len(names)} fields as in the header, found {len(row)}; "
                        "check the delimiter and the quoting",
                    )
                    continue
                if self.invoice_filter is not None and not self.invoice_filter(row[indexes["invoice"]].strip()):
                    continue
                yield self._parse(start, row, indexes)
            self.progress(1.0)

    @staticmethod
    def _rows(reader: Iterator[list[str]]) -> Iterator[list[str]]:
        """Yield the reader's rows, turning a row the csv module cannot split into HistoryFileError."""
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                # The csv module stops at such a row (a field over its size limit, for
                # example), so it cannot be skipped like a bad value.
                raise HistoryFileError(reader.line_num, None, f"the line cannot be read as CSV: {error}") from error
            yield row

    def _header_indexes(self, header: list[str], undecodable: bool) -> tuple[list[str], dict[str, int]]:
        """Return the header's column names and the index of each field's column."""
        names = [name.strip() for name in header]
        if names:
            # Spreadsheet programs often start a UTF-8 file with a byte order mark.
            names[0] = names[0].removeprefix("\ufeff").strip()
        if undecodable:
            raise HistoryFileError(1, None, "the header is not valid UTF-8; save the export as UTF-8")
        positions = {name: index for index, name in reversed(list(enumerate(names)))}
        indexes: dict[str, int] = {}
        missing = []
        for field_name, column in self.options.columns.items():
            if column in positions:
                indexes[field_name] = positions[column]
            elif field_name in REQUIRED_FIELDS:
                missing.append(column)
        if missing:
            problem = f"missing column {', '.join(missing)}; the header has {', '.join(names)}"
            if len(names) == 1:
                for delimiter in (";", "\t", "|"):
                    if delimiter in names[0]:
                        problem += f"; the file seems to use {delimiter!r} as delimiter, so set the delimiter option"
                        break
            raise HistoryFileError(1, missing[0], problem)
        return names, indexes

    def _encoding_problem(self, line: int, row: list[str], names: list[str]) -> BadLine:
        for name, value in zip(names, row, strict=False):
            bad = [char for char in value if "\udc80" <= char <= "\udcff"]
            if bad:
                byte_values = " ".join(f"0x{ord(char) - 0xDC00:02X}" for char in bad[:3])
                return BadLine(line, name, f"bytes {byte_values} are not UTF-8; save the export as UTF-8")
        return BadLine(line, None, "the line is not valid UTF-8; save the export as UTF-8")

    def _parse(self, line: int, row: list[str], indexes: dict[str, int]) -> HistoryLine | BadLine:
        columns = self.options.columns

        def text(field_name: str, max_length: int, required: bool = True) -> str:
            index = indexes.get(field_name)
            value = row[index].strip() if index is not None else ""
            if required and not value:
                raise _FieldError(columns[field_name], "empty")
            if len(value) > max_length:
                raise _FieldError(columns[field_name], f"longer than {max_length} characters")
            return value

        try:
            invoice = text("invoice", MAX_INVOICE_LENGTH)
            stock_code = text("stock_code", MAX_SKU_LENGTH)
            description = text("description", MAX_NAME_LENGTH, required=False)
            quantity = self._quantity(row[indexes["quantity"]], columns["quantity"])
            invoiced_at, local_date = self._date(row[indexes["invoice_date"]], columns["invoice_date"])
            unit_price = self._price(row[indexes["unit_price"]], columns["unit_price"])
            customer_number = _customer_number(text("customer_id", MAX_CUSTOMER_NUMBER_LENGTH, required=False))
            country = text("country", MAX_COUNTRY_LENGTH, required=False)
        except _FieldError as error:
            return BadLine(line, error.column, error.problem)
        return HistoryLine(
            line,
            invoice,
            stock_code,
            description,
            quantity,
            invoiced_at,
            local_date,
            unit_price,
            customer_number,
            country,
        )

    @staticmethod
    def _quantity(value: str, column: str) -> int:
        try:
            quantity = int(value.strip())
        except ValueError:
            raise _FieldError(column, f"{value!r} is not a whole number") from None
        if abs(quantity) > MAX_QUANTITY:
            raise _FieldError(column, f"{quantity} is too large")
        return quantity

    @staticmethod
    def _price(value: str, column: str) -> Decimal:
        try:
            price = Decimal(value.strip())
        except InvalidOperation:
            raise _FieldError(column, f"{value!r} is not a number; write it like 2.55") from None
        if not price.is_finite():
            raise _FieldError(column, f"{value!r} is not a number; write it like 2.55")
        exponent = price.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -MAX_PRICE_DECIMALS:
            raise _FieldError(column, f"{value!r} has more than {MAX_PRICE_DECIMALS} decimals")
        if abs(price) >= MAX_PRICE:
            raise _FieldError(column, f"{value!r} is too large")
        return price

    def _date(self, value: str, column: str) -> tuple[dt.datetime, dt.date]:
        value = value.strip()
        # Lines of one invoice share a date, so remembering the last one saves most conversions.
        if self._date_cache is not None and self._date_cache[0] == value:
            return self._date_cache[1], self._date_cache[2]
        try:
            if self.options.date_format is None:
                parsed = dt.datetime.fromisoformat(value)
            else:
                parsed = dt.datetime.strptime(value, self.options.date_format)
        except ValueError:
            expected = self.options.date_format or "YYYY-MM-DD HH:MM:SS"
            raise _FieldError(column, f"cannot read date {value!r}; expected {expected}") from None
        if parsed.tzinfo is None:
            # NOTE: a local time that a clock change repeats or skips is read with fold=0,
            # that is as the first of the two or shifted by the gap. The Online Retail
            # export has no invoices between 01:00 and 02:00, the hour that is affected.
            local_date = parsed.date()
            aware = parsed.replace(tzinfo=self.zone)
        else:
            local_date = parsed.astimezone(self.zone).date()
            aware = parsed
        utc = aware.astimezone(dt.UTC)
        self._date_cache = (value, utc, local_date)
        return utc, local_date


class _FieldError(Exception):
    def __init__(self, column: str, problem: str) -> None:
        super().__init__(problem)
        self.column = column
        self.problem = problem


def _customer_number(value: str) -> str:
    """Return the customer number of an export's customer id: '17850.0' becomes '17850'."""
    match = FLOAT_CUSTOMER_ID.fullmatch(value)
    return match.group(1) if match else value


def _skip_reason(line: HistoryLine, options: ImportOptions) -> SkipReason | None:
    """Return why a valid line is not imported, or None when it becomes an order line."""
    if not options.is_product_code(line.stock_code):
        return SkipReason.NON_PRODUCT
    if not line.customer_number:
        return SkipReason.NO_CUSTOMER
    if line.quantity == 0:
        return SkipReason.ZERO_QUANTITY
    cancellation = line.invoice.startswith(CANCELLATION_PREFIX)
    if cancellation and line.quantity > 0:
        return SkipReason.POSITIVE_ON_CANCELLATION
    if not cancellation and line.quantity < 0:
        return SkipReason.STOCK_CORRECTION
    if line.unit_price < 0:
        return SkipReason.NEGATIVE_PRICE
    return None


# --- Pass 1: validate and summarise ---------------------------------------------------


@dataclass(slots=True)
class _ProductStats:
    """Facts the export gives about one product: spellings of its code, names and latest price."""

    spellings: Counter[str] = field(default_factory=Counter)
    # description -> (count, latest (time, line)); sale lines and other lines kept apart
    # because returns and corrections carry notes such as "damaged" in place of names.
    sale_names: dict[str, tuple[int, tuple[dt.datetime, int]]] = field(default_factory=dict)
    other_names: dict[str, tuple[int, tuple[dt.datetime, int]]] = field(default_factory=dict)
    price: Decimal = Decimal("0")
    price_key: tuple[int, dt.datetime, int] = (-1, dt.datetime.min.replace(tzinfo=dt.UTC), 0)

    def add(self, line: HistoryLine, sale: bool) -> None:
        self.spellings[line.stock_code] += 1
        if line.description:
            names = self.sale_names if sale else self.other_names
            count, _ = names.get(line.description, (0, None))
            names[line.description] = (count + 1, (line.invoiced_at, line.line))
        key = (_price_rank(line, sale), line.invoiced_at, line.line)
        if key > self.price_key:
            self.price, self.price_key = line.unit_price, key

    @property
    def sku(self) -> str:
        return max(self.spellings, key=lambda spelling: (self.spellings[spelling], spelling))

    @property
    def name(self) -> str:
        names = self.sale_names or self.other_names
        if not names:
            return self.sku
        return max(names, key=lambda name: names[name])

    @property
    def price_time(self) -> dt.datetime:
        return self.price_key[1]


def _price_rank(line: HistoryLine, sale: bool) -> int:
    """Rank a line as a source of the list price; the latest line of the highest rank sets it."""
    if line.unit_price <= 0:
        return -1
    if not sale:
        return 0
    # Lines without a customer are mostly retail web shop sales at about twice the
    # wholesale price, so any customer's sale ranks above all of them.
    return 2 if line.customer_number else 1


@dataclass(slots=True)
class _InvoiceStats:
    """An invoice's customer, date and the number of its lines that will be imported."""

    customer_number: str
    country: str
    placed_at: dt.datetime
    local_date: dt.date
    line_count: int = 0


@dataclass
class _Scan:
    """The result of pass 1."""

    products: dict[str, _ProductStats] = field(default_factory=dict)
    # customer number -> (country, (time, line) of the line it was read from)
    customers: dict[str, tuple[str, tuple[dt.datetime, int]]] = field(default_factory=dict)
    invoices: dict[str, _InvoiceStats] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    non_product_codes: Counter[str] = field(default_factory=Counter)
    bad_lines: list[BadLine] = field(default_factory=list)
    # (customer number, product key) of every cancellation line to import
    cancelled_products: set[tuple[str, str]] = field(default_factory=set)


def _scan(path: Path, options: ImportOptions, progress: Callable[[float], None]) -> _Scan:
    """Validate every line and gather the summaries the writing passes need."""
    scan = _Scan()
    for item in _ExportReader(path, options, progress):
        if isinstance(item, BadLine):
            if not options.skip_bad_lines:
                raise HistoryFileError(item.line, item.column, item.problem)
            scan.bad_lines.append(item)
            scan.skipped[SkipReason.BAD_LINE] += 1
            continue

        if item.customer_number:
            known = scan.customers.get(item.customer_number)
            key = (item.invoiced_at, item.line)
            if known is None or key > known[1]:
                scan.customers[item.customer_number] = (item.country, key)

        reason = _skip_reason(item, options)
        if reason is None:
            reason = _count_invoice_line(scan, item)
        # Products come from imported lines and from sales without a customer, which are
        # goods the supplier sells too. Stock corrections and fees create none.
        sale = item.quantity > 0 and not item.invoice.startswith(CANCELLATION_PREFIX)
        if reason is None or (reason is SkipReason.NO_CUSTOMER and sale and item.unit_price >= 0):
            stats = scan.products.setdefault(options.product_key(item.stock_code), _ProductStats())
            stats.add(item, sale)
        if reason is None and item.quantity < 0:
            scan.cancelled_products.add((item.customer_number, options.product_key(item.stock_code)))
        if reason is not None:
            scan.skipped[reason] += 1
            if reason is SkipReason.NON_PRODUCT:
                scan.non_product_codes[item.stock_code] += 1
    return scan


def _count_invoice_line(scan: _Scan, line: HistoryLine) -> SkipReason | None:
    invoice = scan.invoices.get(line.invoice)
    if invoice is None:
        scan.invoices[line.invoice] = _InvoiceStats(
            line.customer_number, line.country, line.invoiced_at, line.local_date, 1
        )
        return None
    if invoice.customer_number != line.customer_number:
        return SkipReason.OTHER_CUSTOMER
    invoice.line_count += 1
    # Some invoices span two minutes; the order is dated by its earliest line.
    if line.invoiced_at < invoice.placed_at:
        invoice.placed_at, invoice.local_date = line.invoiced_at, line.local_date
    return None


def _importable_lines(
    path: Path, options: ImportOptions, scan: _Scan, progress: Callable[[float], None], cancellations: bool
) -> Iterator[tuple[str, _InvoiceStats, list[HistoryLine]]]:
    """Yield each invoice to import, of one kind, with all its importable lines in file order.

    Lines are buffered per invoice until the count found in pass 1 is reached, so an
    export in date order keeps few invoices in memory, and any other order still works.
    """
    pending: dict[str, list[HistoryLine]] = {}

    def selected(number: str) -> bool:
        return number.startswith(CANCELLATION_PREFIX) == cancellations and number in scan.invoices

    for item in _ExportReader(path, options, progress, invoice_filter=selected):
        if isinstance(item, BadLine) or item.invoice.startswith(CANCELLATION_PREFIX) != cancellations:
            continue
        invoice = scan.invoices.get(item.invoice)
        if invoice is None or _skip_reason(item, options) is not None:
            continue
        if item.customer_number != invoice.customer_number:
            continue
        lines = pending.setdefault(item.invoice, [])
        lines.append(item)
        if len(lines) == invoice.line_count:
            del pending[item.invoice]
            yield item.invoice, invoice, lines
    if pending:
        raise HistoryFileError(0, None, "the file changed while it was being imported; import it again")


# --- Pass 2: catalogue, customers and orders --------------------------------------------


@dataclass(frozen=True, slots=True)
class _CatalogueEntry:
    product_id: int
    sku: str
    name: str
    vat_rate: Decimal


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _import_products(
    session: Session, scan: _Scan, options: ImportOptions, summary: ImportSummary
) -> dict[str, _CatalogueEntry]:
    """Create the products the portal lacks; return every export product by its key.

    A product already in the portal keeps its name, VAT rate and stock. Its list price
    takes the export's latest price only when that price is newer than every order line
    of the product in the portal, so importing an older export never undoes a newer price.
    """
    catalogue: dict[str, _CatalogueEntry] = {}
    keys = list(scan.products)
    existing: dict[str, tuple[int, str, str, Decimal, Decimal]] = {}
    sku_column = func.upper(Product.sku) if options.fold_code_case else Product.sku
    for chunk in _chunks(keys, LOOKUP_CHUNK_SIZE):
        rows = session.execute(
            select(Product.id, Product.sku, Product.name, Product.vat_rate, Product.list_price).where(
                sku_column.in_(chunk)
            )
        )
        for row in rows:
            key = options.product_key(row.sku)
            # An exact spelling wins over another letter case of the same code.
            if key not in existing or row.sku in scan.products[key].spellings:
                existing[key] = tuple(row)

    latest_line = _latest_order_line_times(session, [row[0] for row in existing.values()])
    for key, (product_id, sku, name, vat_rate, list_price) in existing.items():
        stats = scan.products[key]
        catalogue[key] = _CatalogueEntry(product_id, sku, name, vat_rate)
        summary.products_existing += 1
        newer = product_id not in latest_line or stats.price_time > latest_line[product_id]
        if newer and stats.price_key[0] >= 0 and stats.price != list_price:
            session.execute(update(Product).where(Product.id == product_id).values(list_price=stats.price))
            summary.products_repriced += 1

    new_rows = []
    for key in keys:
        if key in catalogue:
            continue
        stats = scan.products[key]
        sku, name = stats.sku, stats.name
        new_rows.append(
            {
                "sku": sku,
                "ean": None,
                "name": name,
                "description": "",
                "product_group": "",
                "list_price": stats.price,
                "vat_rate": DEFAULT_VAT_RATE,
                "unit": "pcs",
                "min_quantity": 1,
                "order_multiple": 1,
                "active": True,
                # Stock starts at zero: the export records what was sold, not what is on hand.
                "on_hand": 0,
                "allocated": 0,
                "search_text": product_search_text(sku, None, name),
            }
        )
    for chunk in _chunks(new_rows, INSERT_CHUNK_ROWS):
        ids = session.scalars(insert(Product).returning(Product.id, sort_by_parameter_order=True), chunk).all()
        for row, product_id in zip(chunk, ids, strict=True):
            catalogue[options.product_key(row["sku"])] = _CatalogueEntry(
                product_id, row["sku"], row["name"], DEFAULT_VAT_RATE
            )
    summary.products_created = len(new_rows)
    return catalogue


def _latest_order_line_times(session: Session, product_ids: list[int]) -> dict[int, dt.datetime]:
    latest: dict[int, dt.datetime] = {}
    for chunk in _chunks(product_ids, LOOKUP_CHUNK_SIZE):
        rows = session.execute(
            select(OrderLine.product_id, func.max(Order.placed_at))
            .join(Order, Order.id == OrderLine.order_id)
            .where(OrderLine.product_id.in_(chunk))
            .group_by(OrderLine.product_id)
        )
        for product_id, placed_at in rows:
            # MAX() on SQLite returns the stored text, which the column type does not convert.
            if isinstance(placed_at, str):
                placed_at = dt.datetime.fromisoformat(placed_at)
            latest[product_id] = placed_at if placed_at.tzinfo else placed_at.replace(tzinfo=dt.UTC)
    return latest


def _import_customers(session: Session, scan: _Scan, summary: ImportSummary) -> dict[str, int]:
    """Create the customers the portal lacks; return every export customer's id by number.

    Customers already in the portal are matched by number and left as they are. The
    export has no company names, so new customers get a label the supplier can change.
    """
    ids: dict[str, int] = {}
    numbers = list(scan.customers)
    for chunk in _chunks(numbers, LOOKUP_CHUNK_SIZE):
        rows = session.execute(select(Customer.number, Customer.id).where(Customer.number.in_(chunk)))
        ids.update((number, customer_id) for number, customer_id in rows)
    summary.customers_existing = len(ids)

    new_rows = [
        {
            "number": number,
            "name": f"Customer {number}",
            "country": country,
            "language": "en",
        }
        for number, (country, _) in scan.customers.items()
        if number not in ids
    ]
    for chunk in _chunks(new_rows, INSERT_CHUNK_ROWS):
        created = session.scalars(insert(Customer).returning(Customer.id, sort_by_parameter_order=True), chunk).all()
        ids.update(zip((row["number"] for row in chunk), created, strict=True))
    summary.customers_created = len(new_rows)
    return ids


def _mark_existing_orders(session: Session, scan: _Scan, summary: ImportSummary) -> None:
    """Drop invoices that are orders already, counting their lines as skipped."""
    numbers = list(scan.invoices)
    for chunk in _chunks(numbers, LOOKUP_CHUNK_SIZE):
        for number, source in session.execute(select(Order.number, Order.source).where(Order.number.in_(chunk))):
            invoice = scan.invoices.pop(number)
            if source == OrderSource.IMPORT:
                summary.orders_already_imported += 1
                scan.skipped[SkipReason.ALREADY_IMPORTED] += invoice.line_count
            else:
                log.warning("Invoice %s not imported: order %s exists and was not imported", number, number)
                scan.skipped[SkipReason.NUMBER_TAKEN] += invoice.line_count


@dataclass
class _OrderBatch:
    """Orders waiting for one bulk insert: order rows and, per order, its line rows."""

    orders: list[dict] = field(default_factory=list)
    lines: list[list[dict]] = field(default_factory=list)
    delivery_dates: list[dt.date | None] = field(default_factory=list)
    line_count: int = 0


class _OrderWriter:
    """Insert orders with their lines, and a delivery for the delivered ones, in bulk."""

    def __init__(self, session: Session, summary: ImportSummary) -> None:
        self.session = session
        self.summary = summary
        self.batch = _OrderBatch()

    def add(self, order: dict, lines: list[dict], delivered_on: dt.date | None) -> None:
        """Queue an order; with a date, it gets one delivery of every line's delivered units."""
        self.batch.orders.append(order)
        self.batch.lines.append(lines)
        self.batch.delivery_dates.append(delivered_on)
        self.batch.line_count += len(lines)
        if self.batch.line_count >= INSERT_CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        """Insert the waiting orders, their lines, deliveries and delivery lines."""
        batch, self.batch = self.batch, _OrderBatch()
        if not batch.orders:
            return
        session = self.session
        order_ids = session.scalars(insert(Order).returning(Order.id, sort_by_parameter_order=True), batch.orders).all()

        line_rows = []
        delivery_rows = []
        for order, order_id, lines, delivered_on in zip(
            batch.orders, order_ids, batch.lines, batch.delivery_dates, strict=True
        ):
            for row in lines:
                row["order_id"] = order_id
                line_rows.append(row)
            if delivered_on is not None and lines:
                delivery_rows.append(
                    {
                        "order_id": order_id,
                        "delivered_on": delivered_on,
                        "track_and_trace": "",
                        "created_at": order["placed_at"],
                    }
                )
        # Core inserts of the tables skip the ORM's per-row bookkeeping, which costs more
        # than the database's own work at this volume.
        if line_rows:
            session.execute(insert(OrderLine.__table__), line_rows)
        if delivery_rows:
            session.execute(insert(Delivery.__table__), delivery_rows)
            # Each new order has at most one delivery, so joining on the order pairs every
            # delivered line with its delivery without reading the new ids back.
            session.execute(
                insert(DeliveryLine).from_select(
                    ["delivery_id", "order_line_id", "quantity"],
                    select(Delivery.id, OrderLine.id, OrderLine.delivered)
                    .join(Delivery, Delivery.order_id == OrderLine.order_id)
                    .where(OrderLine.order_id.in_([row["order_id"] for row in delivery_rows]), OrderLine.delivered > 0),
                )
            )

        self.summary.orders_created += len(order_ids)
        self.summary.lines_imported += len(line_rows)


def _order_row(number: str, customer_id: int, invoice: _InvoiceStats, lines: list[dict], status: OrderStatus) -> dict:
    totals = compute_totals((row["line_total"], row["vat_rate"]) for row in lines)
    return {
        "number": number,
        "customer_id": customer_id,
        "user_id": None,
        "status": status,
        "source": OrderSource.IMPORT,
        "comment": "",
        "address_name": "",
        "address_street": "",
        "address_postcode": "",
        "address_city": "",
        "address_country": invoice.country,
        "placed_at": invoice.placed_at,
        "checkout_token": None,
        "subtotal": totals.subtotal,
        "vat_total": totals.vat_total,
        "total": totals.total,
    }


def _line_rows(
    lines: list[HistoryLine], invoice: _InvoiceStats, catalogue: dict[str, _CatalogueEntry], options: ImportOptions
) -> list[dict]:
    """Build order line rows; a cancellation's lines are stored fully cancelled, with total 0."""
    rows = []
    for number, line in enumerate(lines, start=1):
        entry = catalogue[options.product_key(line.stock_code)]
        quantity = abs(line.quantity)
        cancelled = quantity if line.quantity < 0 else 0
        rows.append(
            {
                "line_number": number,
                "product_id": entry.product_id,
                # The product's spelling of the code, so one product shows one SKU in history.
                "sku": entry.sku,
                "name": line.description or entry.name,
                "unit_price": line.unit_price,
                "vat_rate": entry.vat_rate,
                "quantity": quantity,
                "allocated": 0,
                "delivered": quantity - cancelled,
                "cancelled": cancelled,
                "line_total": line_total(quantity - cancelled, line.unit_price),
                "queue_position": invoice.placed_at,
            }
        )
    return rows


def _import_orders(
    session: Session,
    path: Path,
    options: ImportOptions,
    scan: _Scan,
    catalogue: dict[str, _CatalogueEntry],
    customers: dict[str, int],
    summary: ImportSummary,
    progress: Callable[[float], None],
) -> None:
    """Write every ordinary invoice as a completed order whose lines were all delivered."""
    writer = _OrderWriter(session, summary)
    for number, invoice, lines in _importable_lines(path, options, scan, progress, cancellations=False):
        rows = _line_rows(lines, invoice, catalogue, options)
        order = _order_row(number, customers[invoice.customer_number], invoice, rows, OrderStatus.COMPLETED)
        writer.add(order, rows, delivered_on=invoice.local_date)
    writer.flush()


# --- Pass 3: cancellations ----------------------------------------------------------


@dataclass(slots=True)
class _Candidate:
    """An imported, delivered order line that a later cancellation may reverse."""

    line_id: int
    order_id: int
    order_number: str
    placed_at: dt.datetime
    quantity: int
    cancelled: int
    unit_price: Decimal


class _Reversals:
    """Match cancellation lines to earlier order lines in memory, then write the changes in bulk.

    The candidates are the uncancelled lines of completed imported orders for every
    customer and product that a cancellation names, read in a few queries: matching
    with one query per cancellation line took most of the import's time.
    """

    def __init__(self, session: Session, pairs: set[tuple[int, int]]) -> None:
        self.session = session
        self.candidates: dict[tuple[int, int], list[_Candidate]] = {}
        self.changed: dict[int, _Candidate] = {}
        for chunk in _chunks(sorted(pairs), LOOKUP_CHUNK_SIZE):
            rows = session.execute(
                select(
                    Order.customer_id,
                    OrderLine.product_id,
                    OrderLine.id,
                    OrderLine.order_id,
                    Order.number,
                    Order.placed_at,
                    OrderLine.quantity,
                    OrderLine.cancelled,
                    OrderLine.unit_price,
                )
                .join(Order, Order.id == OrderLine.order_id)
                .where(
                    # The plain IN conditions let PostgreSQL use the indexes on customer
                    # and product, which it does not for the pairs alone.
                    Order.customer_id.in_({customer_id for customer_id, _ in chunk}),
                    OrderLine.product_id.in_({product_id for _, product_id in chunk}),
                    tuple_(Order.customer_id, OrderLine.product_id).in_(chunk),
                    Order.source == OrderSource.IMPORT,
                    Order.status == OrderStatus.COMPLETED,
                    OrderLine.cancelled < OrderLine.quantity,
                )
                .order_by(Order.placed_at.desc(), Order.id.desc(), OrderLine.line_number)
            )
            for customer_id, product_id, *candidate in rows:
                self.candidates.setdefault((customer_id, product_id), []).append(_Candidate(*candidate))

    def reverse(
        self, customer_id: int, product_id: int, unit_price: Decimal, cancelled_at: dt.datetime, quantity: int
    ) -> list[str]:
        """Cancel units of earlier lines for one cancellation line; return the orders' numbers, or [] if none match.

        The export does not link a cancellation to its invoice, so the match is the same
        customer, product and unit price on an earlier order. The most recent line with
        enough uncancelled units wins. Without one, units are taken from the most recent
        lines first, but only if together they cover the whole quantity.
        """
        lines = [
            line
            for line in self.candidates.get((customer_id, product_id), [])
            if line.unit_price == unit_price and line.placed_at <= cancelled_at and line.cancelled < line.quantity
        ]
        takes = []
        enough = next((line for line in lines if line.quantity - line.cancelled >= quantity), None)
        if enough is not None:
            takes.append((enough, quantity))
        elif sum(line.quantity - line.cancelled for line in lines) >= quantity:
            remaining = quantity
            for line in lines:
                take = min(line.quantity - line.cancelled, remaining)
                if take:
                    takes.append((line, take))
                    remaining -= take

        for line, take in takes:
            line.cancelled += take
            self.changed[line.line_id] = line
        return [line.order_number for line, _ in takes]

    def write(self) -> None:
        """Store the cancelled units, shrink the deliveries and recompute the orders' totals and status."""
        if not self.changed:
            return
        session = self.session
        order_lines = OrderLine.__table__
        delivery_lines = DeliveryLine.__table__
        changed = list(self.changed.values())

        # A line may hold at most its quantity in delivered plus cancelled units, so the
        # units a cancellation takes back are no longer counted as delivered.
        session.execute(
            update(order_lines)
            .where(order_lines.c.id == bindparam("line_id"))
            .values(
                cancelled=bindparam("new_cancelled"),
                delivered=bindparam("new_delivered"),
                line_total=bindparam("new_total"),
            ),
            [
                {
                    "line_id": line.line_id,
                    "new_cancelled": line.cancelled,
                    "new_delivered": line.quantity - line.cancelled,
                    "new_total": line_total(line.quantity - line.cancelled, line.unit_price),
                }
                for line in changed
            ],
        )
        still_delivered = [line for line in changed if line.cancelled < line.quantity]
        if still_delivered:
            session.execute(
                update(delivery_lines)
                .where(delivery_lines.c.order_line_id == bindparam("line_id"))
                .values(quantity=bindparam("new_delivered")),
                [
                    {"line_id": line.line_id, "new_delivered": line.quantity - line.cancelled}
                    for line in still_delivered
                ],
            )
        returned = [line.line_id for line in changed if line.cancelled == line.quantity]
        for chunk in _chunks(returned, LOOKUP_CHUNK_SIZE):
            session.execute(delete(delivery_lines).where(delivery_lines.c.order_line_id.in_(chunk)))

        order_ids = sorted({line.order_id for line in changed})
        for chunk in _chunks(order_ids, LOOKUP_CHUNK_SIZE):
            self._refresh_orders(chunk)

    def _refresh_orders(self, order_ids: list[int]) -> None:
        """Recompute the totals of orders with cancelled lines, and close the fully cancelled ones."""
        session = self.session
        lines: dict[int, list] = {}
        for row in session.execute(
            select(
                OrderLine.order_id, OrderLine.quantity, OrderLine.cancelled, OrderLine.line_total, OrderLine.vat_rate
            ).where(OrderLine.order_id.in_(order_ids))
        ):
            lines.setdefault(row.order_id, []).append(row)

        rows = []
        for order_id in order_ids:
            totals = compute_totals((line.line_total, line.vat_rate) for line in lines[order_id])
            fully_cancelled = all(line.cancelled == line.quantity for line in lines[order_id])
            rows.append(
                {
                    "order_id": order_id,
                    "new_subtotal": totals.subtotal,
                    "new_vat_total": totals.vat_total,
                    "new_total": totals.total,
                    "new_status": OrderStatus.CANCELLED if fully_cancelled else OrderStatus.COMPLETED,
                }
            )
        orders = Order.__table__
        session.execute(
            update(orders)
            .where(orders.c.id == bindparam("order_id"))
            .values(
                subtotal=bindparam("new_subtotal"),
                vat_total=bindparam("new_vat_total"),
                total=bindparam("new_total"),
                status=bindparam("new_status"),
            ),
            rows,
        )
        deliveries = Delivery.__table__
        session.execute(
            delete(deliveries).where(
                deliveries.c.order_id.in_(order_ids),
                ~exists().where(DeliveryLine.__table__.c.delivery_id == deliveries.c.id),
            )
        )


def _import_cancellations(
    session: Session,
    path: Path,
    options: ImportOptions,
    scan: _Scan,
    catalogue: dict[str, _CatalogueEntry],
    customers: dict[str, int],
    summary: ImportSummary,
    progress: Callable[[float], None],
) -> None:
    """Apply each cancellation invoice to the orders it reverses and store it as a cancelled order.

    Every cancellation invoice becomes an order under its own number, even when all its
    lines reversed earlier lines and it keeps none: that order is what tells a later
    import of the same file that the cancellation was applied already.
    """
    reversals = _Reversals(
        session,
        {(customers[number], catalogue[key].product_id) for number, key in scan.cancelled_products},
    )
    writer = _OrderWriter(session, summary)
    for number, invoice, lines in _importable_lines(path, options, scan, progress, cancellations=True):
        customer_id = customers[invoice.customer_number]
        unmatched = []
        reversed_orders: set[str] = set()
        for line in lines:
            entry = catalogue[options.product_key(line.stock_code)]
            numbers = reversals.reverse(
                customer_id, entry.product_id, line.unit_price, line.invoiced_at, -line.quantity
            )
            if numbers:
                reversed_orders.update(numbers)
                summary.cancellation_lines_matched += 1
            else:
                unmatched.append(line)

        rows = _line_rows(unmatched, invoice, catalogue, options)
        order = _order_row(number, customer_id, invoice, rows, OrderStatus.CANCELLED)
        if reversed_orders:
            order["comment"] = f"Cancels lines of order {', '.join(sorted(reversed_orders))}."
        writer.add(order, rows, delivered_on=None)
        summary.cancellation_lines_unmatched += len(unmatched)
        summary.cancellation_orders_created += 1
    writer.flush()
    reversals.write()


@contextmanager
def _large_sqlite_cache(session: Session) -> Iterator[None]:
    """Give SQLite a page cache large enough for the indexes of the tables being filled.

    SQLite's default cache of 2 MiB makes every insert into the order line indexes read
    pages back from the file; PostgreSQL sizes its buffers itself.
    """
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    previous = session.execute(text("PRAGMA cache_size")).scalar_one()
    session.execute(text(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}"))
    try:
        yield
    finally:
        session.execute(text(f"PRAGMA cache_size = {int(previous)}"))


# --- Entry point -------------------------------------------------------------------


def import_history(
    session: Session,
    path: Path | str,
    options: ImportOptions | None = None,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Import an export of invoice lines as products, customers and completed orders.

    Raises HistoryFileError, naming the line and column, when a line is invalid and
    options.skip_bad_lines is off; nothing is written then. Importing the same file
    again changes nothing, and a later export adds only invoices not imported yet.
    The caller commits the session.
    """
    started = time.monotonic()
    path = Path(path)
    options = options or ImportOptions()
    report = progress or (lambda fraction, step: None)  # noqa: ARG005

    def step(label: str, start: float, end: float) -> Callable[[float], None]:
        report(start, label)
        return lambda fraction: report(min(end, start + (end - start) * fraction), label)

    log.info("History import of %s started", path)
    scan = _scan(path, options, step("Checking the file", 0.0, 0.3))
    for bad in scan.bad_lines:
        log.warning("History import of %s: skipped %s", path, bad)

    summary = ImportSummary(non_product_codes=scan.non_product_codes, bad_lines=scan.bad_lines)
    with _large_sqlite_cache(session):
        catalogue = _import_products(session, scan, options, summary)
        customers = _import_customers(session, scan, summary)
        _mark_existing_orders(session, scan, summary)
        _import_orders(session, path, options, scan, catalogue, customers, summary, step("Writing orders", 0.3, 0.85))
        _import_cancellations(
            session, path, options, scan, catalogue, customers, summary, step("Applying cancellations", 0.85, 1.0)
        )
        session.flush()

    summary.skipped = scan.skipped
    summary.seconds = time.monotonic() - started
    report(1.0, "Done")
    log.info(
        "History import of %s: %s products and %s customers created, %s orders with %s lines in %.1f s",
        path,
        summary.products_created,
        summary.customers_created,
        summary.orders_created,
        summary.lines_imported,
        summary.seconds,
    )
    return summary
