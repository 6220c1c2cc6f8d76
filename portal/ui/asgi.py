"""ASGI middleware in front of Streamlit's server: routes the portal does not publish."""

from __future__ import annotations

import posixpath
from typing import Any

from starlette.responses import PlainTextResponse

# Streamlit 1.67 serves /_stcore/metrics to anyone, with no setting to turn it off. It
# shows how many sessions the process serves and the names of the app's cached functions,
# which an outsider has no use for.
HIDDEN_PATH_SUFFIXES = ("/_stcore/metrics",)


def is_hidden_path(path: str) -> bool:
    """Tell whether an HTTP path, under any base URL path, is a route the portal hides."""
    normalized = posixpath.normpath("/" + path).rstrip("/")
    return normalized.endswith(HIDDEN_PATH_SUFFIXES)


class HiddenRoutes:
    """Respond 404 Not Found to requests for hidden routes and pass every other request on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and is_hidden_path(scope["path"]):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)
