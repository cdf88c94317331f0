"""The soak test: `make soak` (or `python -m reliability.soak`).

The load test's steady open-schedule load (reliability/loadtest.py), for ten minutes at 20
requests/s by default, on a fresh local cloud whose shadow draws every request, while a canary
shift runs through its steps: a second model is published and `modelctl shift` moves the live alias
to it step by step with its gates evaluated after each bake, exactly as an operator would run it.

Counted, as in the load test (reliability/accounting.py): requests lost (must be 0); every answered
request in the prediction log or the recorder's DLQ, and every request the shadow drew
(`ShadowSampled`) scored or in a DLQ (unaccounted must be 0 for both). Measured: the resident
memory (VmRSS) of every long-lived process at the start and the end of the load: the local cloud's
own process (gateway, Lambda front, event-source pollers, log subscriptions, metrics and alarms are
threads in it), moto, the guardian and every function worker (the recorder's among them). A
process that was there at both ends may not grow by more than `RSS_GROWTH_BOUND` (a fraction of its
start) plus `RSS_GROWTH_SLACK_MB`; moto is bounded apart, by what it stores: it keeps every object
written to S3 in memory, as S3 would keep them on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud import guardian
from localcloud.cloud import REPO_ROOT, LocalCloud, LocalCloudSettings
from reliability.loadtest import LoadSettings, accounted, measure, prepare_shadow

RESULTS = Path(__file__).resolve().parent / "soak.json"
RSS_GROWTH_BOUND = 0.25
RSS_GROWTH_SLACK_MB = 32.0
MOTO_GROWTH_PER_STORED_MB = 4.0  # moto's in-memory S3 and SQS bookkeeping per MB of objects it holds
SHIFT_STEPS = "10,25,50,100"
SHIFT_BAKE = "90s"
SHIFT_GATES = (
    "--poll", "2",
    "--gate-period", "10",
    "--gate-evaluation-periods", "1",
    "--gate-p99-ms", "10000",
    "--gate-internal-errors", "3",
    "--gate-errors", "3",
)  # fmt: skip


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def long_lived_processes(cloud: LocalCloud) -> dict[str, int]:
    """Name -> pid of every process that lives as long as the cloud (workers: while they are warm)."""
    assert cloud.moto is not None and cloud.runtime is not None
    processes = {
        "local cloud (gateway, Lambda front, pollers, log subscriptions, metrics)": os.getpid(),
        "moto": cloud.moto.process.pid,
    }
    guardian_pid = guardian.guardian_pid()
    if guardian_pid is not None:
        processes["guardian"] = guardian_pid
    for pool in cloud.runtime.pools():
        for pid in pool.worker_pids():
            processes[f"worker {pool.spec.label} pid {pid}"] = pid
    return processes


def memory(cloud: LocalCloud) -> dict[str, float]:
    return {
        name: round(rss, 1)
        for name, pid in long_lived_processes(cloud).items()
        if (rss := rss_mb(pid)) is not None
    }


def thread_kinds() -> dict[str, int]:
    """Threads of this process by kind: their names with the numbers (ports, pids) taken out, so a
    thread that leaks shows as a kind that grows faster than the workers."""
    kinds = Counter(re.sub(r"\d+", "N", thread.name) for thread in threading.enumerate())
    return dict(sorted(kinds.items()))


def stored_mb(cloud: LocalCloud) -> float:
    """Megabytes of objects in the stacks' buckets (what moto holds in memory for S3)."""
    assert cloud.clients is not None and cloud.deployment is not None
    total = 0
    for bucket in cloud.deployment.of_type("AWS::S3::Bucket"):
        for page in cloud.clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket.physical_id):
            total += sum(int(item["Size"]) for item in page.get("Contents", []))
    return total / 1024 / 1024


def growth_verdicts(start: dict[str, float], end: dict[str, float], stored_growth_mb: float) -> list[str]:
    """One line per process over its bound (empty: every process within its bound)."""
    over = []
    for name, before in start.items():
        after = end.get(name)
        if after is None:
            continue
        if name == "moto":
            bound = (
                before * RSS_GROWTH_BOUND + RSS_GROWTH_SLACK_MB + MOTO_GROWTH_PER_STORED_MB * stored_growth_mb
            )
        else:
            bound = before * RSS_GROWTH_BOUND + RSS_GROWTH_SLACK_MB
        if after - before > bound:
            over.append(f"{name}: {before:.1f} -> {after:.1f} MB, bound +{bound:.1f} MB")
    return over


