"""The orders benchmark's client processes: how a client that fails or dies is reported."""

from __future__ import annotations

import os
import sys
import types

import pytest

from bench import measures_orders

# Above the test's own time limit, so the test fails if the parent waits out the full time
# for a client that never reports.
READY_WAIT_SECONDS = 300


@pytest.fixture
def spawnable(monkeypatch):
    monkeypatch.setattr(measures_orders, "CLIENT_TIMEOUT_SECONDS", READY_WAIT_SECONDS)
    # A spawned process runs the parent's __main__ file first. After the page tests that is
    # Home.py, which fails outside Streamlit, so the clients get an empty __main__.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))


def _dies_at_start(index, url, jobs, ready, starts, results):
    os._exit(3)


def _dies_after_ready(index, url, jobs, ready, starts, results):
    ready.put((index, True))
    ready.close()
    ready.join_thread()
    starts[0].wait(READY_WAIT_SECONDS)
    os._exit(3)


@pytest.mark.timeout(60)
@pytest.mark.usefixtures("spawnable")
def test_failed_client_reports_at_once(tmp_path):
    # The empty database has no tables, so the warm-up order fails.
    empty = tmp_path / "empty.db"

    _, floor_count, _, outcomes = measures_orders._run_clients(f"sqlite:///{empty}", [[(1, 1, "token")]])

    assert floor_count == 0
    assert len(outcomes) == 1
    assert outcomes[0]["placed"] == 0
    assert "such table: customers" in outcomes[0]["errors"][0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("client", [_dies_at_start, _dies_after_ready])
@pytest.mark.usefixtures("spawnable")
def test_dead_client_counts_as_error(tmp_path, client):
    _, floor_count, _, outcomes = measures_orders._run_clients(
        f"sqlite:///{tmp_path / 'unused.db'}", [[(1, 1, "token")]], client=client
    )

    assert floor_count == 0
    assert len(outcomes) == 1
    assert outcomes[0]["placed"] == 0
    assert outcomes[0]["errors"] == ["order client 0 ended with exit code 3 before it reported"]
