"""The suite's vocabulary: timing side by side, summaries, results and their JSON form.

Timings are taken per call with `time.perf_counter_ns`. Candidates (ours and the baselines) are
measured in interleaved blocks: every round runs a block of calls of each candidate, in a shuffled
order, so a noisy neighbour slows all of them alike instead of whichever happened to run then.
Medians and nearest-rank p99 come from all samples of a candidate; ratios compare medians taken
in the same run.
"""

from __future__ import annotations

import datetime
import gc
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = REPO_ROOT / "bench" / "results.json"
RATIO_DEFINITION = "baseline median / ours median: above 1 means ours is faster (or smaller)"

Status = Literal["ok", "skipped", "error"]
STATUSES: tuple[Status, ...] = ("ok", "skipped", "error")


# -- statistics ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of unsorted values: always one observed value."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


@dataclass(frozen=True)
class Summary:
    samples: int
    median: float
    p99: float
    minimum: float
    maximum: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(
            samples=len(values),
            median=float(statistics.median(values)),
            p99=percentile(values, 99),
            minimum=float(min(values)),
            maximum=float(max(values)),
        )


# -- side-by-side timing ---------------------------------------------------------------------------


@dataclass
class Candidate:
    """One thing to time. `enter`/`exit` run around each block (e.g. to patch and unpatch)."""

    name: str
    call: Callable[[], object]
    enter: Callable[[], None] | None = None
    exit: Callable[[], None] | None = None


@dataclass
class Timings:
    name: str
    samples_ns: list[int] = field(default_factory=list)
    round_medians_ns: list[float] = field(default_factory=list)
    block_cpu_ns_per_call: list[float] = field(default_factory=list)  # this thread's CPU time

    def summary(self, scale: float = 1e-3) -> Summary:
        """Summary in `scale` units of nanoseconds (default: microseconds)."""
        return Summary.of([s * scale for s in self.samples_ns])

    def cpu_median(self, scale: float = 1e-3) -> float:
        """Median over blocks of CPU time per call: the cost without preemption by other processes."""
        return float(statistics.median(self.block_cpu_ns_per_call)) * scale

    def round_spread(self, scale: float = 1e-3) -> tuple[float, float]:
        """Lowest and highest per-round median: how much the machine moved during the run."""
        return min(self.round_medians_ns) * scale, max(self.round_medians_ns) * scale


@dataclass(frozen=True)
class PairedDelta:
    """Per-round differences of medians (a - b): rounds run side by side, so the difference taken
    within a round cancels most of the machine's drift. `low`/`high` are its quartiles."""

    median: float
    low: float
    high: float

    def text(self, unit: str) -> str:
        return f"{self.median:+.0f} {unit} (IQR {self.low:+.0f}..{self.high:+.0f})"


def paired_delta(a: Timings, b: Timings, scale: float = 1e-3) -> PairedDelta:
    deltas = [(x - y) * scale for x, y in zip(a.round_medians_ns, b.round_medians_ns, strict=True)]
    return PairedDelta(
        median=float(statistics.median(deltas)), low=percentile(deltas, 25), high=percentile(deltas, 75)
    )


def _run_block(candidate: Candidate, calls: int, sink: list[int]) -> float:
    """Time `calls` calls into `sink`; return the thread CPU time per call over the block."""
    call = candidate.call
    clock = time.perf_counter_ns
    if candidate.enter is not None:
        candidate.enter()
    try:
        cpu_started = time.thread_time_ns()
        for _ in range(calls):
            started = clock()
            call()
            sink.append(clock() - started)
        cpu = time.thread_time_ns() - cpu_started
    finally:
        if candidate.exit is not None:
            candidate.exit()
    return cpu / max(calls, 1)


def time_interleaved(
    candidates: Sequence[Candidate],
    *,
    rounds: int,
    block: int,
    warmup: int = 200,
    seed: int = 7,
) -> dict[str, Timings]:
    """Warm every candidate up, then `rounds` rounds of one `block` of calls per candidate, in a
    shuffled order each round. The garbage collector stays on: it runs in production too."""
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise ValueError(f"candidate names must be unique: {names}")
    for candidate in candidates:
        _run_block(candidate, warmup, [])
    gc.collect()
    order = list(candidates)
    rng = random.Random(seed)
    timings = {c.name: Timings(c.name) for c in candidates}
    for _ in range(rounds):
        rng.shuffle(order)
        for candidate in order:
            block_samples: list[int] = []
            cpu_per_call = _run_block(candidate, block, block_samples)
            entry = timings[candidate.name]
            entry.samples_ns.extend(block_samples)
            entry.round_medians_ns.append(float(statistics.median(block_samples)))
            entry.block_cpu_ns_per_call.append(cpu_per_call)
    return timings


# -- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    name: str
    median: float
    unit: str
    ratio: float  # baseline median / ours median (see RATIO_DEFINITION)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "median": self.median, "unit": self.unit, "ratio": self.ratio}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Baseline:
        return cls(str(data["name"]), float(data["median"]), str(data["unit"]), float(data["ratio"]))


def baseline(name: str, baseline_median: float, ours_median: float, unit: str) -> Baseline:
    ratio = baseline_median / ours_median if ours_median > 0 else math.inf
    return Baseline(name=name, median=baseline_median, unit=unit, ratio=ratio)


@dataclass(frozen=True)
class Target:
    text: str
    met: bool | None  # None: nothing to judge (the measurement is missing)
    failed: tuple[str, ...] = ()  # which parts of the target were missed

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "met": self.met, "failed": list(self.failed)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        met = data.get("met")
        return cls(str(data["text"]), None if met is None else bool(met), tuple(data.get("failed", ())))


