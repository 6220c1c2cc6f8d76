"""Importing products, prices and stock from CSV and Excel files, and exporting them again.

Reading a file:

- CSV separated by ";", "," or tab (taken from the header line, or from an Excel
  "sep=;" first line), in UTF-8 with or without BOM, UTF-16 with BOM, or else
  Windows-1252. Excel files are .xlsx, read from their active sheet.
- The first non-empty row is the header, and columns are recognised by name in Dutch
  or English (see ALIASES; case, accents and punctuation do not matter). Unknown columns
  are listed and ignored.
- Line numbers are those of the file: for CSV the physical line where a record starts,
  for Excel the row number, so the header is usually line 1.
- Numbers may be written 1.234,50 or 1,234.50. A number that reads both ways, such as
  1.234 or 1,250, follows the file's decimal mark: the one that most of its unambiguous
  numeric cells use (see products.detect_decimal_mark). Suppliers' files are consistent,
  so in a file with 4,20 elsewhere, 1.234 is 1234. A file with no unambiguous number
  uses a decimal point when it is a CSV separated by commas, else the Dutch decimal
  comma.
- SKUs and EANs stay text with their leading zeros. Where Excel stored one as a number,
  it is written without ".0". When the rest of the column shows a fixed length L (see
  _fixed_length), a numeric cell shorter than L gets leading zeros up to L. A column of
  numbers of varying length is left as it is.
- An empty cell leaves the product's value as it is (or gives a new product the default).
- A text cell starting with an apostrophe followed by = + - @ loses the apostrophe,
  which undoes the formula neutralisation of an export.

Each import is parsed and checked first (`read_import`, `preview_import`), and then
applied in one transaction (`apply_import`), all rows or none. A row that matches what
the database has changes nothing, so importing the same file twice changes it once.
Rows absent from the file are left alone: an import never deletes anything.

Exports write the columns the import reads, with the headers of the chosen language.
CSV in Dutch is ";" separated with a decimal comma, and CSV in English "," separated
with a decimal point. Both are UTF-8 with BOM, so that Excel detects the encoding. Prices are written
with 2 or 4 decimals, never 3, so an export can never be read the other way.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import enum
import io
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import NamedTuple

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import audit
from portal.errors import PortalError, Problems
from portal.i18n import LANGUAGES, translate
from portal.models import PriceList, PriceListItem, Product
from portal.price_admin import MAX_PRICE_LIST_NAME_LENGTH
from portal.products import (
    LOOKUP_CHUNK,
    PRODUCT_FIELDS,
    ProductInput,
    RawValue,
    RowProblem,
    check_sku,
    clean_text,
    decimal_places,
    detect_decimal_mark,
    float_to_decimal,
    format_rate,
    parse_price,
    parse_whole,
    plan_products,
    save_products,
)
from portal.stock import MAX_REFERENCE_LENGTH, set_stock

log = logging.getLogger(__name__)

# Well below Streamlit's default upload limit of 200 MB, so a too-large file reaches
# this check and gets a translated message. 20 MB of CSV is about 200,000 product rows.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_IMPORT_ROWS = 200_000
PROGRESS_STEP = 200
FIXED_LENGTH_SHARE = 0.8
CSV_DELIMITERS = (";", ",", "\t")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old binary .xls format


class ImportKind(enum.StrEnum):
    PRODUCTS = "products"
    PRICES = "prices"
    STOCK = "stock"


class FileFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


# Columns of each kind of file, in the order exports write them.
COLUMNS: dict[ImportKind, tuple[str, ...]] = {
    ImportKind.PRODUCTS: PRODUCT_FIELDS,
    ImportKind.PRICES: ("price_list", "sku", "from_quantity", "unit_price"),
    ImportKind.STOCK: ("sku", "name", "stock"),
}
REQUIRED: dict[ImportKind, tuple[str, ...]] = {
    ImportKind.PRODUCTS: ("sku",),
    ImportKind.PRICES: ("price_list", "sku", "unit_price"),
    ImportKind.STOCK: ("sku", "stock"),
}
# Columns that exports write for reading convenience and imports of that kind skip.
INFORMATIONAL: dict[ImportKind, tuple[str, ...]] = {ImportKind.STOCK: ("name",)}
NUMERIC_FIELDS = {"list_price", "vat_rate", "min_quantity", "order_multiple", "unit_price", "from_quantity", "stock"}
CODE_FIELDS = {"sku", "ean"}
MONEY_FIELDS = {"list_price", "unit_price"}

_SKU = ("sku", "artikelnummer", "artikelnr", "artnr", "art nr", "artikelcode", "productcode", "product code")
_SKU += ("code", "item number", "item code", "article number", "product number", "productnummer")
# Header names per field, besides the export headers of both languages (import.field_*).
# A header listed for two fields goes to the first one still free: "omschrijving" is the
# name, unless another column already is, and then the description.
ALIASES: dict[ImportKind, dict[str, tuple[str, ...]]] = {
    ImportKind.PRODUCTS: {
        "sku": _SKU,
        "ean": ("ean", "ean code", "eancode", "ean13", "ean 13", "gtin", "barcode", "streepjescode"),
        "name": ("name", "naam", "product name", "productnaam", "artikelnaam", "article name", "item name"),
        "description": ("description", "beschrijving", "lange omschrijving", "long description"),
        "product_group": ("group", "groep", "product group", "productgroep", "artikelgroep", "category", "categorie"),
        "list_price": (
            "price",
            "prijs",
            "list price",
            "listprice",
            "lijstprijs",
            "verkoopprijs",
            "brutoprijs",
            "prijs excl btw",
            "price excl vat",
        ),
        "vat_rate": ("vat", "btw", "vat rate", "btw tarief", "btw percentage", "vat percentage", "btw perc"),
        "unit": ("unit", "eenheid", "verkoopeenheid", "sales unit"),
        "min_quantity": (
            "minimum",
            "min aantal",
            "minimum aantal",
            "minimum quantity",
            "min quantity",
            "minimale afname",
            "min afname",
            "moq",
        ),
        "order_multiple": (
            "multiple",
            "veelvoud",
            "bestelveelvoud",
            "verpakking",
            "verpakkingseenheid",
            "order multiple",
            "pack size",
        ),
        "active": ("active", "actief"),
    },
    ImportKind.PRICES: {
        "price_list": ("price list", "pricelist", "prijslijst", "prijslijstnaam"),
        "sku": _SKU,
        "from_quantity": (
            "from quantity",
            "quantity from",
            "vanaf aantal",
            "vanaf",
            "staffel",
            "minimum",
            "min aantal",
            "minimum aantal",
            "min quantity",
        ),
        "unit_price": ("unit price", "price", "prijs", "stuksprijs", "nettoprijs", "netto prijs", "staffelprijs"),
    },
    ImportKind.STOCK: {
        "sku": _SKU,
        "name": ("name", "naam", "omschrijving", "description"),
        "stock": (
            "stock",
            "voorraad",
            "on hand",
            "stock on hand",
            "op voorraad",
            "voorraad aantal",
            "geteld",
            "counted",
        ),
    },
}
SECOND_CHOICE: dict[ImportKind, dict[str, tuple[str, ...]]] = {
    ImportKind.PRODUCTS: {"omschrijving": ("name", "description")},
}


def normalize_header(header: str) -> str:
    """Reduce a header to lower-case words without accents: 'BTW-tarief (%)' -> 'btw tarief'."""
    decomposed = unicodedata.normalize("NFKD", header)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain).split())


def field_label(language: str, name: str) -> str:
    """Return a column's header in exports and its label on screen."""
    return translate(language, f"import.field_{name}")


