"""Product master data for the supplier: checking and saving product rows, and product photos.

Rows come from the admin table editor and from imports. Both go through `plan_products`,
which reports every problem of every row at once, and `save_products`, which saves all
rows or none. Products are never deleted: deactivating one sets `active` to False, so
order lines, price lists and stock movements that refer to it stay intact.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import audit
from portal.catalog import looks_like_sku, product_search_text, search_condition
from portal.errors import NotFound, PortalError, Problems
from portal.models import Product, ProductImage
from portal.quantities import MAX_QUANTITY
from portal.settings import load_settings

log = logging.getLogger(__name__)

MAX_SKU_LENGTH = 64
MAX_NAME_LENGTH = 300
MAX_DESCRIPTION_LENGTH = 10_000
MAX_GROUP_LENGTH = 100
MAX_UNIT_LENGTH = 20
# Numeric(12, 4): eight digits before the decimal point, four after.
MAX_PRICE = Decimal("99999999.9999")
PRICE_DECIMALS = 4
EAN_LENGTHS = (8, 12, 13, 14)
DEFAULT_UNIT = "pcs"
ADMIN_PAGE_SIZE = 100
# Rows looked up per IN (...) query, well below SQLite's limit on bound parameters.
LOOKUP_CHUNK = 500
# Rows written per INSERT and between progress reports when saving products.
SAVE_CHUNK = 1000

MAX_IMAGE_BYTES = 15 * 1024 * 1024
# Pillow 13 warns about decompression bombs from about 89 megapixels. Product photos
# never need that many, and each megapixel takes 3-4 MB of memory once decoded.
MAX_IMAGE_PIXELS = 40_000_000
MAX_IMAGE_SIDE = 2000
THUMBNAIL_SIDE = 200
JPEG_QUALITY = 85
ACCEPTED_IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"}

PRODUCT_FIELDS = (
    "sku",
    "ean",
    "name",
    "description",
    "product_group",
    "list_price",
    "vat_rate",
    "unit",
    "min_quantity",
    "order_multiple",
    "active",
)

RawValue = str | int | float | Decimal | bool | None

TRUE_WORDS = {"1", "ja", "j", "yes", "y", "true", "waar", "x", "actief", "active"}
FALSE_WORDS = {"0", "nee", "n", "no", "false", "onwaar", "inactief", "inactive", "-"}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_NEWLINE_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SCIENTIFIC = re.compile(r"^[0-9]+([.,][0-9]+)?[eE][+-]?[0-9]+$")


class RowProblem(PortalError):
    """A problem with one field of one input row: the row or file line, the field and the broken rule.

    `row` is the line number in an imported file (the header is line 1) or the row number
    in the table editor. `field` is a key of PRODUCT_FIELDS or of an import's columns, or
    "" for a problem with the row as a whole.
    """

    def __init__(self, row: int, field: str, code: str, **params: object) -> None:
        super().__init__(code, **params)
        self.row = row
        self.field = field

    def __reduce__(self) -> tuple:
        # Exceptions pickle their args by default, which would lose row, field and params.
        return (_row_problem, (self.row, self.field, self.code, self.params))


def _row_problem(row: int, field: str, code: str, params: dict[str, object]) -> RowProblem:
    return RowProblem(row, field, code, **params)


# --- Numbers ---------------------------------------------------------------------------


def _is_grouped(text: str, separator: str) -> bool:
    """Tell whether text is digits grouped by threes with separator, as in 1.234.567."""
    groups = text.split(separator)
    head, rest = groups[0], groups[1:]
    return bool(rest) and head.isdigit() and len(head) <= 3 and all(len(g) == 3 and g.isdigit() for g in rest)


def number_shape(text: str) -> str:
    """Classify how a number is written, so that a file's decimal mark can be detected from its cells.

    Returns one of: integer, decimal_comma (4,20 and 1.234,50), decimal_point (4.20 and
    1,234.50), grouped_point (1.234.567), grouped_comma (1,234,567), ambiguous_comma
    (1,234), ambiguous_point (1.234), or invalid. Signs, spaces and a euro sign are left
    to the caller.
    """
    if text.isdigit():
        return "integer"
    if not text or any(char not in "0123456789.," for char in text):
        return "invalid"
    if "," in text and "." in text:
        mark = "," if text.rfind(",") > text.rfind(".") else "."
        group = "." if mark == "," else ","
        whole, fraction = text.rsplit(mark, 1)
        if text.count(mark) != 1 or not fraction.isdigit() or not _is_grouped(whole, group):
            return "invalid"
        return "decimal_comma" if mark == "," else "decimal_point"

    mark = "," if "," in text else "."
    name = "comma" if mark == "," else "point"
    if text.count(mark) > 1:
        # Several separators of one kind can only be thousands groups.
        return f"grouped_{name}" if _is_grouped(text, mark) else "invalid"
    whole, fraction = text.split(mark)
    if not fraction.isdigit() or (whole and not whole.isdigit()):
        return "invalid"
    # Only "d,ddd" with one to three leading digits, not starting with 0, reads both ways.
    if len(fraction) == 3 and 1 <= len(whole) <= 3 and not whole.startswith("0"):
        return f"ambiguous_{name}"
    return f"decimal_{name}"


def detect_decimal_mark(texts: Sequence[str], default: str = ",") -> str:
    """Return the decimal mark ("," or ".") that a file's numeric text cells use.

    Every cell that can only be read one way votes: 4,20 and 1.234.567 for a decimal
    comma, 4.20 and 1,234,567 for a decimal point. The majority wins; a file without a
    single unambiguous cell gets `default`.
    """
    comma_votes = point_votes = 0
    for text in texts:
        shape = number_shape(_number_body(text)[1])
        if shape in ("decimal_comma", "grouped_point"):
            comma_votes += 1
        elif shape in ("decimal_point", "grouped_comma"):
            point_votes += 1
    if point_votes == comma_votes:
        return default
    return "." if point_votes > comma_votes else ","


def _number_body(text: str) -> tuple[str, str]:
    """Split typed text into a sign and the bare number, dropping spaces and a euro sign."""
    body = text.strip()
    for noise in ("\u00a0", "\u202f", " ", "€"):
        body = body.replace(noise, "")
    sign = ""
    if body[:1] in ("-", "+"):
        sign, body = body[0], body[1:]
    return sign, body


def float_to_decimal(value: float) -> Decimal:
    """Convert a spreadsheet float to the Decimal it shows: 15 significant digits, as Excel does.

    A cell holding 0.1 + 0.2 is stored as 0.30000000000000004 and shown as 0.3; this
    returns Decimal("0.3").
    """
    return Decimal(format(value, ".15g"))


def parse_decimal(value: RawValue, decimal_mark: str = ",") -> Decimal | None:
    """Parse a number as typed or stored in a file; return None for an empty value.

    Both 1.234,50 and 1,234.50 are understood. A value that reads both ways, such as
    1.234, is read with `decimal_mark` as the decimal separator: 1234 when it is ",".
    Raises PortalError("product.number_invalid") for anything else.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise PortalError("product.number_invalid", value=str(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise PortalError("product.number_invalid", value=str(value))
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value:  # NaN: an empty cell of a numeric pandas column
            return None
        if value in (float("inf"), float("-inf")):
            raise PortalError("product.number_invalid", value=str(value))
        return float_to_decimal(value)

    text = str(value)
    if not text.strip():
        return None
    sign, body = _number_body(text)
    shape = number_shape(body)
    if shape == "invalid":
        raise PortalError("product.number_invalid", value=text.strip())
    if shape in ("decimal_comma", "grouped_point") or (shape == "ambiguous_comma" and decimal_mark == ","):
        normal = body.replace(".", "").replace(",", ".")
    elif shape == "ambiguous_point" and decimal_mark == ",":
        normal = body.replace(".", "")
    else:
        normal = body.replace(",", "")
    try:
        return Decimal(sign + normal)
    except InvalidOperation as error:
        raise PortalError("product.number_invalid", value=text.strip()) from error


def decimal_places(value: Decimal) -> int:
    """Return how many decimals a value needs: 4.2000 needs 1, 12 needs 0."""
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def parse_price(value: RawValue, decimal_mark: str = ",") -> Decimal | None:
    """Parse a unit price: at least 0, at most four decimals and eight digits before the point."""
    price = parse_decimal(value, decimal_mark)
    if price is None:
        return None
    if price < 0:
        raise PortalError("product.price_negative", value=str(value).strip())
    if decimal_places(price) > PRICE_DECIMALS:
        raise PortalError("product.price_too_precise", value=str(value).strip(), decimals=PRICE_DECIMALS)
    if price > MAX_PRICE:
        raise PortalError("product.price_too_large", value=str(value).strip())
    return price.quantize(Decimal(1).scaleb(-PRICE_DECIMALS))


def parse_whole(value: RawValue, decimal_mark: str = ",", minimum: int = 1) -> int | None:
    """Parse a whole quantity of at least `minimum`; 12,0 counts as 12, 1,5 is rejected."""
    number = parse_decimal(value, decimal_mark)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise PortalError("product.quantity_not_whole", value=str(value).strip())
    if number < minimum:
        raise PortalError("product.quantity_too_small", value=str(value).strip(), minimum=minimum)
    if number > MAX_QUANTITY:
        raise PortalError("product.quantity_too_large", value=str(value).strip(), maximum=MAX_QUANTITY)
    return int(number)


def parse_active(value: RawValue) -> bool | None:
    """Parse an active flag: a boolean, or a word such as ja/nee, yes/no, 1/0 or x."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, int | float | Decimal) and value in (0, 1):
        return value == 1
    text = str(value).strip().casefold()
    if not text:
        return None
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise PortalError("product.active_invalid", value=str(value).strip())


def allowed_vat_rates(session: Session) -> list[Decimal]:
    """Return the VAT rates the supplier's settings allow, in the order they are listed."""
    rates = []
    for part in load_settings(session).vat_rates.split(","):
        try:
            rates.append(Decimal(part.strip()))
        except InvalidOperation:
            log.warning("Ignoring VAT rate %r in the settings: not a number", part)
    return rates


def format_rate(rate: Decimal) -> str:
    """Write a VAT rate without trailing zeros: 21.00 -> 21, 5.50 -> 5.5."""
    return format(rate.normalize(), "f")


def parse_vat_rate(value: RawValue, allowed: Sequence[Decimal], decimal_mark: str = ",") -> Decimal | None:
    """Parse a VAT rate in percent ("21", "21%", "9,0") that the settings allow."""
    if isinstance(value, str):
        value = value.replace("%", "")
    rate = parse_decimal(value, decimal_mark)
    if rate is None:
        return None
    if rate not in allowed:
        raise PortalError(
            "product.vat_unknown", value=format_rate(rate), allowed=", ".join(format_rate(r) for r in allowed)
        )
    return next(r for r in allowed if r == rate)


# --- Text ------------------------------------------------------------------------------


def _as_text(value: RawValue) -> str | None:
    """Return a cell as text, writing whole numbers without a decimal part."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:
            return None
        return str(int(value)) if value.is_integer() else format(value, ".15g")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    return str(value)


def clean_text(value: RawValue, maximum: int, multiline: bool = False) -> str | None:
    """Strip a text value and check its length and characters; None stays None.

    Text is stored as typed, HTML and script tags included; screens show it as plain
    text. Control characters are rejected, except line breaks and tabs where `multiline`.
    """
    text = _as_text(value)
    if text is None:
        return None
    text = text.strip()
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    pattern = _CONTROL_EXCEPT_NEWLINE_TAB if multiline else _CONTROL
    if pattern.search(text):
        raise PortalError("product.text_control_characters")
    if len(text) > maximum:
        raise PortalError("product.text_too_long", length=len(text), maximum=maximum)
    return text


def check_sku(value: RawValue) -> str:
    """Return a stripped SKU, or raise PortalError saying what is wrong with it."""
    text = _as_text(value)
    sku = (text or "").strip()
    if not sku:
        raise PortalError("product.sku_missing")
    if _SCIENTIFIC.match(sku):
        raise PortalError("product.scientific_notation", value=sku)
    if len(sku) > MAX_SKU_LENGTH:
        raise PortalError("product.text_too_long", length=len(sku), maximum=MAX_SKU_LENGTH)
    # The same characters the catalogue accepts in a product link, so every product opens.
    if not looks_like_sku(sku):
        raise PortalError("product.sku_invalid", value=sku)
    return sku


def gtin_check_digit(digits: str) -> int:
    """Return the GS1 check digit for the digits before it (EAN-8, UPC-A, EAN-13, GTIN-14)."""
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def check_ean(value: RawValue) -> str | None:
    """Return a valid EAN as text, "" for an emptied one, or raise PortalError.

    Spaces are dropped. The code must be 8, 12, 13 or 14 digits with a correct check digit.
    """
    text = _as_text(value)
    if text is None:
        return None
    ean = "".join(text.split())
    if not ean:
        return ""
    if _SCIENTIFIC.match(ean):
        raise PortalError("product.scientific_notation", value=ean)
    if not ean.isdigit():
        raise PortalError("product.ean_not_digits", value=ean)
    if len(ean) not in EAN_LENGTHS:
        raise PortalError("product.ean_length", value=ean, length=len(ean))
    expected = gtin_check_digit(ean[:-1])
    if int(ean[-1]) != expected:
        raise PortalError("product.ean_check_digit", value=ean, expected=expected)
    return ean


# --- Checking and saving rows -------------------------------------------------------


@dataclass(slots=True)
class ProductInput:
    """One product row as typed in the editor or read from a file.

    None means "not given": an existing product keeps its value and a new one gets the
    default. An empty string means "made empty", which clears an EAN, description or
    group and is an error for a required field.

    A row with `product_id` edits that product, and its SKU may change. A row with `new`
    creates a product whose SKU must be unused. Any other row updates the product with
    its SKU, or creates one.
    """

    row: int
    sku: RawValue = None
    product_id: int | None = None
    new: bool = False
    ean: RawValue = None
    name: RawValue = None
    description: RawValue = None
    product_group: RawValue = None
    list_price: RawValue = None
    vat_rate: RawValue = None
    unit: RawValue = None
    min_quantity: RawValue = None
    order_multiple: RawValue = None
    active: RawValue = None


@dataclass
class PlannedProduct:
    """The effect of saving one valid row: a new product, changed fields, or no change."""

    row: int
    sku: str
    status: str  # new, changed or unchanged
    values: dict[str, object]  # the fields to write: all given ones for a new product, else the changed ones
    parsed: dict[str, object]  # every field the row gives, as understood
    product_id: int | None = None


@dataclass
class ProductPlan:
    planned: list[PlannedProduct] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for item in self.planned if item.status == status)


# Each product field's parser, called with (value, decimal mark, allowed VAT rates).
_FIELD_PARSERS: dict[str, Callable[[RawValue, str, Sequence[Decimal]], object]] = {
    "ean": lambda value, _mark, _rates: check_ean(value),
    "name": lambda value, _mark, _rates: clean_text(value, MAX_NAME_LENGTH),
    "description": lambda value, _mark, _rates: clean_text(value, MAX_DESCRIPTION_LENGTH, multiline=True),
    "product_group": lambda value, _mark, _rates: clean_text(value, MAX_GROUP_LENGTH),
    "list_price": lambda value, mark, _rates: parse_price(value, mark),
    "vat_rate": lambda value, mark, rates: parse_vat_rate(value, rates, mark),
    "unit": lambda value, _mark, _rates: clean_text(value, MAX_UNIT_LENGTH),
    "min_quantity": lambda value, mark, _rates: parse_whole(value, mark),
    "order_multiple": lambda value, mark, _rates: parse_whole(value, mark),
    "active": lambda value, _mark, _rates: parse_active(value),
}
# Fields that may be left out, but not made empty.
_REQUIRED_WHEN_GIVEN = {"name", "unit", "list_price", "vat_rate", "min_quantity", "order_multiple"}


def _parse_fields(row: ProductInput, decimal_mark: str, vat_rates: Sequence[Decimal]) -> tuple[dict, list]:
    """Parse every given field of a row; return the values and a problem per bad field."""
    values: dict[str, object] = {}
    problems: list[RowProblem] = []
    if row.sku is not None or row.product_id is None:
        try:
            values["sku"] = check_sku(row.sku)
        except PortalError as error:
            problems.append(RowProblem(row.row, "sku", error.code, **error.params))
    for name, parse in _FIELD_PARSERS.items():
        raw = getattr(row, name)
        if raw is None:
            continue
        if isinstance(raw, str) and not raw.strip():
            if name in _REQUIRED_WHEN_GIVEN:
                problems.append(RowProblem(row.row, name, "product.required"))
                continue
            if name == "active":
                continue
        try:
            parsed = parse(raw, decimal_mark, vat_rates)
        except PortalError as error:
            problems.append(RowProblem(row.row, name, error.code, **error.params))
            continue
        if parsed is not None:
            values[name] = parsed
    return values, problems


def _load_by(session: Session, column, keys: set) -> dict:
    """Load products whose column value is in keys, in chunks; return them by that value."""
    found = {}
    ordered = sorted(keys, key=str)
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[start : start + LOOKUP_CHUNK]
        for product in session.scalars(select(Product).where(column.in_(chunk))):
            found[getattr(product, column.key)] = product
    return found


def _current_values(product: Product) -> dict[str, object]:
    return {name: getattr(product, name) for name in PRODUCT_FIELDS}


def _differs(name: str, new: object, current: object) -> bool:
    if name == "ean":
        # An emptied EAN is stored as NULL.
        return (new or None) != (current or None)
    return new != current


def _problem_order(problem: RowProblem) -> tuple[int, int]:
    """Sort problems by row, then by the field's column, row-wide problems first."""
    column = PRODUCT_FIELDS.index(problem.field) if problem.field in PRODUCT_FIELDS else -1
    return problem.row, column


def plan_products(session: Session, rows: Sequence[ProductInput], decimal_mark: str = ",") -> ProductPlan:
    """Check rows against each other and the database, and work out what saving them changes.

    Every problem of every row is reported, each with its row number and field: bad
    values, a SKU used twice, a new product without a name or price, a product that no
    longer exists.
    """
    plan = ProductPlan()
    vat_rates = allowed_vat_rates(session)
    parsed = []
    for row in rows:
        values, problems = _parse_fields(row, decimal_mark, vat_rates)
        plan.problems.extend(problems)
        parsed.append((row, values, {problem.field for problem in problems}))

    by_id = _load_by(session, Product.id, {row.product_id for row in rows if row.product_id is not None})
    skus = {values["sku"] for _, values, _ in parsed if "sku" in values}
    by_sku = _load_by(session, Product.sku, skus)
    first_row_of_sku: dict[str, int] = {}

    for row, values, bad_fields in parsed:
        product = None
        if row.product_id is not None:
            product = by_id.get(row.product_id)
            if product is None:
                plan.problems.append(RowProblem(row.row, "", "product.gone"))
                continue
        elif not row.new and "sku" in values:
            product = by_sku.get(values["sku"])

        sku = values.get("sku", product.sku if product else None)
        if sku is not None:
            holder = by_sku.get(sku)
            taken_by_other = holder is not None and (product is None or holder.id != product.id)
            if sku in first_row_of_sku:
                plan.problems.append(
                    RowProblem(row.row, "sku", "product.sku_twice", sku=sku, first=first_row_of_sku[sku])
                )
            elif taken_by_other:
                plan.problems.append(RowProblem(row.row, "sku", "product.sku_taken", sku=sku))
            first_row_of_sku.setdefault(sku, row.row)

        if product is None:
            for required in ("name", "list_price"):
                if required not in values and required not in bad_fields:
                    plan.problems.append(RowProblem(row.row, required, "product.required_for_new"))
            plan.planned.append(PlannedProduct(row.row, sku or "", "new", values, values))
            continue

        current = _current_values(product)
        changes = {name: value for name, value in values.items() if _differs(name, value, current[name])}
        status = "changed" if changes else "unchanged"
        plan.planned.append(PlannedProduct(row.row, sku or product.sku, status, changes, values, product.id))

    plan.problems.sort(key=_problem_order)
    return plan


def validate_products(session: Session, rows: Sequence[ProductInput], decimal_mark: str = ",") -> list[RowProblem]:
    """Return every problem of the rows, in row order; an empty list means they can be saved."""
    return plan_products(session, rows, decimal_mark).problems


@dataclass(frozen=True)
class SaveResult:
    created: int
    updated: int
    unchanged: int


def _new_product_values(values: dict[str, object], default_vat: Decimal) -> dict[str, object]:
    """Return the column values of a new product, with defaults for the fields not given."""
    ean = values.get("ean") or None
    sku = str(values["sku"])
    name = str(values["name"])
    return {
        "sku": sku,
        "ean": ean,
        "name": name,
        "description": values.get("description") or "",
        "product_group": values.get("product_group") or "",
        "list_price": values["list_price"],
        "vat_rate": values.get("vat_rate", default_vat),
        "unit": values.get("unit", DEFAULT_UNIT),
        "min_quantity": values.get("min_quantity", 1),
        "order_multiple": values.get("order_multiple", 1),
        "active": values.get("active", True),
        "on_hand": 0,
        "allocated": 0,
        "search_text": product_search_text(sku, ean, name),
    }


def _apply_change(session: Session, item: PlannedProduct) -> None:
    product = session.get(Product, item.product_id)
    assert product is not None  # loaded by plan_products in this session
    for name, value in item.values.items():
        setattr(product, name, (value or None) if name == "ean" else value)
    if {"sku", "ean", "name"} & item.values.keys():
        product.search_text = product_search_text(product.sku, product.ean, product.name)


def _audit_detail(plan: ProductPlan, source: str) -> str:
    """Describe a save for the audit log: its source, counts, and the SKUs with their changed fields."""
    counts = f"{plan.count('new')} new, {plan.count('changed')} changed"
    detail = f"{source}: {counts}" if source else counts
    # A large import lists its first SKUs only, because the log keeps MAX_DETAIL_LENGTH characters.
    changes = []
    length = len(detail)
    for item in plan.planned:
        if length > audit.MAX_DETAIL_LENGTH:
            break
        if item.status == "unchanged":
            continue
        fields = "new" if item.status == "new" else ", ".join(sorted(item.values))
        changes.append(f"{item.sku} ({fields})")
        length += len(changes[-1]) + 2
    return f"{detail}: {'; '.join(changes)}"


def save_products(
    session: Session,
    rows: Sequence[ProductInput],
    user_id: int | None,
    decimal_mark: str = ",",
    progress: Callable[[int, int], None] | None = None,
    source: str = "",
) -> SaveResult:
    """Create and update products from rows, all of them or none; the caller commits.

    Raises Problems with every RowProblem when any row is invalid, before anything is
    written. A row that changes nothing writes nothing, so saving the same rows twice
    changes the database once. `progress` is called with (rows done, rows in total).
    A save that changes something adds one audit event, with `source` (such as the
    imported file) in its detail.
    """
    plan = plan_products(session, rows, decimal_mark)
    if plan.problems:
        raise Problems(list(plan.problems))

    vat_rates = allowed_vat_rates(session)
    default_vat = Decimal(21) if Decimal(21) in vat_rates or not vat_rates else vat_rates[0]
    total = len(plan.planned)
    try:
        for start in range(0, total, SAVE_CHUNK):
            chunk = plan.planned[start : start + SAVE_CHUNK]
            new_rows = [_new_product_values(item.values, default_vat) for item in chunk if item.status == "new"]
            if new_rows:
                # One multi-row INSERT per chunk: adding 100,000 ORM objects one by one is far slower.
                session.execute(insert(Product), new_rows)
            for item in chunk:
                if item.status == "changed":
                    _apply_change(session, item)
            session.flush()
            if progress is not None:
                progress(start + len(chunk), total)
    except IntegrityError as error:
        # Another admin saved the same new SKU between the check and this write.
        log.warning("Saving products failed on a constraint: %s", error.orig)
        raise PortalError("product.save_conflict") from error

    result = SaveResult(plan.count("new"), plan.count("changed"), plan.count("unchanged"))
    if result.created or result.updated:
        audit.record(
            session, "products_saved", actor_id=user_id, object_type="product", detail=_audit_detail(plan, source)
        )
    log.info(
        "Products saved by user %s: %s created, %s updated, %s unchanged",
        user_id,
        result.created,
        result.updated,
        result.unchanged,
    )
    return result


# --- Listing for the admin ------------------------------------------------------------


@dataclass(frozen=True)
class AdminProductRow:
    id: int
    sku: str
    ean: str | None
    name: str
    description: str
    product_group: str
    list_price: Decimal
    vat_rate: Decimal
    unit: str
    min_quantity: int
    order_multiple: int
    active: bool


@dataclass(frozen=True)
class AdminProductPage:
    rows: list[AdminProductRow]
    next_cursor: str | None


def list_products(
    session: Session, query: str = "", after: str | None = None, page_size: int = ADMIN_PAGE_SIZE
) -> AdminProductPage:
    """Return one page of all products, inactive ones included, in SKU order, matching the query.

    Paging is by keyset on the unique SKU: pass the previous page's next_cursor as `after`.
    """
    statement = select(Product)
    condition = search_condition(session, query)
    if condition is not None:
        statement = statement.where(condition)
    if after is not None:
        statement = statement.where(Product.sku > after)
    products = list(session.scalars(statement.order_by(Product.sku).limit(page_size + 1)))
    has_more = len(products) > page_size
    products = products[:page_size]
    rows = [AdminProductRow(id=product.id, **_current_values(product)) for product in products]
    return AdminProductPage(rows=rows, next_cursor=products[-1].sku if has_more else None)


@dataclass(frozen=True)
class ProductSummary:
    id: int
    sku: str
    name: str
    active: bool
    has_image: bool


def find_product(session: Session, sku: str) -> ProductSummary | None:
    """Return the product with exactly this SKU, active or not, or None."""
    product = session.scalar(select(Product).where(Product.sku == sku.strip()))
    if product is None:
        return None
    has_image = session.get(ProductImage, product.id) is not None
    return ProductSummary(product.id, product.sku, product.name, product.active, has_image)


# --- Photos ----------------------------------------------------------------------------


def _decode_image(data: bytes) -> tuple[Image.Image, bool]:
    """Decode untrusted image bytes upright in RGB or RGBA; return the image and whether it has transparency.

    Raises PortalError for anything that is not an accepted image, and for images whose
    pixel count could exhaust memory once decoded (decompression bombs).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED_IMAGE_FORMATS:
                raise PortalError("product.image_format", format=image.format or "?")
            width, height = image.size
            # Checked before decoding, because the header alone gives the size.
            if width * height > MAX_IMAGE_PIXELS:
                raise PortalError("product.image_too_many_pixels", width=width, height=height)
            image.verify()
            # verify() leaves the image unusable, so it is opened again to decode it.
            image = Image.open(io.BytesIO(data))
            image.load()
            # Phones store the rotation in EXIF; apply it before the metadata is dropped.
            image = ImageOps.exif_transpose(image)
            has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
            return image.convert("RGBA" if has_alpha else "RGB"), has_alpha
    except PortalError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PortalError("product.image_too_many_pixels", width="?", height="?") from error
    except UnidentifiedImageError as error:
        raise PortalError("product.image_invalid") from error
    except Exception as error:
        # Pillow's decoders raise many exception types on damaged files.
        log.warning("Rejected a damaged image: %r", error)
        raise PortalError("product.image_invalid") from error


def _encode(image: Image.Image, has_alpha: bool) -> bytes:
    buffer = io.BytesIO()
    if has_alpha:
        image.save(buffer, format="PNG", optimize=True)
    else:
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def store_image(session: Session, product_id: int, data: bytes, user_id: int | None = None) -> None:
    """Store a product photo and its thumbnail, replacing any earlier one.

    The upload is decoded and encoded again (JPEG, or PNG when it has transparency), so
    metadata such as GPS positions is dropped and the uploaded bytes are never stored
    as they came. The photo is scaled down to at most MAX_IMAGE_SIDE pixels on its long
    side, the thumbnail to THUMBNAIL_SIDE.
    """
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound("product")
    if not data:
        raise PortalError("product.image_invalid")
    if len(data) > MAX_IMAGE_BYTES:
        raise PortalError("product.image_too_large", maximum=MAX_IMAGE_BYTES // (1024 * 1024))

    image, has_alpha = _decode_image(data)
    image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), Image.Resampling.LANCZOS)
    photo = _encode(image, has_alpha)
    small = image.copy()
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    thumbnail = _encode(small, has_alpha)

    content_type = "image/png" if has_alpha else "image/jpeg"
    stored = session.get(ProductImage, product_id)
    if stored is None:
        session.add(ProductImage(product_id=product_id, content_type=content_type, image=photo, thumbnail=thumbnail))
    else:
        stored.content_type, stored.image, stored.thumbnail = content_type, photo, thumbnail
    session.flush()
    audit.record(session, "product_photo_stored", actor_id=user_id, object_type="product", object_id=product.sku)
    log.info("Product %s: photo stored, %s bytes (%s)", product_id, len(photo), content_type)


def delete_image(session: Session, product_id: int, user_id: int | None = None) -> bool:
    """Remove a product's photo; return whether it had one."""
    stored = session.get(ProductImage, product_id)
    if stored is None:
        return False
    sku = session.scalar(select(Product.sku).where(Product.id == product_id))
    session.delete(stored)
    session.flush()
    audit.record(session, "product_photo_removed", actor_id=user_id, object_type="product", object_id=sku)
    log.info("Product %s: photo removed", product_id)
    return True


def product_thumbnail(session: Session, product_id: int) -> bytes | None:
    """Return a product's thumbnail bytes, whether or not the product is active."""
    return session.scalar(select(ProductImage.thumbnail).where(ProductImage.product_id == product_id))
