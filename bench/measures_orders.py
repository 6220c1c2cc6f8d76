"""Ordering measures: one client's place-order latency, and 16 concurrent clients' orders per second."""

from __future__ import annotations

import datetime as dt
import logging
import math
import multiprocessing
import queue
import random
import secrets
import time
import traceback
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, text

from bench.results import Measure, Rule, Sample, Target, percentile
from bench.workloads import ORDER_CLIENTS, ORDERS_PER_CLIENT, Workload
from portal import ordering
from portal.catalog import load_customer_context
from portal.db import Database, create_portal_engine
from portal.integrity import check_invariants
from portal.models import Address, Cart, CartLine, Order, Product

log = logging.getLogger(__name__)

LINES_PER_ORDER = 5
PLACE_TARGET = Target(Rule.AT_MOST, 30.0, "p95 ≤ 30 ms")
RATE_TARGETS = {
    "sqlite": Target(Rule.AT_LEAST, 300.0, "≥ 300 orders/s"),
    "postgresql": Target(Rule.AT_LEAST, 400.0, "≥ 400 orders/s"),
}
ANOMALY_TARGET = Target(Rule.AT_MOST, 0.0, "0 oversold, 0 duplicate, 0 errors")
# A client that has not finished by then is reported as timed out, so a stuck run still ends.
CLIENT_TIMEOUT_SECONDS = 600.0
# How often the parent checks whether a silent client process is still alive.
_POLL_SECONDS = 0.5


@dataclass
class Settings:
    """How many orders each measure places per repetition."""

    single_orders: int = 100
    clients: int = ORDER_CLIENTS
    orders_per_client: int = ORDERS_PER_CLIENT


def fill_carts(database: Database, workload: Workload, buyers: list[tuple[int, int]], seed: int) -> None:
    """Give each buyer a current order of 5 hot products with a delivery address, in bulk.

    The hot products are shared by all buyers, so concurrent orders compete for them.
    """
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    user_ids = [user_id for user_id, _ in buyers]
    with database.write() as session:
        addresses = dict(
            session.execute(
                select(Address.customer_id, func.min(Address.id))
                .where(Address.active.is_(True))
                .group_by(Address.customer_id)
            ).all()
        )
        old_carts = select(Cart.id).where(Cart.user_id.in_(user_ids))
        session.execute(delete(CartLine).where(CartLine.cart_id.in_(old_carts)))
        session.execute(delete(Cart).where(Cart.user_id.in_(user_ids)))
        session.execute(
            insert(Cart),
            [
                {
                    "user_id": user_id,
                    "customer_id": customer_id,
                    "comment": "benchmark",
                    "address_id": addresses[customer_id],
                    "checkout_token": secrets.token_urlsafe(24),
                    "updated_at": now,
                }
                for user_id, customer_id in buyers
            ],
        )
        cart_ids = dict(session.execute(select(Cart.user_id, Cart.id).where(Cart.user_id.in_(user_ids))).all())
        session.execute(
            insert(CartLine),
            [
                {"cart_id": cart_ids[user_id], "product_id": product_id, "quantity": rng.randint(1, 5)}
                for user_id, _ in buyers
                for product_id in rng.sample(workload.hot_product_ids, LINES_PER_ORDER)
            ],
        )


def _tokens(database: Database, buyers: list[tuple[int, int]]) -> dict[int, str]:
    with database.read() as session:
        user_ids = [user_id for user_id, _ in buyers]
        return dict(session.execute(select(Cart.user_id, Cart.checkout_token).where(Cart.user_id.in_(user_ids))).all())


def _place(database: Database, user_id: int, customer_id: int, token: str) -> ordering.PlacedOrder:
    with database.read() as session:
        context = load_customer_context(session, customer_id)
    return ordering.place_order_once(database, context, user_id, token)


def _empty_write(database: Database) -> None:
    database.transaction(lambda session: session.execute(text("SELECT 1")).all())