def _header_choices(kind: ImportKind) -> dict[str, tuple[str, ...]]:
    """Map each normalized header name of a kind of file to the fields it may mean."""
    choices: dict[str, list[str]] = {}
    for name, aliases in ALIASES[kind].items():
        names = [*aliases, *(field_label(language, name) for language in LANGUAGES)]
        for alias in names:
            options = choices.setdefault(normalize_header(alias), [])
            if name not in options:
                options.append(name)
    for alias, fields in SECOND_CHOICE.get(kind, {}).items():
        choices[normalize_header(alias)] = list(fields)
    return {alias: tuple(fields) for alias, fields in choices.items()}


# --- Reading files ---------------------------------------------------------------------


class Cell(NamedTuple):
    value: RawValue | dt.datetime | dt.date | dt.time
    percent: bool = False  # an Excel number formatted as a percentage: 0.21 shows as 21%


class SourceRow(NamedTuple):
    line: int
    cells: list[Cell]


@dataclass(frozen=True)
class FileInfo:
    """The format, encoding, separator, decimal mark and columns of a file, as the preview shows them."""

    filename: str
    file_format: FileFormat
    encoding: str | None = None
    delimiter: str | None = None
    decimal_mark: str = ","
    columns: dict[str, str] = field(default_factory=dict)  # header -> field
    ignored_columns: list[str] = field(default_factory=list)


def _reject(filename: str, code: str, **params: object) -> PortalError:
    log.warning("Rejected import file %r: %s %s", filename, code, params)
    return PortalError(code, **params)


def _decode(filename: str, data: bytes) -> tuple[str, str]:
    """Return the file's text and the name of its encoding."""
    if data.startswith(codecs.BOM_UTF8):
        encoding, text_bytes, name = "utf-8", data[len(codecs.BOM_UTF8) :], "UTF-8 (BOM)"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding, text_bytes, name = "utf-16", data, "UTF-16"
    else:
        if b"\x00" in data:
            raise _reject(filename, "import.not_csv_or_excel")
        try:
            return data.decode("utf-8"), "UTF-8"
        except UnicodeDecodeError:
            encoding, text_bytes, name = "cp1252", data, "Windows-1252"
    try:
        return text_bytes.decode(encoding), name
    except UnicodeDecodeError as error:
        raise _reject(filename, "import.encoding_unknown") from error


