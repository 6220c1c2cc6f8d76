"""Results as JSON per tier and engine, and docs/benchmarks.md rendered from all of them."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import sqlite3
import statistics
import subprocess
from dataclasses import asdict
from pathlib import Path

import streamlit
from sqlalchemy import create_engine, text

from bench.results import Measure, Rule, Sample, Target

ANALYSIS_FILE = Path(__file__).resolve().parent / "analysis.md"
# Tells the files one invocation writes after each measure group apart from earlier runs.
RUN_ID = dt.datetime.now(dt.UTC).isoformat()
ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
TIER_ORDER = ("demo", "retail", "large")


def machine_info(postgresql_url: str | None) -> dict[str, str]:
    """Describe the machine and software versions the numbers come from."""
    info = {
        "cores": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "memory": f"{_memory_gib():.1f} GiB",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "streamlit": streamlit.__version__,
        "os": f"{platform.system()} {platform.release()}",
    }
    if postgresql_url:
        engine = create_engine(postgresql_url)
        try:
            with engine.connect() as connection:
                info["postgresql"] = connection.execute(text("SHOW server_version")).scalar() or "?"
        finally:
            engine.dispose()
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return math.nan


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def app_revision(app_dir: Path) -> str:
    """Return the app's git commit, marked when its work tree has changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=app_dir, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                "portal",
                "app_pages",
                "Home.py",
                "serve.py",
                ".streamlit",
            ],
            cwd=app_dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" with uncommitted changes" if dirty else "")


# --- storing -----------------------------------------------------------------------------


