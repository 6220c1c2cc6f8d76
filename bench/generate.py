"""The generated `large` workload: 100,000 products, 1,000 customers, 200,000 past orders.

Rows go in through the driver's bulk path (executemany on SQLite, COPY on PostgreSQL)
rather than the ORM, which would take an hour for the 5 million assortment rows. Values
follow the portal's own rules (portal.pricing for totals, portal.catalog for search text),
so `python -m portal check` passes on the result.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import random
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from portal.catalog import product_search_text
from portal.pricing import compute_totals, line_total

log = logging.getLogger(__name__)

PRODUCTS = 100_000
CUSTOMERS = 1_000
SELECTION_SIZE = 5_000
PRICE_LIST_SIZE = 1_000
# One in five price list entries gets a second, lower price from this quantity up.
VOLUME_TIER_EVERY = 5
VOLUME_TIER_QUANTITY = 48
ORDERS = 200_000
MAX_LINES_PER_ORDER = 5
# Products in every customer's selection, so that concurrent orders compete for them.
HOT_PRODUCTS = 40
HOT_PRODUCT_STOCK = 2_000
SEED = 20_111_209
GROUPS = ("Gifts", "Kitchen", "Home", "Garden", "Party", "Stationery", "Toys", "Christmas", "Bags", "Candles")
HISTORY_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
HISTORY_DAYS = 700
DEMO_PRODUCTS_CSV = Path(__file__).resolve().parent.parent / "data" / "demo" / "products.csv"
_WORD = re.compile(r"[A-Z][A-Z']{2,}")
# SQLAlchemy's text format of DateTime on SQLite, which the portal's UtcDateTime reads back as UTC.
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class LargeSummary:
    """Ids the measures need from the generated data."""

    hot_product_ids: list[int]
    all_products_customer_id: int


def vocabulary() -> list[str]:
    """Return the words of the demo catalogue's product names, most frequent first."""
    counts: Counter[str] = Counter()
    with DEMO_PRODUCTS_CSV.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            counts.update(_WORD.findall(row["name"].upper()))
    return [word for word, _ in counts.most_common()]