def _pick_delimiter(line: str) -> str:
    """Return the separator that occurs most often outside quotes in the header line."""
    counts = Counter()
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in CSV_DELIMITERS:
            counts[char] += 1
    if not counts:
        return ","
    return max(CSV_DELIMITERS, key=lambda delimiter: counts[delimiter])


def _read_csv(filename: str, data: bytes) -> tuple[list[SourceRow], str, str]:
    """Return the non-empty records of a CSV file with their first line numbers, the encoding and separator."""
    text, encoding = _decode(filename, data)
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    skip_first_record = False
    match = re.fullmatch(r'"?sep=(.)"?', first.strip())
    if match:
        # Excel writes "sep=;" as the first line of CSV files it wants read with ";".
        delimiter, skip_first_record = match.group(1), True
    else:
        delimiter = _pick_delimiter(first)

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[SourceRow] = []
    previous_end = 0
    try:
        for record in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if skip_first_record:
                skip_first_record = False
                continue
            rows.append(SourceRow(start, [Cell(value) for value in record]))
            if len(rows) > MAX_IMPORT_ROWS + 1:
                raise _reject(filename, "import.too_many_rows", maximum=MAX_IMPORT_ROWS)
    except csv.Error as error:
        log.warning("Rejected import file %r: CSV error on line %s: %s", filename, reader.line_num, error)
        raise PortalError("import.csv_invalid", line=reader.line_num) from error
    return rows, encoding, delimiter


def _read_xlsx(filename: str, data: bytes) -> list[SourceRow]:
    """Return the non-empty rows of an Excel workbook's active sheet with their row numbers."""
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:
        # openpyxl raises many exception types on damaged or foreign zip files.
        log.warning("Rejected import file %r: not a readable .xlsx: %r", filename, error)
        raise PortalError("import.excel_invalid") from error
    try:
        sheet = workbook.active or workbook.worksheets[0]
        # Some programs write a wrong sheet size into the file; read every row there is.
        sheet.reset_dimensions()
        rows: list[SourceRow] = []
        for number, row in enumerate(sheet.iter_rows(), start=1):
            line = next((cell.row for cell in row if getattr(cell, "row", None)), number)
            cells = [Cell(cell.value, percent="%" in (getattr(cell, "number_format", None) or "")) for cell in row]
            if all(cell.value is None or (isinstance(cell.value, str) and not cell.value.strip()) for cell in cells):
                continue
            rows.append(SourceRow(line, cells))
            if len(rows) > MAX_IMPORT_ROWS + 1:
                raise _reject(filename, "import.too_many_rows", maximum=MAX_IMPORT_ROWS)
    except PortalError:
        raise
    except Exception as error:
        log.warning("Rejected import file %r: damaged sheet: %r", filename, error)
        raise PortalError("import.excel_invalid") from error
    finally:
        workbook.close()
    return rows


def _extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].casefold() if "." in filename else ""


def read_rows(filename: str, data: bytes) -> tuple[list[SourceRow], FileInfo]:
    """Read a CSV or .xlsx file into rows of cells; raise PortalError for a file that cannot be read."""
    size_mb = len(data) / (1024 * 1024)
    if len(data) > MAX_UPLOAD_BYTES:
        raise _reject(
            filename, "import.file_too_large", size=f"{size_mb:.0f}", maximum=MAX_UPLOAD_BYTES // (1024 * 1024)
        )
    if not data.strip():
        raise _reject(filename, "import.file_empty")

    extension = _extension(filename)
    if data.startswith(OLE_MAGIC) or extension == "xls":
        raise _reject(filename, "import.xls_not_supported")
    if extension in ("xlsx", "xlsm") or data.startswith(ZIP_MAGIC):
        if not data.startswith(ZIP_MAGIC):
            raise _reject(filename, "import.excel_invalid")
        return _read_xlsx(filename, data), FileInfo(filename, FileFormat.XLSX)
    if extension not in ("csv", "txt", "tsv"):
        raise _reject(filename, "import.not_csv_or_excel")
    rows, encoding, delimiter = _read_csv(filename, data)
    return rows, FileInfo(filename, FileFormat.CSV, encoding=encoding, delimiter=delimiter)


# --- Columns and cells -----------------------------------------------------------------


