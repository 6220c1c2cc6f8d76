"""The middleware that hides Streamlit routes the portal does not publish."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from portal.ui.asgi import HiddenRoutes, is_hidden_path, upload_session_id


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


@pytest.mark.parametrize(
    ("path", "session_id"),
    [
        ("/_stcore/upload_file/abc-123/file-1", "abc-123"),
        ("/_stcore/upload_file/abc-123", "abc-123"),
        ("/base/_stcore/upload_file/abc-123/file-1", "abc-123"),
        ("/x/../_stcore/upload_file/abc-123/file-1", "abc-123"),
        ("/_stcore/health", None),
        ("/media/abc", None),
    ],
)
def test_upload_session_id(path, session_id):
    assert upload_session_id(path) == session_id


def _call(path: str, scope_type: str = "http", method: str = "GET") -> tuple[list[dict], list[str]]:
    sent: list[dict] = []
    reached: list[str] = []

    async def inner(scope, receive, send):
        reached.append(scope["path"])
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": scope_type, "path": path, "method": method, "headers": [], "query_string": b""}
    # A thread of its own: the browser tests leave an event loop running in the main thread.
    with ThreadPoolExecutor(max_workers=1) as executor:
        executor.submit(asyncio.run, HiddenRoutes(inner)(scope, receive, send)).result()
    return sent, reached


def test_hidden_route_answers_404():
    sent, reached = _call("/_stcore/metrics")

    assert reached == []
    assert sent[0]["status"] == 404


def test_other_route_reaches_streamlit():
    sent, reached = _call("/_stcore/health")

    assert reached == ["/_stcore/health"]
    assert sent[0]["status"] == 200


def test_responses_forbid_framing_by_other_sites():
    sent, _ = _call("/")

    headers = dict(sent[0]["headers"])
    assert headers[b"x-frame-options"] == b"SAMEORIGIN"
    assert headers[b"content-security-policy"] == b"frame-ancestors 'self'"


def test_upload_without_live_session_rejected():
    sent, reached = _call("/_stcore/upload_file/no-such-session/file-1", method="PUT")

    assert reached == []
    assert sent[0]["status"] == 403


def test_upload_removal_passes():
    _, reached = _call("/_stcore/upload_file/no-such-session/file-1", method="DELETE")

    assert reached == ["/_stcore/upload_file/no-such-session/file-1"]


def test_websocket_reaches_streamlit():
    _, reached = _call("/_stcore/stream", scope_type="websocket")

    assert reached == ["/_stcore/stream"]
