"""The orders benchmark's client processes: how they report a failure to start."""

from __future__ import annotations

import sys
import types

import pytest

from bench import measures_orders

# Above the test's own time limit, so the test fails if the parent waits out the full time
# for a client that never reports ready.
READY_WAIT_SECONDS = 300


@pytest.mark.timeout(60)
def test_failed_client_reports_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(measures_orders, "CLIENT_TIMEOUT_SECONDS", READY_WAIT_SECONDS)
    # A spawned process runs the parent's __main__ file first. After the page tests that is
    # Home.py, which fails outside Streamlit, so the clients get an empty __main__.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    # The empty database has no tables, so the warm-up order fails.
    empty = tmp_path / "empty.db"

    _, floor_count, _, outcomes = measures_orders._run_clients(f"sqlite:///{empty}", [[(1, 1, "token")]])

    assert floor_count == 0
    assert len(outcomes) == 1
    assert outcomes[0]["placed"] == 0
    assert "such table: customers" in outcomes[0]["errors"][0]