def map_columns(
    kind: ImportKind, header: SourceRow
) -> tuple[dict[str, int], list[str], dict[str, str], list[RowProblem]]:
    """Match header cells to fields; return field -> column index, ignored headers, header -> field, problems."""
    choices = _header_choices(kind)
    second_choices = {normalize_header(alias) for alias in SECOND_CHOICE.get(kind, {})}
    titles = ["" if cell.value is None else str(cell.value).strip() for cell in header.cells]
    # Headers with a second choice go last, so they take what the others leave free.
    order = sorted(range(len(titles)), key=lambda index: normalize_header(titles[index]) in second_choices)

    positions: dict[str, int] = {}
    ignored: list[str] = []
    problems: list[RowProblem] = []
    for index in order:
        title = titles[index]
        if not title:
            continue
        fields = choices.get(normalize_header(title))
        if not fields:
            ignored.append(title)
            continue
        free = [name for name in fields if name not in positions]
        if not free:
            first = titles[positions[fields[0]]]
            problems.append(RowProblem(header.line, fields[0], "import.column_twice", first=first, second=title))
            continue
        positions[free[0]] = index

    for name in REQUIRED[kind]:
        if name not in positions:
            examples = ", ".join(ALIASES[kind][name][:4])
            problems.append(RowProblem(header.line, name, "import.column_missing", names=examples))
    if kind is ImportKind.PRODUCTS and "sku" in positions and len(positions) == 1:
        problems.append(RowProblem(header.line, "", "import.nothing_to_import"))

    names = {titles[index]: name for name, index in sorted(positions.items(), key=lambda item: item[1])}
    informational = INFORMATIONAL.get(kind, ())
    used = {name: index for name, index in positions.items() if name not in informational}
    return used, ignored, names, problems


def _undo_neutralisation(text: str) -> str:
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_PREFIXES:
        return text[1:]
    return text


def _code_text(value: object) -> str | None:
    """Return a SKU or EAN cell as text; a number is written as its digits."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return format(value, ".15g")
    return _undo_neutralisation(str(value).strip())


def _is_number(cell: Cell | None) -> bool:
    return cell is not None and isinstance(cell.value, int | float) and not isinstance(cell.value, bool)


def _fixed_length(cells: Sequence[Cell | None], texts: Sequence[str | None]) -> int | None:
    """Return the length of a code column whose Excel numbers lost their leading zeros, if it has one.

    Text cells keep their zeros, so they show the column's true length. L is the length
    of the longest value, and every shorter value must be a number. Then the column has
    a fixed length when a text value of length L starts with 0, or when at least two and
    at least 80 % of the values are L long.
    """
    values = [(cell, text) for cell, text in zip(cells, texts, strict=True) if text]
    if not values:
        return None
    length = max(len(text) for _, text in values)
    if any(len(text) < length and not _is_number(cell) for cell, text in values):
        return None
    count = sum(1 for _, text in values if len(text) == length)
    zero_padded_text = any(
        not _is_number(cell) and text.startswith("0") and len(text) == length for cell, text in values
    )
    if zero_padded_text or (count >= 2 and count >= FIXED_LENGTH_SHARE * len(values)):
        return length
    return None


def _restore_codes(rows: list[dict[str, Cell]], name: str) -> list[str | None]:
    """Return a code column as text, with leading zeros put back in front of Excel numbers."""
    cells = [row.get(name) for row in rows]
    texts = [_code_text(cell.value) if cell else None for cell in cells]
    length = _fixed_length(cells, texts)
    if length is None:
        return texts
    return [
        text.zfill(length) if _is_number(cell) and text and text.isdigit() else text
        for cell, text in zip(cells, texts, strict=True)
    ]


@cache
def _flag_words() -> dict[str, bool]:
    """Return the yes and no words that exports write, in every language."""
    words = {}
    for language in LANGUAGES:
        words[translate(language, "import.value_yes").casefold()] = True
        words[translate(language, "import.value_no").casefold()] = False
    return words


def _flag_value(text: str) -> RawValue:
    """Return True or False for an exported yes or no word, else the text."""
    return _flag_words().get(text.casefold(), text or None)


def _cell_value(cell: Cell | None, name: str) -> RawValue:
    """Return a cell as an input value: None for empty, text stripped, numbers as Decimal."""
    if cell is None or cell.value is None:
        return None
    value = cell.value
    if isinstance(value, str):
        text = _undo_neutralisation(value.strip())
        if name == "active":
            return _flag_value(text)
        return text or None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        number = float_to_decimal(value) if isinstance(value, float) else Decimal(value)
        if name == "vat_rate" and cell.percent:
            number = (number * 100).normalize()
        return number
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


# --- Parsed files ----------------------------------------------------------------------


@dataclass(slots=True)
class PriceInput:
    row: int
    price_list: RawValue = None
    sku: RawValue = None
    from_quantity: RawValue = None
    unit_price: RawValue = None


@dataclass(slots=True)
class StockInput:
    row: int
    sku: RawValue = None
    stock: RawValue = None


@dataclass
class ParsedImport:
    """A file read and split into rows of one kind, not yet checked against the database."""

    kind: ImportKind
    info: FileInfo
    rows: list[ProductInput | PriceInput | StockInput]
    problems: list[RowProblem]


def _safe_filename(filename: str) -> str:
    """Return the file's base name without control characters, for messages and stock references."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(char for char in base if char.isprintable()).strip()[:120] or "upload"


