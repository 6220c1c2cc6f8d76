"""Build the demo catalogue, customers and order history from the UCI Online Retail data.

Run from the repository root:

    .venv/bin/python data/make_demo_data.py [--source PATH] [--output-dir DIR]

The script reads the gzip CSV twice, so memory use stays small, and writes
products.csv, customers.csv and order_lines.csv. Given the same source file it
writes byte-identical output. data/demo/README.md describes the selection rules.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPOSITORY_ROOT.parent / "shared/data/online-retail/online-retail.csv.gz"
DEFAULT_OUTPUT_DIR = REPOSITORY_ROOT / "data/demo"

PRODUCT_COUNT = 300
CUSTOMER_COUNT = 40
# The demo history covers the last three months of the source, which ends on 2011-12-09.
HISTORY_START = dt.date(2011, 9, 10)

SOURCE_TIME_ZONE = ZoneInfo("Europe/London")
MAX_PRICE_DECIMALS = 4

# Product codes have five digits, optionally followed by a letter suffix (85123A, 15056BL).
# Every other code is a fee, postage, discount or manual adjustment, such as POST,
# D, M, BANK CHARGES, AMAZONFEE, DOT, gift_0001_10 or DCGS0003.
PRODUCT_CODE = re.compile(r"\d{5}[A-Za-z]*")

# The first group whose keyword occurs as a whole word in the name wins.
PRODUCT_GROUP_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Christmas", ("CHRISTMAS",)),
    ("Candles and lights", ("CANDLE", "CANDLES", "CANDLEHOLDER", "T-LIGHT", "LANTERN", "LIGHT", "LIGHTS")),
    ("Bags", ("BAG", "BAGS", "SHOPPER", "WALLET")),
    (
        "Toys and games",
        (
            "GAME",
            "SNAP",
            "DOMINOES",
            "SKITTLES",
            "HARMONICA",
            "SPINNING TOPS",
            "SKIPPING ROPE",
            "DOLL",
            "PLAYHOUSE",
            "CRAYONS",
            "COLOURING SET",
        ),
    ),
    ("Tableware", ("MUG", "CUP", "CUPS", "TEACUP", "SAUCER", "TEAPOT", "PLATE", "PLATES", "BOWL", "BOWLS")),
    (
        "Kitchen and baking",
        (
            "BAKING",
            "CAKE CASES",
            "CAKESTAND",
            "CAKE STAND",
            "TINS",
            "CUTTER",
            "CUTTERS",
            "SCALES",
            "MOULDS",
            "LUNCH BOX",
            "RECIPE BOX",
            "OVEN GLOVE",
        ),
    ),
    (
        "Paper and cards",
        ("CARD", "CARDS", "WRAP", "PAPER", "NAPKINS", "TISSUES", "DOILIES", "NOTEBOOKS", "STATIONERY"),
    ),
    ("Signs and home decor", ("SIGN", "DOORMAT", "BUNTING", "FRAME", "CLOCK", "WICKER", "DECORATION")),
)
DEFAULT_PRODUCT_GROUP = "Gifts"

# The source sells no food. Names that contain CAKE, JAM or CHOCOLATE belong to cake
# cases, cake stands, jam jars, candles, hot water bottles and signs, so every product
# gets the standard rate and the reduced food rate of 9 % is never used.
STANDARD_VAT_RATE = "21"
UNIT = "pcs"

COUNTRY_NAMES = {"EIRE": "Ireland"}


@dataclass
class SourceLine:
    """One invoice line of the source file, with its position in the file."""

    position: int
    invoice: str
    stock_code: str
    description: str
    quantity: int
    invoiced_at: dt.datetime
    unit_price: Decimal
    customer_number: str
    country: str

    @property
    def is_cancellation(self) -> bool:
        """Return whether the line belongs to a cancellation invoice."""
        return self.invoice.startswith("C")

    @property
    def is_sale(self) -> bool:
        """Return whether the line sells a positive quantity on an ordinary invoice."""
        return not self.is_cancellation and self.quantity > 0


@dataclass
class ProductStatistics:
    """Sale line count, descriptions and latest customer price of one stock code."""

    sale_lines: int = 0
    descriptions: Counter[str] = field(default_factory=Counter)
    description_last_seen: dict[str, int] = field(default_factory=dict)
    latest_price: Decimal | None = None
    latest_price_key: tuple[dt.datetime, int] = (dt.datetime.min, 0)


@dataclass
class CustomerStatistics:
    """Recent invoices and latest country of one customer."""

    recent_invoices: set[str] = field(default_factory=set)
    country: str = ""
    country_key: tuple[dt.datetime, int] = (dt.datetime.min, 0)


@dataclass(frozen=True)
class Product:
    """A row of products.csv."""

    sku: str
    name: str
    list_price: Decimal
    product_group: str


@dataclass(frozen=True)
class Customer:
    """A row of customers.csv."""

    number: str
    country: str


def parse_customer_number(text: str) -> str:
    """Convert a source CustomerID such as "17850.0" to "17850", or "" when missing."""
    if not text:
        return ""
    return str(int(Decimal(text)))


def read_source(path: Path) -> Iterator[SourceLine]:
    """Yield the invoice lines of the gzip CSV at path in file order."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as source:
        reader = csv.DictReader(source)
        for row in reader:
            position = reader.line_num
            try:
                yield SourceLine(
                    position=position,
                    invoice=row["InvoiceNo"],
                    stock_code=row["StockCode"],
                    description=row["Description"].strip(),
                    quantity=int(row["Quantity"]),
                    invoiced_at=dt.datetime.fromisoformat(row["InvoiceDate"]),
                    unit_price=Decimal(row["UnitPrice"]),
                    customer_number=parse_customer_number(row["CustomerID"]),
                    country=row["Country"],
                )
            except (ValueError, InvalidOperation) as error:
                raise ValueError(f"{path}: line {position} is invalid: {error}") from error


