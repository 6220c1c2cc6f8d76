"""Workload databases per tier and engine, built once and cached by a version string.

A workload is a migrated portal database with the tier's data, plus the benchmark's own
accounts and carts (`prepare_fixtures`) and a JSON description of both in the table
`bench_workload`. SQLite workloads are cached as files under bench/.cache/ and copied for
each run; PostgreSQL ones are cached as template databases named `<database>_cache_<key>`
and cloned into the run's database with CREATE DATABASE ... TEMPLATE.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import bcrypt
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url

from bench import generate, servers
from portal.db import MIGRATIONS_DIR, Database, create_portal_engine, migrate
from portal.models import Address, AssortmentMode, Customer, Product, Role, User
from portal.setup import ensure_settings

log = logging.getLogger(__name__)

# Bump when a builder or the fixtures change, so cached workloads are rebuilt.
WORKLOAD_VERSION = "4"
CACHE_DIR = Path(__file__).resolve().parent / ".cache"
# The shared data folder sits beside the repository's checkout.
RETAIL_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "online-retail" / "online-retail.csv.gz"
IMPORT_TIMEOUT_SECONDS = 3600.0
TIERS = ("demo", "retail", "large")
UI_USERS = 200
ORDER_CLIENTS = 16
ORDERS_PER_CLIENT = 25
HOT_PRODUCTS = 40
HOT_STOCK = 2_000
TERMS_PER_KIND = 5
MIN_TERM_LENGTH = 4


class WorkloadUnavailable(RuntimeError):
    """A tier cannot be built here, for example because the importer it needs is missing."""


@dataclass
class Workload:
    """A ready database and the ids and terms the measures use on it."""

    tier: str
    engine: str
    url: str
    catalogue_customer_id: int = 0
    deep_customer_id: int = 0
    ui_usernames: list[str] = field(default_factory=list)
    buyer_ids: list[tuple[int, int]] = field(default_factory=list)  # (user id, customer id)
    hot_product_ids: list[int] = field(default_factory=list)
    rare_terms: list[str] = field(default_factory=list)
    common_terms: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    build_seconds: float = 0.0

    def describe(self) -> dict[str, object]:
        return {key: value for key, value in asdict(self).items() if key not in ("tier", "engine", "url")}


def schema_head() -> str:
    """Return the newest migration's revision, part of every cache key."""
    revisions = sorted(path.name.split("_")[0] for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    return revisions[-1] if revisions else "none"


def cache_key(tier: str) -> str:
    return f"{tier}_v{WORKLOAD_VERSION}_{schema_head()}"


def retail_available(app_dir: Path) -> bool:
    """Tell whether the app has the history importer the retail tier loads its data with."""
    return (app_dir / "portal" / "history.py").exists() and RETAIL_CSV.exists()


# --- building ---------------------------------------------------------------------------


def _build_demo(database: Database) -> None:
    from portal.demo import load_demo_data

    with database.write() as session:
        load_demo_data(session)


def _build_large(database: Database) -> None:
    engine = database.engine
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        engine.dispose()
        connection = generate.sqlite_bulk_connection(path)
        connection.execute("BEGIN")
        generate.generate_large(generate.BulkWriter(connection, "sqlite"))
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.close()
        return
    raw = engine.raw_connection()
    try:
        generate.generate_large(generate.BulkWriter(raw.driver_connection, "postgresql"))
        raw.commit()
    finally:
        raw.close()


@dataclass
class ImportRun:
    """One `python -m portal import-history` process: its exit code, output, wall time and peak RSS."""

    returncode: int
    output: str
    seconds: float
    peak_rss_bytes: int


def run_history_import(url: str, app_dir: Path, csv_path: Path, timeout: float = IMPORT_TIMEOUT_SECONDS) -> ImportRun:
    """Run the history import of csv_path into the migrated database at url, skipping bad lines.

    The peak RSS is the import process's own high-water mark, read from /proc while it
    runs. The maximum RSS from wait4 would not do, because Linux carries the parent's RSS
    into it across fork and exec. A run still going after `timeout` seconds is killed.
    """
    command = [sys.executable, "-m", "portal", "import-history", str(csv_path), "--skip-bad-lines"]
    environment = {**os.environ, "PORTAL_DATABASE_URL": url, "PORTAL_COOKIE_KEY": secrets.token_urlsafe(48)}
    peak_rss = 0
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=app_dir, env=environment, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        # The high-water mark is read before each exit check, because /proc no longer
        # shows it once the process has exited.
        while True:
            peak_rss = max(peak_rss, servers.memory_status_bytes(process.pid, "VmHWM") or 0)
            if process.poll() is not None:
                break
            if time.monotonic() > deadline:
                log.warning("history import of %s passed %.0f s; killing process %s", csv_path, timeout, process.pid)
                process.kill()
                process.wait()
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        output.seek(0)
        text_output = output.read().decode(errors="replace")
    return ImportRun(process.returncode, text_output, seconds, peak_rss)


def _build_retail(database: Database, app_dir: Path) -> None:
    url = database.engine.url.render_as_string(hide_password=False)
    database.engine.dispose()
    run = run_history_import(url, app_dir, RETAIL_CSV)
    if run.returncode != 0:
        raise WorkloadUnavailable(f"the importer failed (exit {run.returncode}):\n{run.output[-2000:]}")
    log.info(
        "retail: imported in %.0f s, peak RSS %.0f MB: %s",
        run.seconds,
        run.peak_rss_bytes / 1e6,
        " / ".join(run.output.strip().splitlines()[-6:]),
    )


def fresh_database(url: str) -> Database:
    """Create the portal's tables and settings in the empty database at url."""
    database = Database(create_portal_engine(url))
    migrate(database.engine)
    with database.write() as session:
        ensure_settings(session)
    return database


def build(tier: str, url: str, app_dir: Path) -> Workload:
    """Build the tier's data into an empty database at url and add the fixtures."""
    started = time.perf_counter()
    database = fresh_database(url)
    if tier == "demo":
        _build_demo(database)
    elif tier == "large":
        _build_large(database)
    elif tier == "retail":
        _build_retail(database, app_dir)
    else:
        raise ValueError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
    database.engine.dispose()

    database = Database(create_portal_engine(url))
    try:
        if database.engine.dialect.name == "postgresql":
            # The state autovacuum leaves a loaded database in, soon after the load: the
            # trigram index's pending list merged and the visibility map set. Measured
            # before it, a rare word's search scanned the pending list and took 4 times
            # as long, and the selection checks read every row from the table.
            with database.engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM (ANALYZE)")
        workload = prepare_fixtures(database, tier, url)
    finally:
        database.engine.dispose()
    workload.build_seconds = time.perf_counter() - started
    _store_description(url, workload)
    return workload


# --- fixtures: the benchmark's accounts, hot products and terms -------------------------


def _pick_customers(database: Database, tier: str) -> tuple[int, int]:
    """Return (customer whose catalogue is searched, customer with the most pages)."""
    with database.read() as session:
        if tier == "large":
            return 1, generate.CUSTOMERS + 1
        if tier == "demo":
            demo = session.scalar(select(User.customer_id).where(User.username == "demo-customer"))
            everything = session.scalar(
                select(Customer.id).where(Customer.assortment_mode == AssortmentMode.ALL).order_by(Customer.id).limit(1)
            )
            return int(demo), int(everything)
        first = session.scalar(select(Customer.id).order_by(Customer.id).limit(1))
        return int(first), int(first)


def _choose_terms(texts: list[str]) -> tuple[list[str], list[str]]:
    """Pick search words found in few products (rare) and in the most products (common).

    Counts are of substrings, which is what both search indexes match.
    """
    words = Counter(word for value in texts for word in set(value.split()) if len(word) >= MIN_TERM_LENGTH)
    alphabetic = [word for word, _ in words.most_common() if word.isalpha()]
    common = alphabetic[:TERMS_PER_KIND]
    candidates = alphabetic[-200:]
    joined = "\n".join(texts)
    scored = sorted(candidates, key=lambda word: (joined.count(word), word))
    rare = [word for word in scored if joined.count(word) >= 1][:TERMS_PER_KIND]
    return rare, common


def prepare_fixtures(database: Database, tier: str, url: str) -> Workload:
    """Add the benchmark's users, buyers with addresses and stocked hot products; describe them."""
    catalogue_customer, deep_customer = _pick_customers(database, tier)
    password_hash = bcrypt.hashpw(secrets.token_bytes(16).hex().encode(), bcrypt.gensalt(4)).decode()
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)

    with database.write() as session:
        texts = list(session.scalars(select(Product.search_text).where(Product.active.is_(True))))
        rare, common = _choose_terms(texts)

        customers = list(session.scalars(select(Customer.id).where(Customer.assortment_mode == AssortmentMode.ALL)))
        if tier == "large":
            customers = list(range(1, generate.CUSTOMERS + 1))
        if not customers:
            raise WorkloadUnavailable(f"{tier}: no customer to place benchmark orders for")
        with_address = set(session.scalars(select(Address.customer_id).where(Address.active.is_(True))))
        for customer_id in customers:
            if customer_id not in with_address:
                session.add(
                    Address(
                        customer_id=customer_id,
                        name="Benchmark warehouse",
                        street="Dock 1",
                        postcode="1000 AA",
                        city="Rotterdam",
                        country="Netherlands",
                        is_default=True,
                    )
                )

        hot = list(
            session.scalars(
                select(Product.id)
                .where(Product.active.is_(True), Product.min_quantity == 1, Product.order_multiple == 1)
                .order_by(Product.id)
                .limit(HOT_PRODUCTS)
            )
        )
        for product in session.scalars(select(Product).where(Product.id.in_(hot))):
            # Raised with no stock movement on purpose: the allocation invariants do not
            # involve on-hand history, and the orders measure needs units to race for.
            product.on_hand = max(product.on_hand, HOT_STOCK)

        ui_users = [
            User(
                username=f"bench-ui-{number:03d}",
                name=f"Benchmark user {number}",
                password_hash=password_hash,
                role=Role.CUSTOMER,
                customer_id=catalogue_customer,
                language="en",
                tokens_valid_after=now,
            )
            for number in range(1, UI_USERS + 1)
        ]
        rng = random.Random(7)
        buyer_customers = [rng.choice(customers) for _ in range(ORDER_CLIENTS * ORDERS_PER_CLIENT)]
        buyers = [
            User(
                username=f"bench-buyer-{number:04d}",
                name=f"Benchmark buyer {number}",
                password_hash=password_hash,
                role=Role.CUSTOMER,
                customer_id=customer_id,
                language="en",
                tokens_valid_after=now,
            )
            for number, customer_id in enumerate(buyer_customers, start=1)
        ]
        session.add_all(ui_users + buyers)
        session.flush()
        counts = {
            name: int(session.scalar(text(f"SELECT count(*) FROM {name}")))
            for name in ("products", "customers", "orders", "order_lines", "assortment_items", "price_list_items")
        }

    return Workload(
        tier=tier,
        engine=database.engine.dialect.name,
        url=url,
        catalogue_customer_id=catalogue_customer,
        deep_customer_id=deep_customer,
        ui_usernames=[user.username for user in ui_users],
        buyer_ids=[(user.id, user.customer_id) for user in buyers],
        hot_product_ids=hot,
        rare_terms=rare,
        common_terms=common,
        counts=counts,
    )