@dataclass
class Shift:
    """`modelctl publish` of a second model, then `modelctl shift` through its steps, in a thread."""

    cloud: LocalCloud
    candidate: Path
    delay_s: float
    log: list[str] = field(default_factory=list)
    exit_codes: dict[str, int] = field(default_factory=dict)
    version: str | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="soak-shift", daemon=True)
        self.thread.start()

    def join(self, timeout_s: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout_s)

    def _modelctl(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            **self.cloud.environment(),
            "MODELCTL_LOCAL_DEPLOYMENT": str(self.cloud.settings.state_dir / "deployment.json"),
        }
        began = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "modelctl.cli", *args],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        self.exit_codes[name] = result.returncode
        self.log.append(
            f"modelctl {' '.join(args)}: exit {result.returncode} after {time.monotonic() - began:.0f} s"
        )
        return result

    def _run(self) -> None:
        time.sleep(self.delay_s)
        published = self._modelctl("publish", "publish", str(self.candidate), "--reason", "soak: candidate")
        if published.returncode != 0:
            self.log.append(published.stderr[-2000:])
            return
        self.version = published.stdout.strip().splitlines()[-1]
        shifted = self._modelctl(
            "shift",
            "shift", self.version, "--steps", SHIFT_STEPS, "--bake", SHIFT_BAKE, "--reason", "soak",
            *SHIFT_GATES,
        )  # fmt: skip
        if shifted.returncode != 0:
            self.log.append(shifted.stdout[-2000:] + shifted.stderr[-2000:])


def train_candidate(root: Path) -> Path:
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    return train_model(load_builtin(), build_pipeline("random_forest"), output_root=root).artifact_dir


def soak(cloud: LocalCloud, candidate: Path, settings: LoadSettings, shift_delay_s: float) -> dict[str, Any]:
    rows = prepare_shadow(cloud)
    memory_start = memory(cloud)
    threads_start = thread_kinds()
    stored_start = stored_mb(cloud)
    shift = Shift(cloud, candidate, delay_s=shift_delay_s)
    shift.start()
    figures = measure(cloud, rows, settings)
    shift.join(timeout_s=600)
    memory_end = memory(cloud)
    stored_growth = stored_mb(cloud) - stored_start
    assert cloud.clients is not None
    function, alias = cloud.serving_function()
    routing = cloud.clients.lambda_.get_alias(FunctionName=function, Name=alias)
    figures["shift"] = {
        "version": shift.version,
        "steps": SHIFT_STEPS,
        "bake": SHIFT_BAKE,
        "exit_codes": shift.exit_codes,
        "log": shift.log,
        "alias_after": {
            "FunctionVersion": routing["FunctionVersion"],
            "AdditionalVersionWeights": routing.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}),
        },
    }
    figures["memory_mb"] = {"start": memory_start, "end": memory_end}
    figures["local_cloud_threads"] = {"start": threads_start, "end": thread_kinds()}
    figures["stored_growth_mb"] = round(stored_growth, 1)
    figures["memory_bound"] = {
        "growth_fraction": RSS_GROWTH_BOUND,
        "slack_mb": RSS_GROWTH_SLACK_MB,
        "moto_per_stored_mb": MOTO_GROWTH_PER_STORED_MB,
    }
    figures["memory_over_bound"] = growth_verdicts(memory_start, memory_end, stored_growth)
    return figures


def render(figures: dict[str, Any]) -> str:
    from reliability.loadtest import render as render_load

    lines = [
        render_load(figures),
        f"  shift      {figures['shift']['log']}",
        "  memory (RSS, MB, start -> end)",
    ]
    start, end = figures["memory_mb"]["start"], figures["memory_mb"]["end"]
    for name in sorted(set(start) | set(end)):
        lines.append(f"    {name:60} {start.get(name, '-'):>8} -> {end.get(name, '-'):>8}")
    over = figures["memory_over_bound"] or "none"
    threads = figures["local_cloud_threads"]
    totals = {moment: sum(threads[moment].values()) for moment in ("start", "end")}
    lines.append(f"  threads in the local cloud's process: {totals['start']} -> {totals['end']}")
    for kind in sorted(set(threads["start"]) | set(threads["end"])):
        lines.append(f"    {kind:60} {threads['start'].get(kind, 0):>8} -> {threads['end'].get(kind, 0):>8}")
    lines.append(f"  S3 objects grew by {figures['stored_growth_mb']} MB; over bound: {over}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="soak: steady load, shadow on, a canary shift running")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second, all clients together")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--shift-after", type=float, default=30.0, help="seconds of load before the shift starts"
    )
    parser.add_argument("--cdk-out", type=Path, default=REPO_ROOT / "cdk.out")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the figures")
    args = parser.parse_args(argv)
    settings = LoadSettings(seconds=args.seconds, rate=args.rate, clients=args.clients)
    with tempfile.TemporaryDirectory(prefix="soak-") as work:
        candidate = train_candidate(Path(work) / "candidate")
        cloud_settings = LocalCloudSettings(
            state_dir=Path(work) / "cloud", cdk_out=args.cdk_out, resume=False
        )
        with LocalCloud(cloud_settings) as cloud:
            figures = soak(cloud, candidate, settings, args.shift_after)
    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    figures["machine"] = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    print(render(figures))
    args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    ok = (
        accounted(figures)
        and not figures["memory_over_bound"]
        and figures["shift"]["exit_codes"].get("shift") == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