def read_import(kind: ImportKind, filename: str, data: bytes) -> ParsedImport:
    """Read an uploaded file as an import of the given kind.

    Raises PortalError when the file as a whole cannot be used: too large, empty, not
    CSV or Excel, unreadable. Problems with the header or with single rows are returned
    in `problems`, each with its line number.
    """
    filename = _safe_filename(filename)
    source_rows, info = read_rows(filename, data)
    if not source_rows:
        raise _reject(filename, "import.file_empty")
    header, body = source_rows[0], source_rows[1:]
    if len(body) > MAX_IMPORT_ROWS:
        raise _reject(filename, "import.too_many_rows", maximum=MAX_IMPORT_ROWS)
    positions, ignored, names, problems = map_columns(kind, header)
    info = FileInfo(filename, info.file_format, info.encoding, info.delimiter, columns=names, ignored_columns=ignored)
    if problems:
        return ParsedImport(kind, info, [], problems)
    if not body:
        raise _reject(filename, "import.no_rows")

    cells = [{name: row.cells[index] for name, index in positions.items() if index < len(row.cells)} for row in body]
    numeric_texts = [
        cell.value
        for row in cells
        for name, cell in row.items()
        if name in NUMERIC_FIELDS and isinstance(cell.value, str)
    ]
    # Without a clue in the numbers, a file separated by commas is taken to be written
    # with decimal points, and any other with the Dutch decimal comma.
    decimal_mark = detect_decimal_mark(numeric_texts, default="." if info.delimiter == "," else ",")
    info = FileInfo(filename, info.file_format, info.encoding, info.delimiter, decimal_mark, names, ignored)
    codes = {name: _restore_codes(cells, name) for name in CODE_FIELDS if name in positions}

    rows: list[ProductInput | PriceInput | StockInput] = []
    for number, (source, row_cells) in enumerate(zip(body, cells, strict=True)):
        values = {name: _cell_value(cell, name) for name, cell in row_cells.items() if name not in CODE_FIELDS}
        values.update({name: column[number] or None for name, column in codes.items()})
        if kind is ImportKind.PRODUCTS:
            rows.append(ProductInput(row=source.line, **values))
        elif kind is ImportKind.PRICES:
            rows.append(PriceInput(row=source.line, **values))
        else:
            rows.append(StockInput(row=source.line, **values))
    return ParsedImport(kind, info, rows, [])


# --- Checking against the database -----------------------------------------------------


@dataclass
class PreviewRow:
    """A row as the import understood it, and what applying it will do."""

    line: int
    status: str  # new, changed, unchanged or error
    values: dict[str, object]