def _store_description(url: str, workload: Workload) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_workload (description TEXT NOT NULL)")
        connection.exec_driver_sql("DELETE FROM bench_workload")
        connection.execute(
            text("INSERT INTO bench_workload (description) VALUES (:description)"),
            {"description": json.dumps(workload.describe())},
        )
    engine.dispose()


def _load_description(url: str, tier: str, engine_name: str) -> Workload | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT description FROM bench_workload").scalar()
    except Exception:  # any failure to read the description means the cache is unusable
        return None
    finally:
        engine.dispose()
    if stored is None:
        return None
    values = json.loads(stored)
    values["buyer_ids"] = [tuple(pair) for pair in values["buyer_ids"]]
    return Workload(tier=tier, engine=engine_name, url=url, **values)


# --- per engine: cache and copy ---------------------------------------------------------


def sqlite_workload(tier: str, run_dir: Path, app_dir: Path) -> Workload:
    """Return a fresh copy of the tier's cached SQLite workload, building the cache first if needed."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cached = CACHE_DIR / f"{cache_key(tier)}.db"
    if _load_description(f"sqlite:///{cached}", tier, "sqlite") is None:
        for stale in CACHE_DIR.glob(f"{tier}_*"):
            stale.unlink()
        partial = CACHE_DIR / f"{cache_key(tier)}.building.db"
        partial.unlink(missing_ok=True)
        log.info("Building the %s workload on SQLite into %s", tier, cached)
        workload = build(tier, f"sqlite:///{partial}", app_dir)
        _checkpoint(partial)
        partial.rename(cached)
        log.info("Built the %s workload on SQLite in %.0f s", tier, workload.build_seconds)

    copy = run_dir / f"{tier}-sqlite.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(cached, copy)
    workload = _load_description(f"sqlite:///{copy}", tier, "sqlite")
    assert workload is not None
    return workload


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the file, so one file is the whole database."""
    import sqlite3

    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def _admin_engine(url: str) -> Engine:
    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _database_exists(admin: Engine, name: str) -> bool:
    with admin.connect() as connection:
        return (
            connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first()
            is not None
        )