def format_price(price: Decimal) -> str:
    """Format price with at least 2 and at most MAX_PRICE_DECIMALS decimals."""
    if not price.is_finite():
        raise ValueError(f"price {price} is not a finite number")
    exponent = price.as_tuple().exponent
    assert isinstance(exponent, int)
    decimals = max(2, -exponent)
    if decimals > MAX_PRICE_DECIMALS:
        raise ValueError(f"price {price} has more than {MAX_PRICE_DECIMALS} decimals")
    return f"{price:.{decimals}f}"


def to_utc_text(local_time: dt.datetime) -> str:
    """Convert a naive UK local time to an ISO 8601 UTC timestamp."""
    # zoneinfo reads a repeated or skipped local time with fold=0. That is harmless here
    # because the source has no invoices between 01:00 and 02:00, the hour DST changes affect.
    aware = local_time.replace(tzinfo=SOURCE_TIME_ZONE)
    return aware.astimezone(dt.UTC).isoformat()


def classify_product(name: str) -> str:
    """Return the product group of a product name by the first matching keyword rule."""
    for group, keywords in PRODUCT_GROUP_RULES:
        for keyword in keywords:
            if re.search(rf"(?<![\w-]){re.escape(keyword)}(?![\w-])", name):
                return group
    return DEFAULT_PRODUCT_GROUP


def collect_statistics(
    path: Path,
) -> tuple[dict[str, ProductStatistics], dict[str, CustomerStatistics]]:
    """Read the source once and gather the per-product and per-customer statistics."""
    products: defaultdict[str, ProductStatistics] = defaultdict(ProductStatistics)
    customers: defaultdict[str, CustomerStatistics] = defaultdict(CustomerStatistics)

    for line in read_source(path):
        order_key = (line.invoiced_at, line.position)

        if line.customer_number:
            customer = customers[line.customer_number]
            if order_key > customer.country_key:
                customer.country = line.country
                customer.country_key = order_key
            if not line.is_cancellation and line.invoiced_at.date() >= HISTORY_START:
                customer.recent_invoices.add(line.invoice)

        if not PRODUCT_CODE.fullmatch(line.stock_code) or not line.is_sale:
            continue
        product = products[line.stock_code]
        product.sale_lines += 1
        if line.description:
            product.descriptions[line.description] += 1
            product.description_last_seen[line.description] = line.position

        # Lines without a customer number are mostly web shop sales at about twice the
        # wholesale price, so only sale lines with a customer number set the list price.
        if line.customer_number and line.unit_price > 0 and order_key > product.latest_price_key:
            product.latest_price = line.unit_price
            product.latest_price_key = order_key

    return dict(products), dict(customers)


