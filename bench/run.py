"""`python -m bench.run [--quick] [--only NAME ...]`: run the benchmarks, print one table, and write
the same figures to bench/results.json (benchmarks not run keep their previous entry).

A benchmark that fails is reported as an error row and the others still run; a benchmark whose
feature has not landed yet is a skipped row that says what is missing. Timings are printed and
recorded, never asserted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.core import (
    REPO_ROOT,
    RESULTS_FILE,
    BenchResult,
    log,
    machine_info,
    now_iso,
    read_results,
    results_document,
    write_results,
)
from bench.report import build_table
from bench.suite import Suite

# Run order: in-process first (a quiet process), then subprocess-based, then the local cloud's.
BENCHMARKS: dict[str, str] = {
    "warm_handler": "bench.warm_handler",
    "warm_handler_batch": "bench.warm_handler_batch",
    "warm_handler_batch_1000": "bench.warm_handler_batch_1000",
    "handler_compare": "bench.handler_compare",
    "warm_handler_regression": "bench.warm_handler_regression",
    "cold_start": "bench.cold_start",
    "bundle_size": "bench.bundle_size",
    "shadow_report": "bench.shadow_report_throughput",
    "gateway": "bench.gateway",
    "rollback": "bench.rollback",
    "recording": "bench.recording_cost",
    "quality_gate": "bench.quality_gate",
}


def git_state() -> dict[str, Any]:
    """The commit measured and whether the measured code had uncommitted changes (read-only git)."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", "--no-optional-locks", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.rstrip("\n") if result.returncode == 0 else ""

    measured = ("functions", "infra", "localcloud", "modelctl", "release", "retrain")
    dirty = git("status", "--porcelain", "--", *measured)
    return {"commit": git("rev-parse", "HEAD").strip(), "uncommitted_changes": dirty.splitlines()[:40]}


def run_one(name: str, suite: Suite) -> BenchResult:
    module = importlib.import_module(BENCHMARKS[name])
    title = str(getattr(module, "TITLE", name))
    started = time.monotonic()
    log(f"{name}: start")
    try:
        runner: Callable[[Suite], BenchResult] = module.run
        result = runner(suite)
    except Exception as exc:
        log(f"{name}: error\n{traceback.format_exc()}")
        return BenchResult(
            name=name,
            title=title,
            status="error",
            reason=f"{type(exc).__name__}: {str(exc)[-600:]}",
            wall_s=time.monotonic() - started,
            measured_at=now_iso(),
            quick=suite.quick,
        )
    log(f"{name}: {result.status} in {time.monotonic() - started:.1f} s")
    return BenchResult(
        name=result.name,
        title=result.title,
        status=result.status,
        measurements=result.measurements,
        reason=result.reason,
        details=result.details,
        wall_s=time.monotonic() - started,
        measured_at=result.measured_at or now_iso(),
        quick=suite.quick,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Run the benchmarks, print one table, write bench/results.json.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples and shorter load: a smoke run")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME", help="run only these"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_FILE, help="results file (default bench/results.json)"
    )
    parser.add_argument("--no-write", action="store_true", help="print the table, write nothing")
    args = parser.parse_args(argv)

    names = [name for name in BENCHMARKS if not args.only or name in args.only]
    machine = {**machine_info(), "git": git_state()}
    suite = Suite(quick=args.quick)
    started = time.monotonic()
    results: list[BenchResult] = []
    try:
        for name in names:
            results.append(run_one(name, suite))
    finally:
        suite.cloud.close()
    machine["suite_wall_s"] = round(time.monotonic() - started, 1)
    machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    console = Console(width=max(Console().width, 200))
    console.print(build_table(results, machine))
    if not args.no_write:
        command = "python -m bench.run" + (" --quick" if args.quick else "")
        command += (" --only " + " ".join(args.only)) if args.only else ""
        previous = read_results(args.out)
        if previous is not None:  # entries of benchmarks the suite no longer has are dropped
            kept = [entry for entry in previous.get("benchmarks", []) if entry.get("name") in BENCHMARKS]
            previous = {**previous, "benchmarks": kept}
        document = results_document(machine, results, previous=previous, command=command)
        write_results(args.out, document)
        log(f"wrote {args.out}")
    return 1 if any(r.status == "error" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
