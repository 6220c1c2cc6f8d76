"""ASGI middleware in front of Streamlit's server (hidden routes, upload gate, headers), and its sockets."""

from __future__ import annotations

import logging
import posixpath
import re
import socket
from typing import Any

import uvicorn
from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from streamlit.runtime import Runtime

log = logging.getLogger(__name__)

# Streamlit 1.67 serves /_stcore/metrics to anyone, with no setting to turn it off. It
# shows how many sessions the process serves and the names of the app's cached functions,
# which an outsider has no use for.
HIDDEN_PATH_SUFFIXES = ("/_stcore/metrics",)
# True in the session state of a session where an admin is signed in (set by portal.ui.auth).
# It is defined here, not there: with portal.ui.auth imported by serve.py before the
# runtime started, Streamlit 1.67 no longer served the cookie component, so no cookie was set.
ADMIN_SESSION_KEY = "admin_session"
# Streamlit 1.67 keeps every file sent here in memory until the session ends, from any sender.
UPLOAD_PATH = re.compile(r"/_stcore/upload_file/(?P<session_id>[^/]+)(/|$)")
# Only the portal itself may show its pages in a frame, because its components are same-origin frames.
FRAME_HEADERS = {"X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": "frame-ancestors 'self'"}


def _normalize(path: str) -> str:
    return posixpath.normpath("/" + path).rstrip("/")


def is_hidden_path(path: str) -> bool:
    """Tell whether an HTTP path, under any base URL path, is a route the portal hides."""
    return _normalize(path).endswith(HIDDEN_PATH_SUFFIXES)


def upload_session_id(path: str) -> str | None:
    """Return the session id of a file upload path, or None for any other path."""
    match = UPLOAD_PATH.search(_normalize(path) + "/")
    return match.group("session_id") if match else None


def is_admin_session(session_id: str) -> bool:
    """Tell whether a live Streamlit session of this process has an admin signed in."""
    if not Runtime.exists():
        return False
    app_session = Runtime.instance().get_app_session(session_id)
    if app_session is None:
        return False
    session_state = app_session.session_state
    return ADMIN_SESSION_KEY in session_state and session_state[ADMIN_SESSION_KEY] is True


class HiddenRoutes:
    """Hide routes, accept uploads from admin sessions only, and forbid framing by other sites."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path = scope["path"]
        if is_hidden_path(path):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        session_id = upload_session_id(path)
        if session_id is not None and scope["method"] in ("PUT", "POST") and not is_admin_session(session_id):
            log.warning("Rejected a file upload to session %s: no admin is signed in there", session_id)
            await PlainTextResponse("Forbidden", status_code=403)(scope, receive, send)
            return

        async def send_with_frame_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in FRAME_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_frame_headers)


def send_without_delay() -> None:
    """Make the server send each websocket message at once, without waiting for the last one's ACK.

    Call it before uvicorn starts serving: serve.py does, as uvicorn imports it.
    Streamlit 1.67 binds the listening socket itself, with protocol number 0, and asyncio
    then leaves Nagle's algorithm on for accepted connections: it sets TCP_NODELAY only
    on sockets whose protocol is IPPROTO_TCP. A rerun sends many small messages, and each
    one after the first waited for the browser's delayed ACK, about 40 ms in the benchmark.
    Accepted connections take TCP_NODELAY from the listening socket (Linux).
    """
    if getattr(uvicorn.Server.startup, "sends_without_delay", False):
        return
    startup = uvicorn.Server.startup

    async def startup_without_delay(server: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
        for listening in sockets or []:
            if listening.family in (socket.AF_INET, socket.AF_INET6):
                listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await startup(server, sockets)

    startup_without_delay.sends_without_delay = True  # type: ignore[attr-defined]
    uvicorn.Server.startup = startup_without_delay  # type: ignore[method-assign]