@dataclass
class ImportPreview:
    parsed: ParsedImport
    rows: list[PreviewRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    new_price_lists: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def can_apply(self) -> bool:
        return not self.problems and bool(self.rows)


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    price_lists_created: int = 0


def _products_by_sku(session: Session, skus: Iterable[str]) -> dict[str, Product]:
    ordered = sorted(set(skus))
    found: dict[str, Product] = {}
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        statement = select(Product).where(Product.sku.in_(ordered[start : start + LOOKUP_CHUNK]))
        found.update((product.sku, product) for product in session.scalars(statement))
    return found


def _parse_fields(
    row: int, parsers: dict[str, Callable[[], object]], required: Iterable[str]
) -> tuple[dict[str, object], list[RowProblem]]:
    """Run each field's parser; return the parsed values and a problem per bad or missing field."""
    values: dict[str, object] = {}
    problems: list[RowProblem] = []
    for name, parse in parsers.items():
        try:
            value = parse()
        except PortalError as error:
            problems.append(RowProblem(row, name, error.code, **error.params))
            continue
        if value is None and name in required:
            problems.append(RowProblem(row, name, "product.required"))
            continue
        values[name] = value
    return values, problems


def _price_parsers(row: PriceInput, decimal_mark: str) -> dict[str, Callable[[], object]]:
    return {
        "price_list": lambda: " ".join((clean_text(row.price_list, MAX_PRICE_LIST_NAME_LENGTH) or "").split()) or None,
        "sku": lambda: check_sku(row.sku),
        "from_quantity": lambda: parse_whole(row.from_quantity, decimal_mark) or 1,
        "unit_price": lambda: parse_price(row.unit_price, decimal_mark),
    }


def _stock_parsers(row: StockInput, decimal_mark: str) -> dict[str, Callable[[], object]]:
    return {
        "sku": lambda: check_sku(row.sku),
        "stock": lambda: parse_whole(row.stock, decimal_mark, minimum=0),
    }


def _raw_values(row: PriceInput | StockInput) -> dict[str, object]:
    return {name: getattr(row, name) for name in row.__slots__ if name != "row"}


def _price_lists_by_key(session: Session, names: dict[str, str]) -> dict[str, PriceList]:
    """Return the existing price lists among the names, by lower-case name."""
    if not names:
        return {}
    statement = select(PriceList).where(func.lower(PriceList.name).in_(sorted(names)))
    return {price_list.name.lower(): price_list for price_list in session.scalars(statement)}


@dataclass
class _PriceChange:
    row: int
    price_list: str  # lower-case name
    product_id: int
    from_quantity: int
    unit_price: Decimal
    status: str
    item: PriceListItem | None


def _existing_price_items(
    session: Session, list_ids: list[int], product_ids: list[int]
) -> dict[tuple[int, int, int], PriceListItem]:
    """Return the price list items of the given lists and products by (list, product, from quantity)."""
    items: dict[tuple[int, int, int], PriceListItem] = {}
    if not list_ids:
        return items
    for start in range(0, len(product_ids), LOOKUP_CHUNK):
        statement = select(PriceListItem).where(
            PriceListItem.price_list_id.in_(list_ids),
            PriceListItem.product_id.in_(product_ids[start : start + LOOKUP_CHUNK]),
        )
        items.update(
            ((item.price_list_id, item.product_id, item.min_quantity), item) for item in session.scalars(statement)
        )
    return items


def _check_prices(session: Session, parsed: ParsedImport) -> tuple[ImportPreview, list[_PriceChange]]:
    """Check a price file: every row's values, that its SKU exists, and that no tier is listed twice."""
    decimal_mark = parsed.info.decimal_mark
    checked = []
    problems: list[RowProblem] = []
    for row in parsed.rows:
        values, row_problems = _parse_fields(row.row, _price_parsers(row, decimal_mark), ("price_list", "unit_price"))
        problems.extend(row_problems)
        checked.append((row, values, bool(row_problems)))

    products = _products_by_sku(session, [values["sku"] for _, values, _ in checked if "sku" in values])
    # Price list names match regardless of case, as on the prices screen; a new list keeps
    # the spelling of its first row.
    names: dict[str, str] = {}
    for _, values, _ in checked:
        if "price_list" in values:
            names.setdefault(values["price_list"].lower(), values["price_list"])
    lists = _price_lists_by_key(session, names)
    existing = _existing_price_items(
        session, [item.id for item in lists.values()], sorted(product.id for product in products.values())
    )

    preview_rows: list[PreviewRow] = []
    changes: list[_PriceChange] = []
    first_line: dict[tuple[object, ...], int] = {}
    for row, values, has_problem in checked:
        product = products.get(values.get("sku"))
        if "sku" in values and product is None:
            problems.append(RowProblem(row.row, "sku", "import.sku_unknown", sku=values["sku"]))
            has_problem = True
        list_key = values["price_list"].lower() if "price_list" in values else None
        key = (list_key, values.get("sku"), values.get("from_quantity"))
        if None not in key and key in first_line:
            problems.append(RowProblem(row.row, "sku", "import.price_twice", sku=values["sku"], first=first_line[key]))
            has_problem = True
        first_line.setdefault(key, row.row)
        if has_problem:
            preview_rows.append(PreviewRow(row.row, "error", _raw_values(row) | values))
            continue

        price_list = lists.get(list_key)
        item = existing.get((price_list.id, product.id, values["from_quantity"])) if price_list else None
        if item is None:
            status = "new"
        elif item.unit_price == values["unit_price"]:
            status = "unchanged"
        else:
            status = "changed"
        changes.append(
            _PriceChange(row.row, list_key, product.id, values["from_quantity"], values["unit_price"], status, item)
        )
        preview_rows.append(PreviewRow(row.row, status, values))

    problems.sort(key=lambda problem: problem.row)
    new_lists = [name for key, name in sorted(names.items()) if key not in lists]
    return ImportPreview(parsed, preview_rows, problems, new_lists), changes


@dataclass
class _StockChange:
    row: int
    product_id: int
    on_hand: int
    status: str


def _check_stock(session: Session, parsed: ParsedImport) -> tuple[ImportPreview, list[_StockChange]]:
    """Check a stock file: every row's count, that its SKU exists and occurs once."""
    decimal_mark = parsed.info.decimal_mark
    checked = []
    problems: list[RowProblem] = []
    for row in parsed.rows:
        values, row_problems = _parse_fields(row.row, _stock_parsers(row, decimal_mark), ("stock",))
        problems.extend(row_problems)
        checked.append((row, values, bool(row_problems)))

    products = _products_by_sku(session, [values["sku"] for _, values, _ in checked if "sku" in values])
    preview_rows: list[PreviewRow] = []
    changes: list[_StockChange] = []
    first_line: dict[str, int] = {}
    for row, values, has_problem in checked:
        sku = values.get("sku")
        product = products.get(sku)
        if sku is not None and product is None:
            problems.append(RowProblem(row.row, "sku", "import.sku_unknown", sku=sku))
            has_problem = True
        if sku is not None and sku in first_line:
            problems.append(RowProblem(row.row, "sku", "product.sku_twice", sku=sku, first=first_line[sku]))
            has_problem = True
        if sku is not None:
            first_line.setdefault(sku, row.row)
        if has_problem:
            preview_rows.append(PreviewRow(row.row, "error", _raw_values(row) | values))
            continue
        status = "changed" if product.on_hand != values["stock"] else "unchanged"
        changes.append(_StockChange(row.row, product.id, values["stock"], status))
        preview_rows.append(PreviewRow(row.row, status, values | {"name": product.name}))

    problems.sort(key=lambda problem: problem.row)
    return ImportPreview(parsed, preview_rows, problems), changes


def _check_products(session: Session, parsed: ParsedImport) -> ImportPreview:
    plan = plan_products(session, parsed.rows, parsed.info.decimal_mark)
    bad_rows = {problem.row for problem in plan.problems}
    raw = {row.row: row for row in parsed.rows}
    preview_rows = []
    for item in plan.planned:
        if item.row in bad_rows:
            source = raw[item.row]
            values = {name: getattr(source, name) for name in COLUMNS[ImportKind.PRODUCTS]} | item.parsed
            preview_rows.append(PreviewRow(item.row, "error", values))
        else:
            preview_rows.append(PreviewRow(item.row, item.status, item.parsed))
    # A row whose product no longer exists has no plan entry; show it as an error too.
    planned_rows = {item.row for item in plan.planned}
    for row in bad_rows - planned_rows:
        preview_rows.append(PreviewRow(row, "error", {}))
    preview_rows.sort(key=lambda row: row.line)
    return ImportPreview(parsed, preview_rows, list(plan.problems))


def preview_import(session: Session, parsed: ParsedImport) -> ImportPreview:
    """Check a parsed file against the database: what each row will do, and every problem."""
    if parsed.problems:
        return ImportPreview(parsed, [], list(parsed.problems))
    if parsed.kind is ImportKind.PRODUCTS:
        return _check_products(session, parsed)
    if parsed.kind is ImportKind.PRICES:
        return _check_prices(session, parsed)[0]
    return _check_stock(session, parsed)[0]


# --- Applying --------------------------------------------------------------------------


def _report(progress: Callable[[int, int], None] | None, done: int, total: int) -> None:
    if progress is not None and (done % PROGRESS_STEP == 0 or done == total):
        progress(done, total)


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as error:
        # Another admin added the same price list or tier between the check and this write.
        log.warning("Import failed on a constraint: %s", error.orig)
        raise PortalError("import.conflict") from error


def _apply_prices(session: Session, parsed: ParsedImport, progress: Callable[[int, int], None] | None) -> ImportResult:
    preview, changes = _check_prices(session, parsed)
    if preview.problems:
        raise Problems(list(preview.problems))
    lists = _price_lists_by_key(session, {change.price_list: change.price_list for change in changes})
    for name in preview.new_price_lists:
        lists[name.lower()] = PriceList(name=name)
        session.add(lists[name.lower()])
    _flush(session)

    for done, change in enumerate(changes, start=1):
        if change.status == "new":
            session.add(
                PriceListItem(
                    price_list_id=lists[change.price_list].id,
                    product_id=change.product_id,
                    min_quantity=change.from_quantity,
                    unit_price=change.unit_price,
                )
            )
        elif change.status == "changed" and change.item is not None:
            change.item.unit_price = change.unit_price
        _report(progress, done, len(changes))
    _flush(session)
    return ImportResult(
        preview.count("new"), preview.count("changed"), preview.count("unchanged"), len(preview.new_price_lists)
    )


def _apply_stock(
    session: Session, parsed: ParsedImport, user_id: int | None, progress: Callable[[int, int], None] | None
) -> ImportResult:
    preview, changes = _check_stock(session, parsed)
    if preview.problems:
        raise Problems(list(preview.problems))
    reason = f"import {parsed.info.filename}"[:MAX_REFERENCE_LENGTH]
    for done, change in enumerate(changes, start=1):
        if change.status == "changed":
            try:
                set_stock(session, change.product_id, change.on_hand, reason, user_id)
            except PortalError as error:
                raise Problems([RowProblem(change.row, "stock", error.code, **error.params)]) from error
        _report(progress, done, len(changes))
    return ImportResult(0, preview.count("changed"), preview.count("unchanged"))


def apply_import(
    session: Session,
    parsed: ParsedImport,
    user_id: int | None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Apply a parsed file in the session's transaction, every row or none; the caller commits.

    The rows are checked again first, because the database may have changed since the
    preview; any problem raises Problems before anything is written. `progress` is
    called with (rows done, rows in total).
    """
    if parsed.problems:
        raise Problems(list(parsed.problems))
    if parsed.kind is ImportKind.PRODUCTS:
        source = f"import {parsed.info.filename}"
        saved = save_products(session, parsed.rows, user_id, parsed.info.decimal_mark, progress, source)
        result = ImportResult(saved.created, saved.updated, saved.unchanged)
    elif parsed.kind is ImportKind.PRICES:
        result = _apply_prices(session, parsed, progress)
    else:
        result = _apply_stock(session, parsed, user_id, progress)
    if parsed.kind is not ImportKind.PRODUCTS and (result.created or result.updated):
        # Product saves record their own event; set_stock also records each correction.
        audit.record(
            session,
            f"{parsed.kind.value}_imported",
            actor_id=user_id,
            object_type="file",
            object_id=parsed.info.filename,
            detail=f"{result.created} new, {result.updated} changed, {result.price_lists_created} price lists created",
        )
    log.info(
        "Imported %s from %r for user %s: %s new, %s updated, %s unchanged, %s price lists created",
        parsed.kind.value,
        parsed.info.filename,
        user_id,
        result.created,
        result.updated,
        result.unchanged,
        result.price_lists_created,
    )
    return result


def import_file(
    session: Session,
    kind: ImportKind,
    filename: str,
    data: bytes,
    user_id: int | None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Read and apply a file in one go, all rows or none; the caller commits."""
    return apply_import(session, read_import(kind, filename, data), user_id, progress)


# --- Exporting -------------------------------------------------------------------------


def money_text(amount: Decimal, decimal_mark: str) -> str:
    """Write a price with 2 decimals, or 4 when it has more than 2, so it never reads as thousands."""
    places = 2 if decimal_places(amount) <= 2 else 4
    return format(amount.quantize(Decimal(1).scaleb(-places)), "f").replace(".", decimal_mark)


def neutralise_formula(text: str) -> str:
    """Prefix an apostrophe to text that a spreadsheet would run as a formula (= + - @, tab, CR)."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _export_statement(kind: ImportKind):
    if kind is ImportKind.PRODUCTS:
        columns = [getattr(Product, name) for name in COLUMNS[kind]]
        return select(*columns).order_by(Product.sku)
    if kind is ImportKind.PRICES:
        return (
            select(PriceList.name, Product.sku, PriceListItem.min_quantity, PriceListItem.unit_price)
            .join(PriceList, PriceList.id == PriceListItem.price_list_id)
            .join(Product, Product.id == PriceListItem.product_id)
            .order_by(PriceList.name, Product.sku, PriceListItem.min_quantity)
        )
    return select(Product.sku, Product.name, Product.on_hand).order_by(Product.sku)


def _export_rows(session: Session, kind: ImportKind) -> Iterable[tuple[object, ...]]:
    return session.execute(_export_statement(kind).execution_options(yield_per=1000))


def _csv_cell(name: str, value: object, decimal_mark: str, language: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return translate(language, "import.value_yes" if value else "import.value_no")
    if isinstance(value, Decimal):
        text = money_text(value, decimal_mark) if name in MONEY_FIELDS else format_rate(value)
        return text.replace(".", decimal_mark)
    if isinstance(value, int):
        return str(value)
    return neutralise_formula(str(value))


def export_csv(session: Session, kind: ImportKind, language: str) -> bytes:
    """Write every row of a kind as CSV: Dutch with ";" and a decimal comma, English with "," and a point."""
    delimiter, decimal_mark = (";", ",") if language == "nl" else (",", ".")
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    names = COLUMNS[kind]
    writer.writerow([neutralise_formula(field_label(language, name)) for name in names])
    for row in _export_rows(session, kind):
        writer.writerow(
            [_csv_cell(name, value, decimal_mark, language) for name, value in zip(names, row, strict=True)]
        )
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx_cell(sheet, name: str, value: object) -> object:
    """Return a value for an export row, wrapped in a styled cell where it needs one."""
    if isinstance(value, str):
        # Control characters cannot be stored in the file's XML; products saved through
        # this portal have none, but rows written by other means might.
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if name in CODE_FIELDS or (isinstance(value, str) and value.startswith((*FORMULA_PREFIXES, "#"))):
        cell = WriteOnlyCell(sheet, value=value)
        # A string cell is never evaluated; openpyxl would store "=..." as a formula and
        # "#N/A" as an error value.
        cell.data_type = "s"
        if name in CODE_FIELDS:
            # Text format keeps leading zeros when someone edits the cell in Excel.
            cell.number_format = "@"
        else:
            # The quote prefix keeps it text even when someone edits the cell in Excel.
            cell.quotePrefix = True
        return cell
    if name in MONEY_FIELDS:
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "0.00##"
        return cell
    return value


def export_xlsx(session: Session, kind: ImportKind, language: str) -> bytes:
    """Write every row of a kind as an .xlsx workbook with text cells for SKUs and EANs."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(translate(language, f"import.kind_{kind.value}")[:31])
    names = COLUMNS[kind]
    header = []
    for name in names:
        cell = WriteOnlyCell(sheet, value=field_label(language, name))
        cell.data_type = "s"
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in _export_rows(session, kind):
        sheet.append([_xlsx_cell(sheet, name, value) for name, value in zip(names, row, strict=True)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_file(session: Session, kind: ImportKind, file_format: FileFormat, language: str) -> bytes:
    """Write every product, price or stock row in the given format and language."""
    if file_format is FileFormat.XLSX:
        return export_xlsx(session, kind, language)
    return export_csv(session, kind, language)


def export_filename(kind: ImportKind, file_format: FileFormat, language: str, today: dt.date) -> str:
    """Return a download name such as artikelen-2026-07-01.csv."""
    slug = normalize_header(translate(language, f"import.kind_{kind.value}")).replace(" ", "-") or kind.value
    return f"{slug}-{today.isoformat()}.{file_format.value}"
