"""Fixtures for the browser tests: a real `streamlit run` server and Debian's Chromium driven by Playwright.

Playwright's own browser download is never used: the tests launch /usr/bin/chromium. Without it
they are skipped, unless PORTAL_REQUIRE_BROWSER=1 makes a missing Chromium a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from portal.db import Database, create_portal_engine
from tests.browser.portal_ui import FIRST_LOAD_TIMEOUT_MS, expect_login_form

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_BROWSER_VARIABLE = "PORTAL_REQUIRE_BROWSER"
TRACE_FOLDER_VARIABLE = "PORTAL_BROWSER_TRACES"
HEALTH_TIMEOUT_SECONDS = 60.0
DEMO_LOAD_TIMEOUT_SECONDS = 300.0
DATABASE_FILE_NAME = "portal.db"
STOP_TIMEOUT_SECONDS = 10.0
START_ATTEMPTS = 3
LOG_TAIL_LINES = 60
# Streamlit reruns usually take under a second on an idle machine, so the margin is for a loaded one.
ACTION_TIMEOUT_MS = 15_000
NAVIGATION_TIMEOUT_MS = 30_000
# What `make run` starts: Home.py behind the portal's middleware.
SERVER_SCRIPT = "serve.py"

expect.set_options(timeout=ACTION_TIMEOUT_MS)


@dataclass
class PortalServer:
    """A `streamlit run serve.py` process on a loopback port, with its own database and cookie key."""

    base_url: str
    cookie_key: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def log_text(self, start: int = 0) -> str:
        """Return the server log from byte offset `start` on."""
        with self.log_path.open("rb") as handle:
            handle.seek(start)
            return handle.read().decode("utf-8", errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def is_running(self) -> bool:
        return self.process.poll() is None


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _is_healthy(base_url: str) -> bool:
    # An empty ProxyHandler keeps any *_proxy variable of the environment away from loopback requests.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(base_url + "/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server's whole process group, killing it if it does not exit in time."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _portal_environment(database_path: Path, cookie_key: str) -> dict[str, str]:
    return {
        **os.environ,
        "PORTAL_DATABASE_URL": f"sqlite:///{database_path}",
        "PORTAL_DEMO": "1",
        "PORTAL_COOKIE_KEY": cookie_key,
    }


def _copy_database(template: Path, directory: Path) -> None:
    """Copy the SQLite file with its -wal and -shm files, if the process that wrote it left them."""
    for source in template.parent.glob(template.name + "*"):
        shutil.copy(source, directory / source.name.replace(template.name, DATABASE_FILE_NAME, 1))


def server_command(port: int) -> list[str]:
    """Return the command that starts the portal as `make run` does, on a loopback port."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        SERVER_SCRIPT,
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--server.headless=true",
    ]


def _launch(directory: Path, attempt: int) -> PortalServer:
    port = _free_loopback_port()
    cookie_key = secrets.token_urlsafe(48)
    log_path = directory / f"streamlit-{attempt}.log"
    environment = _portal_environment(directory / DATABASE_FILE_NAME, cookie_key)
    command = server_command(port)
    with log_path.open("wb") as log_file:
        # A session of its own makes the server the leader of a process group that _stop ends as a whole.
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return PortalServer(f"http://127.0.0.1:{port}", cookie_key, log_path, process)


def _wait_until_healthy(server: PortalServer) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not server.is_running():
            return
        if _is_healthy(server.base_url):
            return
        time.sleep(0.2)
    pytest.fail(
        f"The portal server at {server.base_url} did not report healthy within {HEALTH_TIMEOUT_SECONDS:.0f} s.\n"
        f"Last lines of {server.log_path}:\n{server.log_tail()}",
        pytrace=False,
    )