def measure_single(database: Database, workload: Workload, settings: Settings, seed: int) -> Sample:
    """Place orders one after another; return p95 against an empty write transaction's p95."""
    buyers = workload.buyer_ids[: settings.single_orders]
    fill_carts(database, workload, buyers, seed)
    tokens = _tokens(database, buyers)
    placed, empty = [], []
    for user_id, customer_id in buyers:
        started = time.perf_counter()
        _place(database, user_id, customer_id, tokens[user_id])
        placed.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        _empty_write(database)
        empty.append((time.perf_counter() - started) * 1000)
    return Sample(percentile(placed, 0.95), percentile(empty, 0.95), {"p50": percentile(placed, 0.5)})


def _client_phase(database: Database, jobs: list[tuple[int, int, str]], empty: bool) -> dict:
    """Place each job's order, or run an empty write transaction per job; return counts and times."""
    outcome = {"placed": 0, "repeated": 0, "errors": [], "order_ids": [], "latencies": [], "end": 0.0}
    for user_id, customer_id, token in jobs:
        started = time.perf_counter()
        try:
            if empty:
                _empty_write(database)
            else:
                result = _place(database, user_id, customer_id, token)
                outcome["order_ids"].append(result.order_id)
                outcome["repeated"] += int(result.repeated)
            outcome["placed"] += 1
        except Exception as error:  # every failure counts as an error of the measure
            outcome["errors"].append(f"{type(error).__name__}: {error}"[:300])
        outcome["latencies"].append((time.perf_counter() - started) * 1000)
    outcome["end"] = time.monotonic()
    return outcome


