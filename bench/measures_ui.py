"""Streamlit-level measures through real `streamlit run` processes and the websocket protocol.

Every measure runs against the portal and, as its floor, against a one-line hello page
served by a second process at the same time, so both see the same machine load.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench import servers
from bench.protocol import RERUN_TIMEOUT_SECONDS, ProtocolError, StreamlitSession
from bench.results import Measure, Rule, Sample, Target, percentile
from bench.workloads import Workload

log = logging.getLogger(__name__)

SEARCH_TARGET = Target(Rule.FLOOR_PLUS_AT_MOST, 10.0, "p50 ≤ hello p50 + 10 ms")
ADD_TARGET = Target(Rule.RATIO_AT_MOST, 2.0, "p50 ≤ 2 × hello p50")
THROUGHPUT_TARGET = Target(Rule.RATIO_AT_LEAST, 0.5, "≥ 50 % of hello's reruns/s")
MANY_USERS_TARGET = Target(Rule.AT_MOST, 150.0, "p95 ≤ 150 ms")
MANY_USERS_ERRORS_TARGET = Target(Rule.AT_MOST, 0.0, "0 errors")
SESSION_MEMORY_TARGET = Target(Rule.AT_MOST, 100.0, "≤ 100 KB per session")
GROWTH_TARGET = Target(Rule.AT_MOST, 10.0, "≤ 10 % growth")
SEARCH_KEY = "product_search"
ADD_KEY_PREFIX = "list_add_"
THINK_SECONDS = 2.0
CONNECT_CONCURRENCY = 4


@dataclass
class Settings:
    """Counts and durations of the Streamlit-level measures, each a bound on its loop."""

    reruns: int = 60
    throughput_clients: int = 8
    throughput_seconds: float = 8.0
    users: int = 200
    users_seconds: float = 40.0
    idle_sessions: int = 100
    growth_warmup: int = 500
    growth_reruns: int = 10_000
    growth_clients: int = 4


class Portal:
    """Opens signed-in sessions on the portal's Products page with the workload's users."""

    def __init__(self, server: servers.Server, workload: Workload) -> None:
        self.server = server
        self.workload = workload
        self.terms = [*workload.rare_terms, *workload.common_terms]

    def session(self, number: int = 0, page: str = "products") -> StreamlitSession:
        username = self.workload.ui_usernames[number % len(self.workload.ui_usernames)]
        return StreamlitSession(self.server.base_url, page, self.server.cookie_for(username))

    async def open(self, number: int = 0, page: str = "products") -> StreamlitSession:
        session = self.session(number, page)
        result = await session.connect()
        if page == "products" and not any(widget.id.endswith("-" + SEARCH_KEY) for widget in session.widgets.values()):
            raise ProtocolError(f"the Products page did not draw its search box; exceptions: {result.exceptions}")
        return session

    async def search(self, session: StreamlitSession, index: int) -> float:
        """Type the next term into the search box and return the rerun's seconds.

        As a browser does, the rerun names the search box's fragment, if it is in one.
        """
        session.set_text(SEARCH_KEY, self.terms[index % len(self.terms)])
        result = await session.rerun(fragment_id=session.widget(SEARCH_KEY).fragment_id)
        if result.exceptions:
            raise ProtocolError(f"search rerun drew an exception: {result.exceptions[0]}")
        return result.seconds


def _add_key(session: StreamlitSession) -> str:
    for widget in session.widgets.values():
        if f"-{ADD_KEY_PREFIX}" in widget.id:
            return widget.id.rsplit("-", 1)[1]
    raise ProtocolError("the Products page drew no Add button")


async def _hello(server: servers.Server) -> StreamlitSession:
    session = StreamlitSession(server.base_url)
    await session.connect()
    return session


async def measure_search_and_add(portal: Portal, hello_server: servers.Server, reruns: int) -> tuple[Sample, Sample]:
    """Time search reruns and Add clicks on the Products page, each interleaved with a hello rerun."""
    hello = await _hello(hello_server)
    products = await portal.open()
    try:
        search, hello_times = [], []
        for index in range(reruns):
            hello_times.append((await hello.rerun()).seconds)
            search.append(await portal.search(products, index))
        # The whole page's rerun, as after a click in the menu or a reload, for the report.
        pages = [(await products.rerun()).seconds for _ in range(reruns)]
        search_sample = Sample(
            percentile(search, 0.5) * 1000,
            percentile(hello_times, 0.5) * 1000,
            {
                "p95": percentile(search, 0.95) * 1000,
                "fragment": float(bool(products.widget(SEARCH_KEY).fragment_id)),
                "page_p50": percentile(pages, 0.5) * 1000,
            },
        )

        products.set_text(SEARCH_KEY, "")
        await products.rerun()
        key = _add_key(products)
        fragment = products.widget(key).fragment_id
        adds, hello_times = [], []
        for _ in range(reruns):
            hello_times.append((await hello.rerun()).seconds)
            result = await products.click(key)
            if result.exceptions:
                raise ProtocolError(f"Add rerun drew an exception: {result.exceptions[0]}")
            adds.append(result.seconds)
        add_sample = Sample(
            percentile(adds, 0.5) * 1000,
            percentile(hello_times, 0.5) * 1000,
            {"p95": percentile(adds, 0.95) * 1000, "fragment": float(bool(fragment))},
        )
        return search_sample, add_sample
    finally:
        await products.close()
        await hello.close()


async def _saturate(
    open_session: Callable[[int], Awaitable[StreamlitSession]],
    rerun: Callable[[StreamlitSession, int], Awaitable[object]],
    clients: int,
    seconds: float,
) -> tuple[float, int]:
    """Run `clients` sessions rerunning back to back for `seconds`; return (reruns/s, errors)."""
    sessions = [await open_session(number) for number in range(clients)]
    counts = [0] * clients
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(number: int) -> None:
        nonlocal errors
        index = number
        while time.monotonic() < deadline:
            try:
                await rerun(sessions[number], index)
                counts[number] += 1
            except (ProtocolError, TimeoutError):
                errors += 1
            index += clients

    started = time.monotonic()
    try:
        await asyncio.gather(*(client(number) for number in range(clients)))
    finally:
        elapsed = time.monotonic() - started
        for session in sessions:
            await session.close()
    return sum(counts) / elapsed, errors


async def measure_throughput(portal: Portal, hello_server: servers.Server, settings: Settings) -> Sample:
    """Compare the Products page's reruns per second at saturation with the hello page's."""

    async def open_hello(_: int) -> StreamlitSession:
        return await _hello(hello_server)

    async def hello_rerun(session: StreamlitSession, _: int) -> object:
        return await session.rerun()

    hello_rate, _ = await _saturate(open_hello, hello_rerun, settings.throughput_clients, settings.throughput_seconds)
    portal_rate, errors = await _saturate(
        portal.open, portal.search, settings.throughput_clients, settings.throughput_seconds
    )
    return Sample(portal_rate, hello_rate, {"errors": errors})


async def _open_many(
    server: servers.Server, open_session: Callable[[int], Awaitable[StreamlitSession]], count: int
) -> tuple[list[StreamlitSession], float, int]:
    """Open `count` sessions, CONNECT_CONCURRENCY at a time; return them, RSS growth per session, failures.

    Opening a session runs the page once. Opening hundreds at once would measure how long
    the server takes to start that many runs, not the steady state with them open.
    """
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    sessions: list[StreamlitSession] = []
    failures = 0
    warm = await open_session(count)
    await asyncio.sleep(1.0)
    before = server.rss_bytes()

    async def connect(number: int) -> None:
        nonlocal failures
        async with limit:
            try:
                sessions.append(await open_session(number))
            except (ProtocolError, TimeoutError, OSError) as error:
                log.warning("session %s on %s could not connect: %r", number, server.name, error)
                failures += 1

    await asyncio.gather(*(connect(number) for number in range(count)))
    await warm.close()
    await asyncio.sleep(2.0)
    after = server.rss_bytes()
    return sessions, (after - before) / max(len(sessions), 1), failures


async def _simulate_users(
    sessions: list[StreamlitSession], act: Callable[[StreamlitSession, int], Awaitable[float]], seconds: float
) -> tuple[list[float], int]:
    """Let each open session act, then think for about THINK_SECONDS, until `seconds` have passed.

    Sessions whose action failed are removed from `sessions`, so later repetitions skip them.
    """
    latencies: list[float] = []
    errors = 0
    retired: list[StreamlitSession] = []
    rng = random.Random(3)
    deadline = time.monotonic() + seconds

    async def user(number: int, session: StreamlitSession) -> None:
        nonlocal errors
        # Arrivals spread over one think time, so the users do not act in lockstep.
        await asyncio.sleep(rng.uniform(0, THINK_SECONDS))
        index = number
        while time.monotonic() < deadline:
            try:
                latencies.append(await act(session, index))
            except (ProtocolError, TimeoutError) as error:
                log.warning("simulated user %s: %r", number, error)
                errors += 1
                # Late messages of the abandoned run would confuse its next rerun, so the session retires.
                retired.append(session)
                return
            index += len(sessions)
            await asyncio.sleep(THINK_SECONDS * rng.uniform(0.8, 1.2))

    await asyncio.gather(*(user(number, session) for number, session in enumerate(sessions)))
    for session in retired:
        sessions.remove(session)
    return latencies, errors


async def _hello_rerun_seconds(session: StreamlitSession, _: int) -> float:
    return (await session.rerun()).seconds


async def _growth(
    server: servers.Server,
    open_session: Callable[[int], Awaitable[StreamlitSession]],
    rerun: Callable[[StreamlitSession, int], Awaitable[object]],
    settings: Settings,
) -> tuple[float, int, int]:
    """Rerun `growth_reruns` times after a warm-up; return (RSS growth in %, RSS after warm-up, reruns done)."""
    sessions = [await open_session(number) for number in range(settings.growth_clients)]
    done = 0

    async def run(total: int) -> None:
        nonlocal done
        per_client = math.ceil(total / len(sessions))

        async def client(number: int) -> None:
            nonlocal done
            for index in range(per_client):
                await rerun(sessions[number], number + index * len(sessions))
                done += 1

        await asyncio.gather(*(client(number) for number in range(len(sessions))))

    try:
        await run(settings.growth_warmup)
        await asyncio.sleep(1.0)
        baseline = server.rss_bytes()
        done = 0
        await run(settings.growth_reruns)
        await asyncio.sleep(1.0)
        final = server.rss_bytes()
    finally:
        for session in sessions:
            await session.close()
    return (final - baseline) / baseline * 100, baseline, done


async def measure_growth(portal: Portal, hello_server: servers.Server, settings: Settings) -> Sample:
    """Compare the portal's RSS growth over many search reruns with the hello page's over as many reruns."""

    async def open_hello(_: int) -> StreamlitSession:
        return await _hello(hello_server)

    async def hello_rerun(session: StreamlitSession, _: int) -> object:
        return await session.rerun()

    hello_growth, _, _ = await _growth(hello_server, open_hello, hello_rerun, settings)
    growth, baseline, done = await _growth(portal.server, portal.open, portal.search, settings)
    return Sample(growth, hello_growth, {"baseline_mb": baseline / 1e6, "reruns": done})


def run_ui_measures(
    workload: Workload,
    app_dir: Path,
    work_dir: Path,
    repeat: int,
    settings: Settings,
    portal_options: list[str],
    groups: set[str],
) -> list[Measure]:
    """Start the portal and the hello page, and run the Streamlit-level measures of `groups` on them.

    Group "ui" is search, Add, throughput and memory growth. Group "users" opens
    `settings.users` sessions on each server for the memory per session and many-users
    measures.
    """
    tier, engine = workload.tier, workload.engine
    search = Measure(
        "ui_search", "Products page: search rerun", "ms", "p50", "hello rerun p50", SEARCH_TARGET, tier, engine
    )
    add = Measure(
        "ui_add", "Products page: Add to current order", "ms", "p50", "hello rerun p50", ADD_TARGET, tier, engine
    )
    throughput = Measure(
        "ui_throughput",
        f"Products page reruns/s at saturation ({settings.throughput_clients} clients)",
        "per s",
        "reruns",
        "hello reruns",
        THROUGHPUT_TARGET,
        tier,
        engine,
    )
    users = Measure(
        "ui_many_users",
        f"{settings.users} simulated users, {THINK_SECONDS:.0f} s think time",
        "ms",
        "p95",
        "hello p95 under the same load",
        MANY_USERS_TARGET,
        tier,
        engine,
    )
    user_errors = Measure(
        "ui_many_users_errors",
        f"{settings.users} simulated users: errors",
        "count",
        "count",
        "",
        MANY_USERS_ERRORS_TARGET,
        tier,
        engine,
    )
    session_memory = Measure(
        "memory_per_session",
        "RSS per idle signed-in session",
        "KB",
        "KB/session",
        "hello KB/session",
        SESSION_MEMORY_TARGET,
        tier,
        engine,
    )
    growth = Measure(
        "memory_growth",
        f"RSS growth over {settings.growth_reruns:,} reruns after warm-up",
        "%",
        "growth",
        "hello growth",
        GROWTH_TARGET,
        tier,
        engine,
    )
    group_measures = {"ui": [search, add, throughput, growth], "users": [users, user_errors, session_memory]}
    measures = [measure for group in ("ui", "users") if group in groups for measure in group_measures[group]]
    log_dir = work_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    async def attempt(touched: list[Measure], measure: Callable[[], Awaitable[object]]) -> object | None:
        """Run one measure; a failure marks the measures it feeds and lets the others run."""
        try:
            return await measure()
        except (ProtocolError, TimeoutError, OSError) as error:
            log.warning("%s/%s: %s failed: %r", tier, engine, ", ".join(m.key for m in touched), error)
            for touched_measure in touched:
                touched_measure.error = f"{type(error).__name__}: {error}"[:300]
            return None

    async def run_ui(portal: Portal, hello_server: servers.Server) -> None:
        for number in range(1, repeat + 1):
            log.info("%s/%s: Products page measures, repetition %s of %s", tier, engine, number, repeat)
            pair = await attempt([search, add], lambda: measure_search_and_add(portal, hello_server, settings.reruns))
            if pair is not None:
                search.samples.append(pair[0])
                add.samples.append(pair[1])
            sample = await attempt([throughput], lambda: measure_throughput(portal, hello_server, settings))
            if sample is not None:
                throughput.samples.append(sample)
        log.info("%s/%s: memory growth over %s reruns", tier, engine, settings.growth_reruns)
        sample = await attempt([growth], lambda: measure_growth(portal, hello_server, settings))
        if sample is not None:
            growth.samples.append(sample)

    async def run_users(portal: Portal, hello_server: servers.Server) -> None:
        # Last, because 200 users can leave a queue of runs that delays whatever comes next.
        log.info("%s/%s: opening %s sessions on each server", tier, engine, settings.users)

        async def open_hello(_: int) -> StreamlitSession:
            return await _hello(hello_server)

        hello_sessions, hello_bytes, _ = await _open_many(hello_server, open_hello, settings.users)
        portal_sessions, portal_bytes, failures = await _open_many(portal.server, portal.open, settings.users)
        session_memory.samples.append(Sample(portal_bytes / 1024, hello_bytes / 1024, {"failed": failures}))
        session_memory.note = f"{len(portal_sessions)} signed-in sessions left idle on the Products page"
        all_sessions = [*hello_sessions, *portal_sessions]
        try:
            for number in range(1, repeat + 1):
                log.info("%s/%s: many users, repetition %s of %s", tier, engine, number, repeat)
                hello_latencies, _ = await _simulate_users(hello_sessions, _hello_rerun_seconds, settings.users_seconds)
                latencies, errors = await _simulate_users(portal_sessions, portal.search, settings.users_seconds)
                # No completed rerun means every one passed the bound, so the bound is the p95's floor.
                p95 = percentile(latencies, 0.95) * 1000 if latencies else RERUN_TIMEOUT_SECONDS * 1000
                users.samples.append(
                    Sample(
                        p95,
                        percentile(hello_latencies, 0.95) * 1000,
                        {"p50": percentile(latencies, 0.5) * 1000, "reruns": len(latencies)},
                    )
                )
                user_errors.samples.append(Sample(float(errors + failures), details={"reruns": len(latencies)}))
        finally:
            await asyncio.gather(*(session.close() for session in all_sessions))

    async def run_group(group: str, portal: Portal, hello_server: servers.Server) -> None:
        if group == "ui":
            await run_ui(portal, hello_server)
        else:
            await attempt([users, user_errors, session_memory], lambda: run_users(portal, hello_server))

    # Each group starts its own servers, so the memory per session is measured in processes
    # that served nothing before. After the ui group's reruns, new sessions reused memory
    # that those reruns had freed. The same code then measured about a quarter less.
    for group in [group for group in ("ui", "users") if group in groups]:
        with (
            servers.portal_server(app_dir, workload.url, log_dir, portal_options) as portal_process,
            servers.hello_server(work_dir, log_dir) as hello_process,
        ):
            gc.collect()
            try:
                asyncio.run(run_group(group, Portal(portal_process, workload), hello_process))
            except Exception as error:  # the report shows which measures failed and why
                log.exception("%s/%s: Streamlit measures failed", tier, engine)
                for measure in group_measures[group]:
                    if not measure.samples:
                        measure.error = f"{type(error).__name__}: {error}"[:300]
                log.error("portal server log tail:\n%s", portal_process.log_tail())
    fragment = add.samples and add.samples[0].details.get("fragment")
    add.note = "the Add button runs in an st.fragment" if fragment else "the Add button reruns the whole page"
    if search.samples:
        fragment = search.samples[0].details.get("fragment")
        search.note = "the search box runs in an st.fragment" if fragment else "a search reruns the whole page"
        search.note += "; the whole page's rerun p50 per repetition: " + ", ".join(
            f"{sample.details['page_p50']:.1f} ms" for sample in search.samples
        )
        throughput.note = "search reruns, each in the search box's st.fragment" if fragment else "search reruns"
    growth.note = f"one run of {settings.growth_reruns:,} search reruns by {settings.growth_clients} clients"
    growth.note += f" after {settings.growth_warmup} warm-up reruns, so min = median = max"
    users.note = "search reruns completed per repetition: " + ", ".join(
        f"{sample.details['reruns']:.0f}" for sample in users.samples
    )
    users.note += f"; a rerun still unfinished after {RERUN_TIMEOUT_SECONDS:.0f} s counts as an error"
    if portal_options:
        for measure in measures:
            measure.note = (measure.note + "; " if measure.note else "") + "portal options: " + " ".join(portal_options)
    return measures
