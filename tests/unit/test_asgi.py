"""The middleware that hides Streamlit routes the portal does not publish."""

import asyncio

import pytest

from portal.ui.asgi import HiddenRoutes, is_hidden_path


@pytest.mark.parametrize(
    "path",
    ["/_stcore/metrics", "/_stcore/metrics/", "//_stcore/metrics", "/_stcore/./metrics", "/a/../_stcore/metrics"],
)
def test_metrics_path_hidden(path):
    assert is_hidden_path(path)


def test_metrics_under_base_url_hidden():
    assert is_hidden_path("/portal/_stcore/metrics")


@pytest.mark.parametrize("path", ["/", "/_stcore/health", "/_stcore/host-config", "/products", "/metrics"])
def test_other_paths_pass(path):
    assert not is_hidden_path(path)


def _call(path: str, scope_type: str = "http") -> tuple[list[dict], list[str]]:
    sent: list[dict] = []
    reached: list[str] = []

    async def inner(scope, receive, send):
        reached.append(scope["path"])

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": scope_type, "path": path, "method": "GET", "headers": [], "query_string": b""}
    asyncio.run(HiddenRoutes(inner)(scope, receive, send))
    return sent, reached


def test_hidden_route_answers_404():
    sent, reached = _call("/_stcore/metrics")

    assert reached == []
    assert sent[0]["status"] == 404


def test_other_route_reaches_streamlit():
    sent, reached = _call("/_stcore/health")

    assert reached == ["/_stcore/health"]
    assert sent == []


def test_websocket_reaches_streamlit():
    _, reached = _call("/_stcore/stream", scope_type="websocket")

    assert reached == ["/_stcore/stream"]
