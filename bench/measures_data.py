"""Data-layer measures: catalogue search, deep paging and the portal's overhead over the raw driver."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url

from bench.results import Measure, Rule, Sample, Target, percentile
from bench.workloads import Workload
from portal import catalog
from portal.catalog import CustomerContext, load_customer_context
from portal.db import Database, create_portal_engine
from portal.models import AssortmentMode

log = logging.getLogger(__name__)

LARGE_ONLY = ("large",)
SEARCH_TARGET_SPEEDUP = Target(Rule.SPEEDUP_AT_LEAST, 20, "≥ 20 × faster than the LIKE scan (p50)", LARGE_ONLY)
SEARCH_TARGET_P95 = Target(Rule.AT_MOST, 5.0, "p95 ≤ 5 ms", LARGE_ONLY)
PAGING_TARGET = Target(Rule.RATIO_AT_MOST, 2.0, "≤ 2 × page 1 (p50)", LARGE_ONLY)
OVERHEAD_TARGET = Target(Rule.RATIO_AT_MOST, 1.5, "≤ 1.5 × the raw driver (p50)")
DEEP_PAGE = 1_000


@dataclass
class Settings:
    """How many calls each data-layer measure times per repetition."""

    search_calls: int = 200
    paging_calls: int = 100
    overhead_calls: int = 200
    # The LIKE and OFFSET scans take up to seconds each on the large tier, so fewer of them are timed.
    scan_calls: int = 20


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


class RawDriver:
    """A plain DB-API connection of the workload's engine, for the floors."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self.connection = sqlite3.connect(parsed.database, isolation_level=None, check_same_thread=False)
            self.placeholder = "?"
        else:
            conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self.connection = psycopg.connect(conninfo, autocommit=True)
            self.placeholder = "%s"

    def fetch(self, sql: str, parameters: tuple | dict = ()) -> list[tuple]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, parameters)
            return cursor.fetchall()
        finally:
            cursor.close()

    def close(self) -> None:
        self.connection.close()


def _like_scan_sql(raw: RawDriver, context: CustomerContext) -> str:
    """Return the catalogue query with a LIKE '%term%' scan in place of the search index.

    On PostgreSQL the concatenation keeps the trigram index out, so the floor is the scan
    that the index replaces.
    """
    p = raw.placeholder
    text_column = "p.search_text" if raw.dialect == "sqlite" else "(p.search_text || '')"
    visible = "p.active = 1" if raw.dialect == "sqlite" else "p.active"
    if context.assortment_mode is AssortmentMode.SELECTION:
        visible += f" AND EXISTS (SELECT 1 FROM assortment_items a WHERE a.customer_id = {context.customer_id}"
        visible += " AND a.product_id = p.id)"
    return (
        "SELECT p.id, p.sku, p.ean, p.name, p.product_group, p.unit, p.list_price, p.vat_rate, p.min_quantity,"
        " p.order_multiple, p.on_hand, p.allocated FROM products p"
        f" WHERE {visible} AND {text_column} LIKE {p} ORDER BY p.name, p.id LIMIT {catalog.PAGE_SIZE + 1}"
    )


def _context(database: Database, customer_id: int) -> CustomerContext:
    with database.read() as session:
        return load_customer_context(session, customer_id)


def _search_call(database: Database, context: CustomerContext, term: str) -> Callable[[], object]:
    def call() -> object:
        with database.read() as session:
            return catalog.search_products(session, context, term)

    return call


def measure_search(workload: Workload, database: Database, raw: RawDriver, settings: Settings) -> list[Sample]:
    """Time search_products and the LIKE scan for the rare and the common terms, interleaved."""
    context = _context(database, workload.catalogue_customer_id)
    like_sql = _like_scan_sql(raw, context)
    timings: dict[str, list[float]] = {"rare": [], "common": [], "like_rare": [], "like_common": []}
    for index in range(settings.search_calls):
        for kind, terms in (("rare", workload.rare_terms), ("common", workload.common_terms)):
            term = terms[index % len(terms)]
            timings[kind].append(_timed(_search_call(database, context, term)))
            if index < settings.scan_calls:
                pattern = "%" + catalog.normalize_search_text(term) + "%"
                timings["like_" + kind].append(_timed(lambda pattern=pattern: raw.fetch(like_sql, (pattern,))))
    return [
        Sample(
            percentile(timings["rare"], 0.5),
            percentile(timings["like_rare"], 0.5),
            {"p95": percentile(timings["rare"], 0.95), "floor_p95": percentile(timings["like_rare"], 0.95)},
        ),
        Sample(
            percentile(timings["rare"], 0.95),
            percentile(timings["like_rare"], 0.95),
            {"p50": percentile(timings["rare"], 0.5)},
        ),
        Sample(
            percentile(timings["common"], 0.95),
            percentile(timings["like_common"], 0.95),
            {"p50": percentile(timings["common"], 0.5), "floor_p50": percentile(timings["like_common"], 0.5)},
        ),
    ]


def _walk_to_page(database: Database, context: CustomerContext, page: int) -> tuple[int, tuple[str, int] | None]:
    """Follow next_cursor from page 1; return the page reached (the last one if fewer) and its cursor."""
    cursor = None
    reached = 1
    with database.read() as session:
        while reached < page:
            result = catalog.search_products(session, context, "", cursor)
            if result.next_cursor is None:
                break
            cursor = result.next_cursor
            reached += 1
    return reached, cursor