class BulkWriter:
    """Insert rows of plain Python values into one table through the driver's fastest path."""

    def __init__(self, dbapi_connection: object, dialect: str) -> None:
        self.connection = dbapi_connection
        self.dialect = dialect

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
        """Insert rows; return how many went in."""
        if self.dialect == "sqlite":
            return self._insert_sqlite(table, columns, rows)
        return self._copy_postgresql(table, columns, rows)

    def _insert_sqlite(self, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
        count = 0

        def converted() -> Iterator[tuple]:
            nonlocal count
            for row in rows:
                count += 1
                yield tuple(_sqlite_value(value) for value in row)

        placeholders = ", ".join("?" for _ in columns)
        cursor = self.connection.cursor()
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", converted())
        cursor.close()
        return count

    def _copy_postgresql(self, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
        count = 0
        with (
            self.connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def reset_sequence(self, table: str) -> None:
        """Move a PostgreSQL id sequence past the ids inserted explicitly."""
        if self.dialect == "sqlite":
            return
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")


def _sqlite_value(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime(SQLITE_DATETIME)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _product_rows(rng: random.Random, words: list[str]) -> Iterator[tuple]:
    # Zipf-like weights: the first words of the list are common, the last ones rare.
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(words))]
    for product_id in range(1, PRODUCTS + 1):
        name_words = rng.choices(words, weights, k=rng.randint(2, 4))
        name = " ".join(name_words) + f" {rng.randint(1, 99)}"
        sku = f"BK{product_id:06d}"
        ean = f"87{rng.randrange(10**10):010d}{product_id % 10}"
        hot = product_id <= HOT_PRODUCTS
        on_hand = HOT_PRODUCT_STOCK if hot else rng.choice((0, 5, 40, 120, 500))
        min_quantity, multiple = (1, 1) if hot or rng.random() < 0.8 else rng.choice(((1, 6), (12, 12), (2, 1)))
        yield (
            product_id,
            sku,
            ean,
            name,
            "",
            rng.choice(GROUPS),
            Decimal(rng.randint(25, 5000)) / 100,
            Decimal(21) if rng.random() < 0.9 else Decimal(9),
            "pcs",
            min_quantity,
            multiple,
            True,
            on_hand,
            0,
            product_search_text(sku, ean, name),
        )


PRODUCT_COLUMNS = [
    "id",
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
    "on_hand",
    "allocated",
    "search_text",
]


def generate_large(writer: BulkWriter, rng: random.Random | None = None) -> LargeSummary:
    """Fill a migrated, empty database with the large workload."""
    rng = rng or random.Random(SEED)
    words = vocabulary()

    products: dict[int, tuple[Decimal, Decimal, str, str, int]] = {}

    def remembered(rows: Iterator[tuple]) -> Iterator[tuple]:
        for row in rows:
            products[row[0]] = (row[6], row[7], row[1], row[3], row[10])
            yield row

    writer.insert("products", PRODUCT_COLUMNS, remembered(_product_rows(rng, words)))
    writer.reset_sequence("products")
    log.info("large: %s products", len(products))

    price_list_rows = [(number, f"Price list {number:04d}") for number in range(1, CUSTOMERS + 1)]
    writer.insert("price_lists", ("id", "name"), price_list_rows)
    writer.reset_sequence("price_lists")
    all_products_customer = CUSTOMERS + 1
    customer_rows = [
        (
            number,
            f"L{number:05d}",
            f"Customer {number:05d}" if number <= CUSTOMERS else "All products customer",
            "Netherlands",
            "",
            "nl",
            "selection" if number <= CUSTOMERS else "all",
            number if number <= CUSTOMERS else 1,
            Decimal(rng.choice((0, 0, 2, 5))),
            True,
        )
        for number in range(1, all_products_customer + 1)
    ]
    writer.insert(
        "customers",
        [
            "id",
            "number",
            "name",
            "country",
            "vat_number",
            "language",
            "assortment_mode",
            "price_list_id",
            "discount_percent",
            "active",
        ],
        customer_rows,
    )
    writer.reset_sequence("customers")
    address_rows = [
        (
            number,
            number,
            f"Customer {number:05d} warehouse",
            "Dock 1",
            "1000 AA",
            "Rotterdam",
            "Netherlands",
            True,
            True,
        )
        for number in range(1, all_products_customer + 1)
    ]
    writer.insert(
        "addresses",
        ["id", "customer_id", "name", "street", "postcode", "city", "country", "is_default", "active"],
        address_rows,
    )
    writer.reset_sequence("addresses")
    log.info("large: %s customers", len(customer_rows))

    selections = _selections(rng)
    # The rows carry the product names that the database's triggers would otherwise look up.
    writer.insert(
        "assortment_items",
        ("customer_id", "product_id", "product_name"),
        (
            (customer_id, product_id, products[product_id][3])
            for customer_id, chosen in enumerate(selections, start=1)
            for product_id in chosen
        ),
    )
    log.info("large: %s assortment rows", CUSTOMERS * SELECTION_SIZE)
    writer.insert(
        "price_list_items",
        ("price_list_id", "product_id", "min_quantity", "unit_price"),
        _price_list_rows(rng, selections, products),
    )
    log.info("large: price lists written")
    _write_orders(writer, rng, selections, products)
    return LargeSummary(list(range(1, HOT_PRODUCTS + 1)), all_products_customer)


def _selections(rng: random.Random) -> list[list[int]]:
    hot = list(range(1, HOT_PRODUCTS + 1))
    others = range(HOT_PRODUCTS + 1, PRODUCTS + 1)
    return [sorted(hot + rng.sample(others, SELECTION_SIZE - HOT_PRODUCTS)) for _ in range(CUSTOMERS)]


def _price_list_rows(rng: random.Random, selections: list[list[int]], products: dict[int, tuple]) -> Iterator[tuple]:
    for price_list_id, chosen in enumerate(selections, start=1):
        for index, product_id in enumerate(sorted(rng.sample(chosen, PRICE_LIST_SIZE))):
            list_price = products[product_id][0]
            yield (price_list_id, product_id, 1, (list_price * Decimal("0.90")).quantize(Decimal("0.0001")))
            if index % VOLUME_TIER_EVERY == 0:
                price = (list_price * Decimal("0.80")).quantize(Decimal("0.0001"))
                yield (price_list_id, product_id, VOLUME_TIER_QUANTITY, price)


ORDER_COLUMNS = [
    "id",
    "number",
    "customer_id",
    "user_id",
    "status",
    "source",
    "comment",
    "address_name",
    "address_street",
    "address_postcode",
    "address_city",
    "address_country",
    "placed_at",
    "checkout_token",
    "subtotal",
    "vat_total",
    "total",
]
LINE_COLUMNS = [
    "id",
    "order_id",
    "line_number",
    "product_id",
    "sku",
    "name",
    "unit_price",
    "vat_rate",
    "quantity",
    "allocated",
    "delivered",
    "cancelled",
    "line_total",
    "queue_position",
]


def _write_orders(writer: BulkWriter, rng: random.Random, selections: list[list[int]], products: dict) -> None:
    """Write completed, delivered past orders with totals computed as the portal computes them."""
    lines: list[tuple] = []
    step = dt.timedelta(days=HISTORY_DAYS) / ORDERS

    def orders() -> Iterator[tuple]:
        line_id = 0
        for order_id in range(1, ORDERS + 1):
            customer_id = rng.randint(1, CUSTOMERS)
            placed_at = HISTORY_START + step * order_id
            chosen = rng.sample(selections[customer_id - 1], rng.randint(1, MAX_LINES_PER_ORDER))
            amounts = []
            for number, product_id in enumerate(chosen, start=1):
                list_price, vat_rate, sku, name, multiple = products[product_id]
                quantity = multiple * rng.randint(1, 12)
                total = line_total(quantity, list_price)
                amounts.append((total, vat_rate))
                line_id += 1
                allocated, delivered, cancelled = 0, quantity, 0
                lines.append(
                    (
                        line_id,
                        order_id,
                        number,
                        product_id,
                        sku,
                        name,
                        list_price,
                        vat_rate,
                        quantity,
                        allocated,
                        delivered,
                        cancelled,
                        total,
                        placed_at,
                    )
                )
            totals = compute_totals(amounts)
            yield (
                order_id,
                f"H{order_id:07d}",
                customer_id,
                None,
                "completed",
                "import",
                "",
                f"Customer {customer_id:05d} warehouse",
                "Dock 1",
                "1000 AA",
                "Rotterdam",
                "Netherlands",
                placed_at,
                None,
                totals.subtotal,
                totals.vat_total,
                totals.total,
            )

    batch = 20_000
    written = 0
    generator = orders()
    while written < ORDERS:
        chunk = [next(generator) for _ in range(min(batch, ORDERS - written))]
        writer.insert("orders", ORDER_COLUMNS, chunk)
        writer.insert("order_lines", LINE_COLUMNS, lines)
        written += len(chunk)
        lines.clear()
    writer.reset_sequence("orders")
    writer.reset_sequence("order_lines")
    log.info("large: %s orders", ORDERS)


def sqlite_bulk_connection(path: Path) -> sqlite3.Connection:
    """Open a SQLite file for loading: no journal or fsync, since a failed load is rebuilt anyway."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=OFF")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-400000")
    connection.execute("PRAGMA foreign_keys=OFF")
    return connection