def _drop(admin: Engine, name: str) -> None:
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgresql_workload(tier: str, url: str, app_dir: Path) -> Workload:
    """Clone the tier's cached template database into the run database at url, building it first if needed."""
    run_name = make_url(url).database
    template = f"{run_name}_cache_{cache_key(tier)}"
    admin = _admin_engine(url)
    try:
        template_url = make_url(url).set(database=template).render_as_string(hide_password=False)
        if not _database_exists(admin, template) or _load_description(template_url, tier, "postgresql") is None:
            with admin.connect() as connection:
                stale = (
                    connection.execute(
                        text("SELECT datname FROM pg_database WHERE datname LIKE :pattern"),
                        {"pattern": f"{run_name}_cache_{tier}_%"},
                    )
                    .scalars()
                    .all()
                )
            for name in stale:
                _drop(admin, name)
            with admin.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{template}"')
            log.info("Building the %s workload on PostgreSQL into %s", tier, template)
            workload = build(tier, template_url, app_dir)
            log.info("Built the %s workload on PostgreSQL in %.0f s", tier, workload.build_seconds)
        _drop(admin, run_name)
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{run_name}" TEMPLATE "{template}"')
    finally:
        admin.dispose()
    workload = _load_description(url, tier, "postgresql")
    assert workload is not None
    return workload