class _RetryCounter(logging.Handler):
    """Counts the transactions portal.db retried, which its warnings report."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:  # noqa: ARG002
        self.count += 1


def _order_client(index: int, url: str, jobs: list[tuple[int, int, str]], ready, starts, results) -> None:
    """Place a warm-up order, then run the floor phase (empty write transactions) and the order phase.

    Each phase waits for its start signal. The warm-up order takes the first job before
    the clock starts. A fresh process's first order compiles the statements and fills
    SQLAlchemy's caches, which a portal process does once, not once per 25 orders. Every
    report carries the client's index, so the parent can tell whose report is missing.
    """
    database = Database(create_portal_engine(url))
    retries = _RetryCounter()
    logging.getLogger("portal.db").addHandler(retries)
    logging.getLogger("portal.db").propagate = False
    signalled = False
    try:
        _empty_write(database)
        if jobs:
            _place(database, *jobs[0])
            jobs = jobs[1:]
        ready.put((index, True))
        signalled = True
        for phase, start in enumerate(starts):
            start.wait(CLIENT_TIMEOUT_SECONDS)
            retries.count = 0
            outcome = _client_phase(database, jobs, empty=phase == 0)
            outcome["retries"] = retries.count
            results[phase].put((index, outcome))
    except Exception:  # a client that cannot even start still reports back
        if not signalled:
            # Otherwise the parent waits for this client to be ready until it gives up.
            ready.put((index, False))
        failed = _failed_outcome(traceback.format_exc()[-500:])
        for phase_results in results:
            phase_results.put((index, failed))
    finally:
        database.engine.dispose()


def _failed_outcome(error: str, **extra: object) -> dict:
    return {"placed": 0, "repeated": 0, "errors": [error], "order_ids": [], "end": 0, **extra}


def _await_reports(processes: list, reports, deadline: float) -> dict[int, object]:
    """Return each client's report from the queue, by client index, until all have reported.

    A client process that ended without reporting gets no entry: it was killed, or it
    crashed where no exception handler runs. The wait ends as soon as every silent client
    has ended, so it runs to the deadline only for a client that is still alive.
    """
    received: dict[int, object] = {}
    while len(received) < len(processes):
        try:
            index, report = reports.get(timeout=min(max(deadline - time.monotonic(), 0.01), _POLL_SECONDS))
            received[index] = report
            continue
        except queue.Empty:
            pass
        if time.monotonic() >= deadline:
            break
        silent = [index for index in range(len(processes)) if index not in received]
        if all(processes[index].exitcode is not None for index in silent):
            # A process puts its report before it exits, so one last read finds any report
            # that was still in the pipe when the process ended.
            try:
                while True:
                    index, report = reports.get(timeout=_POLL_SECONDS)
                    received[index] = report
            except queue.Empty:
                break
    return received


def _collect(processes: list, results, start) -> tuple[float, list[dict]]:
    """Release the clients at once; return (seconds until the last one finished, their outcomes)."""
    started = time.monotonic()
    start.set()
    received = _await_reports(processes, results, started + CLIENT_TIMEOUT_SECONDS)
    outcomes = []
    for index, process in enumerate(processes):
        if index in received:
            outcomes.append(received[index])
        elif process.exitcode is not None:
            outcomes.append(
                _failed_outcome(f"order client {index} ended with exit code {process.exitcode} before it reported")
            )
        else:
            outcomes.append(
                _failed_outcome(f"order client {index} timed out after {CLIENT_TIMEOUT_SECONDS:.0f} s", timed_out=True)
            )
    ends = [outcome["end"] for outcome in outcomes if outcome["end"]]
    return (max(ends) - started if ends else math.nan), outcomes


def _run_clients(
    url: str, job_lists: list[list[tuple[int, int, str]]], client=_order_client
) -> tuple[float, int, float, list[dict]]:
    """Start one process per client and return (floor seconds, floor transactions, order seconds, order outcomes).

    The same processes run both phases, so both pay the same connection and import state.
    `client` is the function each process runs. Tests pass one that fails on purpose.
    """
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    starts = (context.Event(), context.Event())
    results = (context.Queue(), context.Queue())
    processes = [
        context.Process(target=client, args=(index, url, jobs, ready, starts, results), daemon=True)
        for index, jobs in enumerate(job_lists)
    ]
    for process in processes:
        process.start()
    # Spawned clients import the portal and connect first; the clock starts when all are ready.
    _await_reports(processes, ready, time.monotonic() + CLIENT_TIMEOUT_SECONDS)
    try:
        floor_seconds, floor_outcomes = _collect(processes, results[0], starts[0])
        seconds, outcomes = _collect(processes, results[1], starts[1])
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    return floor_seconds, sum(outcome["placed"] for outcome in floor_outcomes), seconds, outcomes


def _oversold_products(database: Database) -> int:
    with database.read() as session:
        return int(
            session.scalar(
                select(func.count(Product.id)).where((Product.allocated > Product.on_hand) | (Product.on_hand < 0))
            )
            or 0
        )


def measure_rate(database: Database, workload: Workload, settings: Settings, seed: int) -> tuple[Sample, Sample]:
    """Let 16 clients place orders for overlapping products; return (rate sample, anomaly sample)."""
    buyers = workload.buyer_ids[: settings.clients * settings.orders_per_client]
    fill_carts(database, workload, buyers, seed)
    tokens = _tokens(database, buyers)
    jobs = [(user_id, customer_id, tokens[user_id]) for user_id, customer_id in buyers]
    job_lists = [jobs[index :: settings.clients] for index in range(settings.clients)]
    with database.read() as session:
        last_order_before = session.scalar(select(func.max(Order.id))) or 0

    empty_seconds, empty_count, seconds, outcomes = _run_clients(workload.url, job_lists)

    placed = sum(outcome["placed"] for outcome in outcomes)
    errors = [error for outcome in outcomes for error in outcome["errors"]]
    repeated = sum(outcome["repeated"] for outcome in outcomes)
    user_ids = [user_id for user_id, _ in buyers]
    with database.read() as session:
        per_buyer = session.execute(
            select(func.count(Order.id))
            .where(Order.id > last_order_before, Order.user_id.in_(user_ids))
            .group_by(Order.user_id)
        ).scalars()
        # Each buyer's current order was placed once. A buyer with two new orders is a duplicate,
        # and so is a placement that returned an earlier order.
        duplicates = sum(count - 1 for count in per_buyer) + repeated
    oversold = _oversold_products(database)
    for error in errors[:5]:
        log.warning("%s/%s: order client error: %s", workload.tier, workload.engine, error)
    latencies = [latency for outcome in outcomes for latency in outcome.get("latencies", [])]
    retried = sum(outcome.get("retries", 0) for outcome in outcomes)
    timed_out = sum(1 for outcome in outcomes if outcome.get("timed_out"))
    if timed_out:
        log.warning(
            "%s/%s: %s order clients did not finish within %.0f s",
            workload.tier,
            workload.engine,
            timed_out,
            CLIENT_TIMEOUT_SECONDS,
        )
    rate = Sample(
        placed / seconds if seconds else math.nan,
        empty_count / empty_seconds if empty_seconds else math.nan,
        {
            "orders": placed,
            "seconds": seconds,
            "p95": percentile(latencies, 0.95),
            "retries": retried,
            "timed_out": timed_out,
        },
    )
    anomalies = Sample(
        float(oversold + duplicates + len(errors)),
        details={"oversold": oversold, "duplicates": duplicates, "errors": len(errors)},
    )
    return rate, anomalies


def run_order_measures(workload: Workload, repeat: int, settings: Settings) -> list[Measure]:
    """Run the place-order and orders-per-second measures `repeat` times, then check the invariants."""
    tier, engine = workload.tier, workload.engine
    single = Measure(
        "place_order_p95",
        "Place order, 5 lines, one client",
        "ms",
        "p95",
        "empty write transaction p95",
        PLACE_TARGET,
        tier,
        engine,
    )
    rate = Measure(
        "orders_per_second",
        f"Orders per second, {settings.clients} concurrent clients",
        "per s",
        "orders",
        "empty write transactions",
        RATE_TARGETS[engine],
        tier,
        engine,
    )
    anomalies = Measure(
        "order_anomalies",
        "Orders under concurrency: oversold + duplicate + errors",
        "count",
        "count",
        "",
        ANOMALY_TARGET,
        tier,
        engine,
    )
    database = Database(create_portal_engine(workload.url))
    try:
        for number in range(1, repeat + 1):
            log.info("%s/%s: order measures, repetition %s of %s", tier, engine, number, repeat)
            single.samples.append(measure_single(database, workload, settings, seed=number))
            rate_sample, anomaly_sample = measure_rate(database, workload, settings, seed=1000 + number)
            rate.samples.append(rate_sample)
            anomalies.samples.append(anomaly_sample)
        with database.snapshot() as session:
            violations = check_invariants(session)
    finally:
        database.engine.dispose()
    anomalies.note = "; ".join(
        ", ".join(f"{name} {sample.details[name]:.0f}" for name in ("oversold", "duplicates", "errors"))
        for sample in anomalies.samples
    )
    anomalies.note += f"; invariant violations after all runs: {len(violations)}"
    if violations:
        anomalies.samples.append(Sample(float(len(violations))))
        for violation in violations[:5]:
            log.warning("%s/%s: %s", tier, engine, violation)
    rate.note = f"{settings.clients} client processes × {settings.orders_per_client} orders of {LINES_PER_ORDER} lines"
    rate.note += f" drawn from {len(workload.hot_product_ids)} shared products."
    rate.note += " Each client places its first order before the clock starts, as a warm-up."
    rate.note += " Per repetition, p95 latency"
    rate.note += " and transactions retried by portal.db: " + ", ".join(
        f"{sample.details['p95']:.0f} ms and {sample.details.get('retries', 0):.0f}" for sample in rate.samples
    )
    return [single, rate, anomalies]