def save_run(results_dir: Path, tier: str, engine: str, run: dict) -> None:
    """Store a run, keeping the measures of an earlier run of the same tier and engine that this one skipped."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{tier}-{engine}.json"
    if path.exists() and not run.get("unavailable"):
        earlier = json.loads(path.read_text())
        if not earlier.get("unavailable"):
            measured = {measure["key"] for measure in run["measures"]}
            kept = [measure for measure in earlier.get("measures", []) if measure["key"] not in measured]
            if kept:
                run["measures"] = kept + run["measures"]
                # A file this same invocation wrote after an earlier group is not an earlier run.
                same_invocation = earlier.get("run_id") == run.get("run_id")
                run["earlier"] = earlier.get("earlier", []) + ([] if same_invocation else [_header(earlier)])
    path.write_text(json.dumps(run, indent=1, default=_json_default) + "\n")


def _header(run: dict) -> dict:
    return {key: run.get(key) for key in ("date", "command", "app_revision", "repeat", "load_before", "load_after")}


def _json_default(value: object) -> object:
    if isinstance(value, Target):
        return asdict(value)
    raise TypeError(f"cannot store {type(value).__name__} in the results")


def measure_to_json(measure: Measure) -> dict:
    return asdict(measure)


def measure_from_json(values: dict) -> Measure:
    target = values.pop("target")
    samples = [Sample(**sample) for sample in values.pop("samples")]
    if target is not None:
        target = Target(Rule(target["rule"]), target["limit"], target["text"], tuple(target["tiers"]))
    return Measure(target=target, samples=samples, **values)


def load_runs(results_dir: Path) -> list[dict]:
    runs = []
    for path in sorted(results_dir.glob("*.json")):
        run = json.loads(path.read_text())
        run["measures"] = [measure_from_json(values) for values in run.get("measures", [])]
        runs.append(run)
    order = {tier: index for index, tier in enumerate(TIER_ORDER)}
    engines = {engine: index for index, engine in enumerate(ENGINE_NAMES)}
    return sorted(runs, key=lambda run: (order.get(run["tier"], 9), engines.get(run["engine"], 9)))


# --- rendering ---------------------------------------------------------------------------


def _number(value: float, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit in ("count",):
        return f"{value:.0f}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _spread(values: list[float], unit: str) -> str:
    """Format min / median / max, or one value when all agree."""
    if not values:
        return "–"
    low, middle, high = min(values), statistics.median(values), max(values)
    if len(values) == 1 or low == high:
        return _number(middle, unit)
    return f"{_number(low, unit)} / **{_number(middle, unit)}** / {_number(high, unit)}"


def _verdict(measure: Measure) -> str:
    if measure.error and not measure.samples:
        return "failed to run"
    met = measure.met()
    if met is None:
        return "–" if not measure.applies() else "not measured"
    return "met" if met else "**missed**"


def _target_text(measure: Measure) -> str:
    if measure.target is None:
        return "–"
    if not measure.applies():
        return f"({measure.target.text}; set for {', '.join(measure.target.tiers)})"
    return measure.target.text


def _ratio_text(measure: Measure) -> str:
    if measure.target is None or measure.target.rule in (Rule.AT_MOST, Rule.AT_LEAST):
        ratios = measure.ratios()
        return _spread(ratios, "x") + " ×" if ratios and measure.floors() else "–"
    if measure.target.rule is Rule.FLOOR_PLUS_AT_MOST:
        differences = [s.figure - s.floor for s in measure.samples if not math.isnan(s.floor)]
        return ("+" + _spread(differences, "ms") + " ms") if differences else "–"
    ratios = measure.ratios()
    return _spread(ratios, "x") + " ×" if ratios else "–"


MEASURE_ORDER = (
    "import_seconds",
    "import_peak_rss",
    "import_check",
    "import_orders_match",
    "search_rare_speedup",
    "search_rare_p95",
    "search_common_p95",
    "deep_paging",
    "data_layer_overhead",
    "ui_search",
    "ui_add",
    "ui_throughput",
    "place_order_p95",
    "orders_per_second",
    "order_anomalies",
    "ui_many_users",
    "ui_many_users_errors",
    "memory_per_session",
    "memory_growth",
)


def _position(measure: Measure) -> int:
    return MEASURE_ORDER.index(measure.key) if measure.key in MEASURE_ORDER else len(MEASURE_ORDER)


def render_run(run: dict) -> list[str]:
    """Render one tier and engine: its context line and a table of every measure."""
    lines = [
        f"### {run['tier']} on {ENGINE_NAMES.get(run['engine'], run['engine'])}",
        "",
    ]
    if run.get("unavailable"):
        return [*lines, f"Not available yet: {run['unavailable']}", ""]
    counts = run.get("counts", {})
    lines.append(
        f"Run {run['date']} by `{run['command']}` on app commit {run['app_revision']}; "
        f"repetitions: {run['repeat']}; load average (1, 5, 15 min) {run['load_before']} before, "
        f"{run['load_after']} after."
    )
    for earlier in run.get("earlier", []):
        lines.append(
            f"Measures this command did not run are from {earlier['date']}, `{earlier['command']}` on app commit "
            f"{earlier['app_revision']}; load average {earlier['load_before']} before, {earlier['load_after']} after."
        )
    if counts:
        lines.append(
            "Data: " + ", ".join(f"{value:,} {name.replace('_', ' ')}" for name, value in counts.items()) + "."
        )
    lines += [
        "",
        "| measure | target | figure (min / median / max) | floor | ratio to floor | met? |",
        "|---|---|---|---|---|---|",
    ]
    notes = []
    for measure in sorted(run["measures"], key=_position):
        unit = "" if measure.unit == "count" else " " + measure.unit
        figure = f"{measure.figure_label} {_spread(measure.figures(), measure.unit)}{unit}"
        floor = (
            f"{measure.floor_label} {_spread(measure.floors(), measure.unit)} {measure.unit}"
            if measure.floors()
            else "–"
        )
        if measure.error and not measure.samples:
            figure = f"failed: {measure.error}"
        elif measure.error:
            notes.append(f"- {measure.title}: a repetition failed: {measure.error}.")
        lines.append(
            f"| {measure.title} | {_target_text(measure)} | {figure} | {floor} | {_ratio_text(measure)} | "
            f"{_verdict(measure)} |"
        )
        if measure.note:
            notes.append(f"- {measure.title}: {measure.note}.")
    return [*lines, "", *notes, ""]


def render(runs: list[dict], machine: dict[str, str]) -> str:
    """Render docs/benchmarks.md from the stored runs and the hand-written analysis."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `python -m bench` (see `bench/__main__.py`); `make bench TIER=large` runs one tier.",
        "Every target is judged on the median of the repetitions, and every ratio is taken against a",
        "floor measured in the same repetition on the same machine: the hello page served by a second",
        "`streamlit run` process for the Streamlit measures, the raw driver or a scan for the data",
        "measures. Figures are milliseconds unless the row says otherwise.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in machine.items()),
        "",
        "The load averages beside each table show how busy the machine was during that run.",
        "Absolute figures vary with that load, so the ratios are the figures to compare.",
        "",
        "## Summary",
        "",
        "| tier | engine | targets met | targets missed | not run |",
        "|---|---|---|---|---|",
    ]
    for run in runs:
        if run.get("unavailable"):
            lines.append(
                f"| {run['tier']} | {ENGINE_NAMES.get(run['engine'], run['engine'])} | – | – | not available yet |"
            )
            continue
        verdicts = [measure.met() for measure in run["measures"] if measure.applies()]
        failed = sum(1 for measure in run["measures"] if measure.error and not measure.samples)
        lines.append(
            f"| {run['tier']} | {ENGINE_NAMES.get(run['engine'], run['engine'])} | {verdicts.count(True)} | "
            f"{verdicts.count(False)} | {failed} |"
        )
    lines += ["", "## Results", ""]
    for run in runs:
        lines += render_run(run)
    if ANALYSIS_FILE.exists():
        lines += ["", ANALYSIS_FILE.read_text().strip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(output: Path, results_dir: Path, machine: dict[str, str]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(load_runs(results_dir), machine))


def unavailable_run(tier: str, engine: str, reason: str) -> dict:
    return {"tier": tier, "engine": engine, "unavailable": reason, "measures": []}


def run_record(
    tier: str,
    engine: str,
    command: str,
    app_dir: Path,
    repeat: int,
    counts: dict,
    load_before: str,
    measures: list[Measure],
) -> dict:
    return {
        "run_id": RUN_ID,
        "tier": tier,
        "engine": engine,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "app_revision": app_revision(app_dir),
        "repeat": repeat,
        "counts": counts,
        "load_before": load_before,
        "load_after": load_average(),
        "measures": [measure_to_json(measure) for measure in measures],
    }