@contextlib.contextmanager
def running_portal_server(directory: Path, database_template: Path) -> Iterator[PortalServer]:
    """Start the portal on a copy of the demo database in `directory`, wait for its health check, and stop it.

    The free port is found before Streamlit binds it, so another process can take it in between.
    A server that exits during start-up is therefore started again on a new port, up to
    START_ATTEMPTS times.
    """
    _copy_database(database_template, directory)
    server = None
    for attempt in range(1, START_ATTEMPTS + 1):
        server = _launch(directory, attempt)
        try:
            _wait_until_healthy(server)
        except BaseException:
            _stop(server.process)
            raise
        if server.is_running():
            break
    assert server is not None
    if not server.is_running():
        pytest.fail(
            f"The portal server exited with code {server.process.returncode} during start-up, "
            f"{START_ATTEMPTS} times.\nLast lines of {server.log_path}:\n{server.log_tail()}",
            pytrace=False,
        )

    try:
        yield server
    finally:
        exited_early = not server.is_running()
        _stop(server.process)
    if exited_early:
        pytest.fail(
            f"The portal server exited with code {server.process.returncode} before its tests ended.\n"
            f"Last lines of {server.log_path}:\n{server.log_tail()}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, shared by all browser tests."""
    if not CHROMIUM_PATH.exists():
        message = f"Chromium not found at {CHROMIUM_PATH}; install Debian's chromium package"
        if os.environ.get(REQUIRE_BROWSER_VARIABLE) == "1":
            pytest.fail(f"{message} ({REQUIRE_BROWSER_VARIABLE}=1 requires the browser tests to run).", pytrace=False)
        pytest.skip(message)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM_PATH), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[[], BrowserContext]]:
    """Return a factory of fresh browser contexts (own cookies, locale en-GB), all closed after the test.

    With PORTAL_BROWSER_TRACES set to a folder, each context saves a Playwright trace there.
    `playwright show-trace FILE` then shows each step of a failure that does not repeat.
    """
    contexts: list[BrowserContext] = []
    trace_folder = os.environ.get(TRACE_FOLDER_VARIABLE)

    def create() -> BrowserContext:
        context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        if trace_folder:
            context.tracing.start(screenshots=True, snapshots=True)
        contexts.append(context)
        return context

    yield create
    for number, context in enumerate(contexts):
        if trace_folder:
            test_name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
            context.tracing.stop(path=Path(trace_folder) / f"{test_name}-{number}-{time.time_ns()}.zip")
        context.close()


@pytest.fixture
def page(new_context: Callable[[], BrowserContext]) -> Page:
    """A page in a fresh browser context of its own, so no cookie leaks in from another test."""
    return new_context().new_page()


@pytest.fixture(scope="session")
def demo_database(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a SQLite database that `python -m portal load-demo` filled once, for every server to copy.

    The servers still run with PORTAL_DEMO=1 but find the data in place, so their first page request
    does not spend several seconds loading it. It depends on `browser` so that a missing Chromium skips
    the tests before anything is loaded.
    """
    path = tmp_path_factory.mktemp("demo-database") / DATABASE_FILE_NAME
    result = subprocess.run(
        [sys.executable, "-m", "portal", "load-demo"],
        cwd=PROJECT_ROOT,
        env=_portal_environment(path, secrets.token_urlsafe(48)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEMO_LOAD_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`python -m portal load-demo` failed with exit code {result.returncode}.\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}",
            pytrace=False,
        )
    return path


def _warm_up(browser: Browser, server: PortalServer) -> None:
    """Open the login page once, so the start-up work of the first request is not charged to a test."""
    context = browser.new_context(locale="en-GB")
    try:
        warm_up_page = context.new_page()
        warm_up_page.goto(server.url("/"), timeout=FIRST_LOAD_TIMEOUT_MS)
        expect_login_form(warm_up_page, timeout=FIRST_LOAD_TIMEOUT_MS)
    finally:
        context.close()


@pytest.fixture(scope="module")
def portal_server(
    browser: Browser, demo_database: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PortalServer]:
    """A portal server with demo data that the tests of one module share."""
    with running_portal_server(tmp_path_factory.mktemp("portal"), demo_database) as server:
        _warm_up(browser, server)
        yield server


@pytest.fixture
def fresh_portal_server(demo_database: Path, tmp_path: Path) -> Iterator[PortalServer]:
    """A portal server of the test's own that no browser has opened yet."""
    with running_portal_server(tmp_path, demo_database) as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the tail of the server log to the report of a failed test, and say when the server is gone."""
    report = yield
    if not report.failed:
        return report
    servers = [value for value in getattr(item, "funcargs", {}).values() if isinstance(value, PortalServer)]
    for server in servers:
        state = "running" if server.is_running() else f"exited with code {server.process.returncode}"
        report.sections.append(
            (f"portal server log ({state}), last {LOG_TAIL_LINES} lines of {server.log_path}", server.log_tail())
        )
    return report


@pytest.fixture(scope="module")
def portal_database(portal_server: PortalServer) -> Iterator[Database]:
    """The SQLite database of the module's server, which the server reads on every run."""
    database = Database(create_portal_engine(f"sqlite:///{portal_server.log_path.parent / 'portal.db'}"))
    yield database
    database.engine.dispose()