def judge(text: str, checks: Iterable[tuple[str, bool]]) -> Target:
    """A target made of named checks: met when all pass; `failed` names the ones that did not."""
    failed = tuple(name for name, passed in checks if not passed)
    return Target(text=text, met=not failed, failed=failed)


@dataclass(frozen=True)
class Measurement:
    key: str  # stable identifier within its benchmark
    what: str  # label for the table
    unit: str  # us, ms, MB, req/s, records/s
    samples: int
    median: float | None
    p99: float | None = None
    baselines: tuple[Baseline, ...] = ()
    target: Target | None = None
    level: int = 0  # 0: a headline figure; 1: part of a breakdown
    note: str = ""  # shown in the baseline column for breakdown rows (e.g. "-180 us vs full handler")
    extra: Mapping[str, float | int | str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "what": self.what,
            "unit": self.unit,
            "samples": self.samples,
            "median": self.median,
            "p99": self.p99,
            "baselines": [b.to_dict() for b in self.baselines],
            "target": self.target.to_dict() if self.target is not None else None,
            "level": self.level,
            "note": self.note,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        target = data.get("target")
        return cls(
            key=str(data["key"]),
            what=str(data["what"]),
            unit=str(data["unit"]),
            samples=int(data["samples"]),
            median=None if data.get("median") is None else float(data["median"]),
            p99=None if data.get("p99") is None else float(data["p99"]),
            baselines=tuple(Baseline.from_dict(b) for b in data.get("baselines", ())),
            target=Target.from_dict(target) if target is not None else None,
            level=int(data.get("level", 0)),
            note=str(data.get("note", "")),
            extra=dict(data.get("extra", {})),
        )


@dataclass(frozen=True)
class BenchResult:
    name: str
    title: str
    status: Status
    measurements: tuple[Measurement, ...] = ()
    reason: str = ""  # why skipped or failed
    details: Mapping[str, Any] = field(default_factory=dict)  # anything else worth keeping
    wall_s: float = 0.0
    measured_at: str = ""
    quick: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "measured_at": self.measured_at,
            "quick": self.quick,
            "wall_s": round(self.wall_s, 2),
            "measurements": [m.to_dict() for m in self.measurements],
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchResult:
        status = str(data["status"])
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return cls(
            name=str(data["name"]),
            title=str(data["title"]),
            status=status,
            measurements=tuple(Measurement.from_dict(m) for m in data.get("measurements", ())),
            reason=str(data.get("reason", "")),
            details=dict(data.get("details", {})),
            wall_s=float(data.get("wall_s", 0.0)),
            measured_at=str(data.get("measured_at", "")),
            quick=bool(data.get("quick", False)),
        )


def skipped(name: str, title: str, reason: str) -> BenchResult:
    return BenchResult(name=name, title=title, status="skipped", reason=reason)


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


# -- the machine -----------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version_of(distribution: str) -> str:
    try:
        return package_version(distribution)
    except PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "architecture": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "onnxruntime": _version_of("onnxruntime"),
        "numpy": _version_of("numpy"),
        "scikit-learn": _version_of("scikit-learn"),
        "aws-lambda-powertools": _version_of("aws-lambda-powertools"),
        "loadavg_at_start": [round(x, 2) for x in load],
        "date": now_iso(),
    }


# -- results.json ----------------------------------------------------------------------------------


def results_document(
    machine: Mapping[str, Any],
    results: Sequence[BenchResult],
    *,
    previous: Mapping[str, Any] | None = None,
    command: str = "",
) -> dict[str, Any]:
    """The results file's content. Benchmarks not run this time keep their previous entry (each
    entry carries its own `measured_at`), so `--only` refreshes part of the file."""
    by_name: dict[str, dict[str, Any]] = {}
    if previous is not None and previous.get("schema_version") == SCHEMA_VERSION:
        for entry in previous.get("benchmarks", []):
            by_name[str(entry["name"])] = dict(entry)
    for result in results:
        by_name[result.name] = result.to_dict()
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": now_iso(),
        "command": command,
        "ratio_definition": RATIO_DEFINITION,
        "machine": dict(machine),
        "benchmarks": list(by_name.values()),
    }


def write_results(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".json.part")
    staging.write_text(json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n")
    staging.replace(path)


def read_results(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def validate_results(document: Mapping[str, Any]) -> list[str]:
    """Problems with a results document's shape (empty when it is well formed)."""
    problems: list[str] = []
    if document.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version is {document.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    machine = document.get("machine")
    if not isinstance(machine, dict):
        problems.append("machine is missing")
    else:
        for key in ("cpu_model", "cores", "python", "onnxruntime", "numpy", "date"):
            if key not in machine:
                problems.append(f"machine.{key} is missing")
    benchmarks = document.get("benchmarks")
    if not isinstance(benchmarks, list):
        return [*problems, "benchmarks is not a list"]
    for index, entry in enumerate(benchmarks):
        try:
            result = BenchResult.from_dict(entry)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"benchmarks[{index}] is malformed: {exc!r}")
            continue
        if result.status == "ok" and not result.measurements:
            problems.append(f"{result.name}: status ok but no measurements")
        if result.status != "ok" and not result.reason:
            problems.append(f"{result.name}: status {result.status} without a reason")
        for measurement in result.measurements:
            if measurement.median is not None and not math.isfinite(measurement.median):
                problems.append(f"{result.name}.{measurement.key}: median is not finite")
            if measurement.samples < 0:
                problems.append(f"{result.name}.{measurement.key}: negative sample count")
    return problems


def log(message: str) -> None:
    """Progress on stderr, so stdout carries only the table."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)
