"""Real `streamlit run` processes on loopback ports: the portal and the one-line hello page."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 10.0
START_ATTEMPTS = 3
HELLO_SCRIPT = 'import streamlit as st\n\nst.write("Hello")\n'
# The portal's re-authentication cookie (portal/ui/auth.py): an HS256 JWT with the
# username and an expiry 7 days after issue, which streamlit-authenticator 0.4.2 writes.
COOKIE_NAME = "portal_auth"
COOKIE_LIFETIME = dt.timedelta(days=7)


@dataclass
class Server:
    """A running `streamlit run` process, its URL and log."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    cookie_key: str = ""

    def rss_bytes(self) -> int:
        """Return the resident set size of the server process, from /proc."""
        rss = memory_status_bytes(self.process.pid, "VmRSS")
        if rss is None:
            raise RuntimeError(f"no VmRSS line for process {self.process.pid}")
        return rss

    def cookie_for(self, username: str) -> dict[str, str]:
        """Return a valid `portal_auth` cookie for the user, as the login form would set it.

        The issue time lies a minute ahead, so the cookie is newer than the user's
        `tokens_valid_after` even when the user was created moments ago.
        """
        issued = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        expires = (issued + COOKIE_LIFETIME).timestamp()
        token = jwt.encode({"username": username, "exp_date": expires}, self.cookie_key, algorithm="HS256")
        return {COOKIE_NAME: token}

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def memory_status_bytes(pid: int, field_name: str) -> int | None:
    """Return a memory field of /proc/PID/status, such as VmRSS or VmHWM, in bytes.

    Return None once the process has exited, because /proc then has no such line or file.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) * 1024
    return None


def free_loopback_port() -> int:
    """Return a port the kernel picked on 127.0.0.1; another process may take it before us."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _is_healthy(base_url: str) -> bool:
    # An empty ProxyHandler keeps any *_proxy variable away from loopback requests.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(base_url + "/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server's process group, killing it if it does not exit in time."""
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


def _launch(
    name: str, app_dir: Path, script: str, environment: dict[str, str], options: list[str], log_dir: Path, attempt: int
) -> Server:
    port = free_loopback_port()
    log_path = log_dir / f"{name}-{attempt}.log"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        *options,
    ]
    with log_path.open("wb") as log_file:
        # A session of its own makes the server a process group leader that _stop ends as a whole.
        process = subprocess.Popen(
            command,
            cwd=app_dir,
            env={**os.environ, **environment},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, f"http://127.0.0.1:{port}", process, log_path, environment.get("PORTAL_COOKIE_KEY", ""))


@contextlib.contextmanager
def running_server(
    name: str,
    app_dir: Path,
    script: str,
    log_dir: Path,
    environment: dict[str, str] | None = None,
    options: list[str] | None = None,
) -> Iterator[Server]:
    """Start `streamlit run script` in app_dir, wait until it is healthy, and stop it afterwards."""
    server = None
    for attempt in range(1, START_ATTEMPTS + 1):
        server = _launch(name, app_dir, script, environment or {}, options or [], log_dir, attempt)
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        while time.monotonic() < deadline and server.process.poll() is None and not _is_healthy(server.base_url):
            time.sleep(0.2)
        if server.process.poll() is None and _is_healthy(server.base_url):
            break
        _stop(server.process)
        log.warning("%s server did not start (attempt %s):\n%s", name, attempt, server.log_tail())
    else:
        raise RuntimeError(f"{name} server did not start in {START_ATTEMPTS} attempts; see {log_dir}")
    assert server is not None
    log.info("%s server at %s (pid %s)", name, server.base_url, server.process.pid)
    try:
        yield server
    finally:
        _stop(server.process)


def portal_server(
    app_dir: Path, database_url: str, log_dir: Path, options: list[str] | None = None
) -> contextlib.AbstractContextManager[Server]:
    """Start the portal (serve.py, as `make run` does) on the given database with a fresh cookie key."""
    environment = {
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_DEMO": "0",
        "PORTAL_COOKIE_KEY": secrets.token_urlsafe(48),
    }
    return running_server("portal", app_dir, "serve.py", log_dir, environment, options)


def hello_server(
    work_dir: Path, log_dir: Path, options: list[str] | None = None
) -> contextlib.AbstractContextManager[Server]:
    """Start the one-line hello page, the floor of every Streamlit-level measure."""
    hello_dir = work_dir / "hello"
    hello_dir.mkdir(parents=True, exist_ok=True)
    (hello_dir / "hello.py").write_text(HELLO_SCRIPT)
    return running_server("hello", hello_dir, "hello.py", log_dir, {}, options)
