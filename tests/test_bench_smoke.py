"""The benchmark suite's smoke run: every measure still runs on the demo tier.

Only that the suite works is checked here, never a timing: speed is what
`python -m bench` reports in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SMOKE_TIMEOUT_SECONDS = 420
MEASURE_KEYS = {
    "search_rare_speedup",
    "search_rare_p95",
    "search_common_p95",
    "deep_paging",
    "data_layer_overhead",
    "place_order_p95",
    "orders_per_second",
    "order_anomalies",
    "ui_search",
    "ui_add",
    "ui_throughput",
    "ui_many_users",
    "ui_many_users_errors",
    "memory_per_session",
    "memory_growth",
}

pytestmark = pytest.mark.timeout(SMOKE_TIMEOUT_SECONDS + 30)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run `python -m bench --smoke` once; return its process result and output file."""
    work = tmp_path_factory.mktemp("bench")
    output = work / "benchmarks.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--engine", "sqlite", "--output", str(output)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
    )
    return result, output


def test_smoke_run_exits_zero(smoke_run):
    result, _ = smoke_run

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_smoke_run_writes_report(smoke_run):
    _, output = smoke_run

    text = output.read_text()

    assert text.startswith("# Benchmarks")
    assert "### demo on SQLite" in text


def test_smoke_run_records_every_measure(smoke_run):
    _, output = smoke_run

    stored = json.loads((output.parent / "benchmarks-results" / "demo-sqlite.json").read_text())
    measures = {measure["key"]: measure for measure in stored["measures"]}

    assert set(measures) == MEASURE_KEYS
    for key, measure in measures.items():
        assert measure["error"] == "", f"{key}: {measure['error']}"
        assert measure["samples"], f"{key} has no samples"


def test_smoke_report_has_a_row_per_measure(smoke_run):
    _, output = smoke_run
    stored = json.loads((output.parent / "benchmarks-results" / "demo-sqlite.json").read_text())

    text = output.read_text()

    for measure in stored["measures"]:
        assert f"| {measure['title']} |" in text, measure["title"]


def test_smoke_warm_up_orders_not_timed(smoke_run):
    # --smoke runs 2 clients with 2 orders each: the first order of each is the warm-up.
    _, output = smoke_run
    stored = json.loads((output.parent / "benchmarks-results" / "demo-sqlite.json").read_text())
    measures = {measure["key"]: measure for measure in stored["measures"]}

    rate = measures["orders_per_second"]["samples"][0]
    anomalies = measures["order_anomalies"]["samples"][0]

    assert rate["details"]["orders"] == 2
    assert anomalies["details"] == {"oversold": 0, "duplicates": 0, "errors": 0}


def test_smoke_users_group_on_fresh_servers(smoke_run):
    # The memory per session is measured on servers that ran nothing before.
    result, _ = smoke_run

    starts = [line for line in result.stderr.splitlines() if "portal server at http://127.0.0.1:" in line]

    assert len(starts) == 2