def measure_paging(workload: Workload, database: Database, raw: RawDriver, settings: Settings) -> Sample:
    """Time the deep page against page 1 of the customer with the most pages; OFFSET for reference."""
    context = _context(database, workload.deep_customer_id)
    page, cursor = _walk_to_page(database, context, DEEP_PAGE)
    first, deep, offset = [], [], []
    offset_sql = _like_scan_sql(raw, context).replace(
        f"LIMIT {catalog.PAGE_SIZE + 1}", f"LIMIT {catalog.PAGE_SIZE + 1} OFFSET {(page - 1) * catalog.PAGE_SIZE}"
    )

    def page_call(after: tuple[str, int] | None) -> Callable[[], object]:
        def call() -> object:
            with database.read() as session:
                return catalog.search_products(session, context, "", after)

        return call

    for index in range(settings.paging_calls):
        first.append(_timed(page_call(None)))
        deep.append(_timed(page_call(cursor)))
        if index < settings.scan_calls:
            offset.append(_timed(lambda: raw.fetch(offset_sql, ("%",))))
    return Sample(
        percentile(deep, 0.5),
        percentile(first, 0.5),
        {"page": page, "p95": percentile(deep, 0.95), "offset_p50": percentile(offset, 0.5)},
    )


@contextlib.contextmanager
def _captured_statements(database: Database) -> Iterator[list[tuple[str, object]]]:
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        statements.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(database.engine, "before_cursor_execute", capture)


def measure_overhead(workload: Workload, database: Database, raw: RawDriver, settings: Settings) -> Sample:
    """Time a 50-row catalogue page through portal/ against the very same SQL on the raw driver.

    The SQL and parameters are captured from one portal call, so both sides run identical
    queries; the raw side only fetches the rows as tuples.
    """
    context = _context(database, workload.catalogue_customer_id)
    call = _search_call(database, context, "")
    with _captured_statements(database) as statements:
        call()
    queries = [(sql, params) for sql, params in statements if sql.lstrip().upper().startswith("SELECT")]

    def raw_call() -> None:
        for sql, params in queries:
            raw.fetch(sql, params)

    portal, floor = [], []
    for _ in range(settings.overhead_calls):
        portal.append(_timed(call))
        floor.append(_timed(raw_call))
    return Sample(percentile(portal, 0.5), percentile(floor, 0.5), {"queries": len(queries)})


def run_data_measures(workload: Workload, repeat: int, settings: Settings) -> list[Measure]:
    """Run the search, paging and overhead measures `repeat` times on the workload."""
    tier, engine = workload.tier, workload.engine
    rare_ratio = Measure(
        "search_rare_speedup",
        "Catalogue search, rare terms: service call vs LIKE scan",
        "ms",
        "p50",
        "LIKE scan p50",
        SEARCH_TARGET_SPEEDUP,
        tier,
        engine,
    )
    rare_p95 = Measure(
        "search_rare_p95",
        "Catalogue search, rare terms: p95",
        "ms",
        "p95",
        "LIKE scan p95",
        SEARCH_TARGET_P95,
        tier,
        engine,
    )
    common_p95 = Measure(
        "search_common_p95",
        "Catalogue search, common terms: p95",
        "ms",
        "p95",
        "LIKE scan p95",
        SEARCH_TARGET_P95,
        tier,
        engine,
    )
    paging = Measure(
        "deep_paging",
        "Deep paging: page 1,000 vs page 1",
        "ms",
        "deep page p50",
        "page 1 p50",
        PAGING_TARGET,
        tier,
        engine,
    )
    overhead = Measure(
        "data_layer_overhead",
        "Data layer overhead: 50-row page via portal/ vs raw driver",
        "ms",
        "portal p50",
        "raw driver p50",
        OVERHEAD_TARGET,
        tier,
        engine,
    )
    rare_ratio.note = f"rare terms {', '.join(workload.rare_terms)}; common terms {', '.join(workload.common_terms)}"

    database = Database(create_portal_engine(workload.url))
    raw = RawDriver(workload.url)
    try:
        for number in range(1, repeat + 1):
            log.info("%s/%s: data-layer measures, repetition %s of %s", tier, engine, number, repeat)
            rare, rare_tail, common = measure_search(workload, database, raw, settings)
            rare_ratio.samples.append(rare)
            rare_p95.samples.append(rare_tail)
            common_p95.samples.append(common)
            paging.samples.append(measure_paging(workload, database, raw, settings))
            overhead.samples.append(measure_overhead(workload, database, raw, settings))
    finally:
        raw.close()
        database.engine.dispose()
    if paging.samples:
        page = int(paging.samples[0].details["page"])
        notes = []
        if page < DEEP_PAGE:
            notes.append(f"the catalogue has {page} pages, so page {page} (the last) stands in for page 1,000")
        notes.append("OFFSET paging to the same page (raw driver) p50 per repetition: ")
        paging.note = "; ".join(notes) + ", ".join(
            f"{sample.details['offset_p50']:.2f} ms" for sample in paging.samples
        )
    return [rare_ratio, rare_p95, common_p95, paging, overhead]