def select_products(statistics: dict[str, ProductStatistics]) -> list[Product]:
    """Select the PRODUCT_COUNT priced stock codes with the most sale lines, sorted by SKU."""
    priced = {code: stats for code, stats in statistics.items() if stats.latest_price is not None}
    ranked = sorted(priced, key=lambda code: (-priced[code].sale_lines, code))

    products = []
    for code in ranked[:PRODUCT_COUNT]:
        stats = priced[code]
        # A tie between spellings goes to the one seen last, which is the newer name.
        name = max(
            stats.descriptions,
            key=lambda text: (stats.descriptions[text], stats.description_last_seen[text]),
        )
        assert stats.latest_price is not None
        products.append(Product(code, name, stats.latest_price, classify_product(name)))

    return sorted(products, key=lambda product: product.sku)


def select_customers(statistics: dict[str, CustomerStatistics]) -> list[Customer]:
    """Select the CUSTOMER_COUNT customers with the most recent invoices, sorted by number."""
    ranked = sorted(statistics, key=lambda number: (-len(statistics[number].recent_invoices), int(number)))
    chosen = ranked[:CUSTOMER_COUNT]

    customers = []
    for number in chosen:
        country = statistics[number].country
        customers.append(Customer(number, COUNTRY_NAMES.get(country, country)))

    return sorted(customers, key=lambda customer: int(customer.number))


def collect_order_lines(path: Path, products: list[Product], customers: list[Customer]) -> list[list[str]]:
    """Read the source again and return the recent lines of the chosen customers and products."""
    names = {product.sku: product.name for product in products}
    customer_numbers = {customer.number for customer in customers}

    selected: list[tuple[tuple[dt.datetime, str, int], list[str]]] = []
    for line in read_source(path):
        if line.invoiced_at.date() < HISTORY_START:
            continue
        if line.customer_number not in customer_numbers or line.stock_code not in names:
            continue
        row = [
            line.invoice,
            line.customer_number,
            to_utc_text(line.invoiced_at),
            line.stock_code,
            line.description or names[line.stock_code],
            str(line.quantity),
            format_price(line.unit_price),
        ]
        selected.append(((line.invoiced_at, line.invoice, line.position), row))

    selected.sort(key=lambda item: item[0])
    return [row for _, row in selected]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write rows under header to path as UTF-8 CSV with LF line endings."""
    with path.open("w", encoding="utf-8", newline="") as output:
        writer = csv.writer(output, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def parse_arguments() -> argparse.Namespace:
    """Parse the command line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        metavar="PATH",
        default=DEFAULT_SOURCE,
        help="gzip CSV of the UCI Online Retail data set (default: %(default)s)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        default=DEFAULT_OUTPUT_DIR,
        help="folder that receives the three CSV files (default: %(default)s)",
    )
    return parser.parse_args()


def main() -> None:
    """Build the demo CSV files and print a summary of the counts."""
    arguments = parse_arguments()
    source: Path = arguments.source
    output_dir: Path = arguments.output_dir
    if not source.is_file():
        raise SystemExit(f"Source file not found: {source}. Pass its path with --source.")

    product_statistics, customer_statistics = collect_statistics(source)
    products = select_products(product_statistics)
    customers = select_customers(customer_statistics)
    order_lines = collect_order_lines(source, products, customers)

    output_dir.mkdir(parents=True, exist_ok=True)
    write_csv(
        output_dir / "products.csv",
        ["sku", "name", "list_price", "product_group", "vat_rate", "unit"],
        [[p.sku, p.name, format_price(p.list_price), p.product_group, STANDARD_VAT_RATE, UNIT] for p in products],
    )
    write_csv(
        output_dir / "customers.csv",
        ["number", "name", "country"],
        [[c.number, f"Customer {c.number}", c.country] for c in customers],
    )
    write_csv(
        output_dir / "order_lines.csv",
        ["invoice", "customer_number", "invoiced_at_utc", "sku", "name", "quantity", "unit_price"],
        order_lines,
    )

    invoices = {row[0] for row in order_lines}
    cancellations = {invoice for invoice in invoices if invoice.startswith("C")}
    print(
        f"Wrote {len(products)} products, {len(customers)} customers and {len(order_lines)} order lines "
        f"on {len(invoices)} invoices ({len(cancellations)} of them cancellations) to {output_dir}"
    )


if __name__ == "__main__":
    main()
