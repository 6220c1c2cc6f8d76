"""`python -m bench`: run the benchmark suite on one tier and write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench import measures_data, measures_import, measures_orders, measures_ui, report, workloads

log = logging.getLogger("bench")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = PROJECT_ROOT / "docs" / "benchmarks.md"
DEFAULT_RESULTS = Path(__file__).resolve().parent / "results"
POSTGRESQL_URL_VARIABLE = "BENCH_POSTGRESQL_URL"
GROUPS = ("import", "data", "orders", "ui", "users")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--tier", choices=workloads.TIERS, default="demo", help="workload to run on (default: demo)")
    parser.add_argument(
        "--engine",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help="database engine; 'both' runs PostgreSQL only when a URL is configured (default: both)",
    )
    parser.add_argument(
        "--postgresql-url",
        default=os.environ.get(POSTGRESQL_URL_VARIABLE),
        help=f"PostgreSQL database the suite may drop and recreate (default: ${POSTGRESQL_URL_VARIABLE})",
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each measure (default: 3)")
    parser.add_argument("--output", type=Path, help=f"Markdown file to write (default: {DEFAULT_OUTPUT})")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="demo tier, tiny counts, one repetition: checks that the suite runs; its timings mean nothing",
    )
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help="comma-separated measure groups to run (default: all): import (the history import's time, memory "
        "and result; retail tier on SQLite only), data (search, paging, overhead), orders, "
        "ui (Products page reruns, throughput, memory growth), users (many users, memory per session); "
        "results of groups not run are kept from the earlier run",
    )
    parser.add_argument(
        "--portal-option",
        action="append",
        default=[],
        metavar="--section.option=value",
        help="extra `streamlit run` option for the portal process only, to measure a configuration change; "
        "join it with '=', as in --portal-option=--runner.postScriptGC=false, because argparse reads a "
        "separate value that starts with -- as an option of its own",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite the output from the results stored by earlier runs",
    )
    parser.add_argument("--growth-reruns", type=int, help="reruns of the memory growth measure (default: 10,000)")
    parser.add_argument("--users", type=int, help="simulated users of the many-users measure (default: 200)")
    parser.add_argument("--work-dir", type=Path, help="folder for databases and server logs (default: a temp folder)")
    return parser.parse_args(argv)


def _engines(arguments: argparse.Namespace) -> list[str]:
    if arguments.engine == "sqlite":
        return ["sqlite"]
    if arguments.engine == "postgresql":
        if not arguments.postgresql_url:
            raise SystemExit(f"--engine postgresql needs --postgresql-url or ${POSTGRESQL_URL_VARIABLE}.")
        return ["postgresql"]
    if not arguments.postgresql_url:
        print(f"PostgreSQL not configured (--postgresql-url or ${POSTGRESQL_URL_VARIABLE}): running SQLite only.")
        return ["sqlite"]
    return ["sqlite", "postgresql"]


def _settings(arguments: argparse.Namespace):
    data, orders, ui = measures_data.Settings(), measures_orders.Settings(), measures_ui.Settings()
    if arguments.smoke:
        data = measures_data.Settings(search_calls=3, paging_calls=3, overhead_calls=3, scan_calls=2)
        orders = measures_orders.Settings(single_orders=3, clients=2, orders_per_client=2)
        ui = measures_ui.Settings(
            reruns=3,
            throughput_clients=2,
            throughput_seconds=1.0,
            users=4,
            users_seconds=3.0,
            idle_sessions=2,
            growth_warmup=4,
            growth_reruns=10,
            growth_clients=2,
        )
    if arguments.growth_reruns:
        ui.growth_reruns = arguments.growth_reruns
    if arguments.users:
        ui.users = arguments.users
    return data, orders, ui


def _workload(tier: str, engine: str, arguments: argparse.Namespace, work_dir: Path) -> workloads.Workload:
    if engine == "sqlite":
        return workloads.sqlite_workload(tier, work_dir, PROJECT_ROOT)
    return workloads.postgresql_workload(tier, arguments.postgresql_url, PROJECT_ROOT)


def _run_engine(
    tier: str,
    engine: str,
    arguments: argparse.Namespace,
    work_dir: Path,
    groups: set[str],
    repeat: int,
    results_dir: Path,
) -> None:
    """Prepare the workload, run the chosen measure groups on one engine and store the results."""
    command = "python -m bench " + shlex.join(sys.argv[1:])
    load_before = report.load_average()
    data_settings, order_settings, ui_settings = _settings(arguments)
    started = time.monotonic()
    workload = _workload(tier, engine, arguments, work_dir)
    log.info("%s/%s: workload ready in %.0f s: %s", tier, engine, time.monotonic() - started, workload.counts)

    measures = []

    def save() -> None:
        # Stored after every group, so an interrupted run keeps the groups it finished.
        record = report.run_record(tier, engine, command, PROJECT_ROOT, repeat, workload.counts, load_before, measures)
        report.save_run(results_dir, tier, engine, record)

    if "import" in groups and tier == "retail":
        if engine == "sqlite":
            measures += measures_import.run_import_measures(
                tier, engine, PROJECT_ROOT, work_dir / engine, repeat, workloads.RETAIL_CSV
            )
            save()
        else:
            log.info("%s/%s: the history import is measured on SQLite only", tier, engine)
    if "data" in groups:
        measures += measures_data.run_data_measures(workload, repeat, data_settings)
        save()
    if "orders" in groups:
        measures += measures_orders.run_order_measures(workload, repeat, order_settings)
        save()
    if groups & {"ui", "users"}:
        measures += measures_ui.run_ui_measures(
            workload, PROJECT_ROOT, work_dir / engine, repeat, ui_settings, arguments.portal_option, groups
        )
        save()


def main(argv: list[str] | None = None) -> int:
    """Run the suite; return the process exit code (0 even when targets are missed)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # A plain SIGTERM would skip the cleanup that stops the streamlit servers and removes the work folder.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    arguments = _parse(argv)
    tier = "demo" if arguments.smoke else arguments.tier
    repeat = 1 if arguments.smoke else max(arguments.repeat, 1)
    groups = {group.strip() for group in arguments.only.split(",") if group.strip()}
    unknown = groups - set(GROUPS)
    if unknown:
        raise SystemExit(f"--only: unknown group(s) {', '.join(sorted(unknown))}; choose from {', '.join(GROUPS)}.")

    if arguments.smoke:
        output = arguments.output or Path(tempfile.gettempdir()) / "bench-smoke" / "benchmarks.md"
    else:
        output = arguments.output or DEFAULT_OUTPUT
    # Stored results feed the committed page; a smoke run or another output keeps its own.
    results_dir = DEFAULT_RESULTS if output.resolve() == DEFAULT_OUTPUT else output.parent / (output.stem + "-results")

    if arguments.report_only:
        report.write_report(output, results_dir, report.machine_info(arguments.postgresql_url))
        print(f"Wrote {output}")
        return 0

    work_dir = arguments.work_dir or Path(tempfile.mkdtemp(prefix="bench-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        for engine in _engines(arguments):
            if tier == "retail" and not workloads.retail_available(PROJECT_ROOT):
                reason = "the history importer (portal/history.py) or the Online Retail file is missing"
                log.warning("retail tier: %s", reason)
                report.save_run(results_dir, tier, engine, report.unavailable_run(tier, engine, reason))
                continue
            _run_engine(tier, engine, arguments, work_dir, groups, repeat, results_dir)
        report.write_report(output, results_dir, report.machine_info(arguments.postgresql_url))
    finally:
        if arguments.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    print(f"Wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
