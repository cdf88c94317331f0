"""Cold start: a fresh process from the built bundle to its first response, phase by phase.

The bundle is built for this machine (`infra.bundling.build_bundle_cached`, target
`BundleTarget.host()`, bytecode compiled by this interpreter as `infra.bundling.compile_bytecode`
does for any target it has an interpreter for), and each run is a fresh `python -I -S -B` whose
sys.path is the bundle, then the runtime-provided folder (`install_runtime_provided`), then the
standard library, as on Lambda. `-B` because Lambda's task root is read-only: nothing is written,
the bundled .pyc files are read. The runner timestamps each phase with `time.monotonic_ns()` (one
clock for every process on Linux), so the parent's spawn time and the child's timestamps line up:

  interpreter start  spawn -> first line of the runner (also measured alone: `-I -S -c pass`)
  numpy              import numpy
  onnxruntime        import onnxruntime
  handler init       import inference.handler minus the model load inside it (our code, the
                     standard library it needs; Powertools and the X-Ray SDK are not imported)
  session creation   OnnxModel.load (metadata, sha256, InferenceSession), timed by wrapping it
  first request      handler(event, context) on a real API event

"As shipped" rows: the bundle `make deploy` builds for the default runtime (cdk.json's
`serving.python_version`), for this machine's architecture (its native wheels must load here),
bytecode compiled or not exactly as the deploy's build decides (`infra.bundling.bytecode_interpreter`),
run by an interpreter of that version when this machine has one (else the row says why it is
missing); beside it the same bundle with its bytecode ignored, which is what a default whose
interpreter the build lacks ships.

A second variant ignores the bundled bytecode (`-X pycache_prefix` pointing at an empty folder,
with `-B`): every module compiled from source, what a bundle gets when it is built without an
interpreter of the target Python (see docs/performance.md). Runs of both variants alternate, after
one discarded warm-up each.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core import REPO_ROOT, BenchResult, Measurement, Summary, judge, log, now_iso
from bench.inprocess import function_environment, predict_event
from bench.model import served_artifact_dir
from bench.suite import Suite
from common.layout import METADATA_FILE

NAME = "cold_start"
TITLE = "cold start, fresh process from the bundle to its first response"
TARGET_MS = 300.0
BUNDLE_DIR = REPO_ROOT / ".build" / "bench" / "bundle-host"
SHIPPED_DIR = REPO_ROOT / ".build" / "bench" / "bundle-shipped"
MARK = "BENCH_COLD_START "

RUNNER = r"""
import time
T = {"start": time.monotonic_ns()}
import sys
sys.path[:0] = sys.argv[1:3]
import numpy
T["numpy"] = time.monotonic_ns()
import onnxruntime
T["onnxruntime"] = time.monotonic_ns()
import common.model.onnx_model
_load = common.model.onnx_model.OnnxModel.load.__func__
SESSION = [0]
def _timed_load(cls, *args, **kwargs):
    started = time.monotonic_ns()
    try:
        return _load(cls, *args, **kwargs)
    finally:
        SESSION[0] += time.monotonic_ns() - started
common.model.onnx_model.OnnxModel.load = classmethod(_timed_load)
import inference.handler as module
T["handler_init"] = time.monotonic_ns()
import json
class Context:
    function_name = "inference"
    function_version = "1"
    memory_limit_in_mb = 1024
    aws_request_id = "cold-start"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:inference:live"
    log_group_name = "/aws/lambda/inference"
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 15000
event = json.loads(sys.argv[3])
T["event_ready"] = time.monotonic_ns()
answer = module.handler(event, Context())
T["first_response"] = time.monotonic_ns()
bad = sorted({m.split(".")[0] for m in sys.modules} & {"sklearn", "scipy", "skl2onnx", "onnx"})
observability = sorted({m.split(".")[0] for m in sys.modules} & {"aws_lambda_powertools", "aws_xray_sdk"})
print("BENCH_COLD_START " + json.dumps({"t": T, "session_ns": SESSION[0], "status": answer["statusCode"],
      "training_modules": bad, "observability_modules": observability, "modules": len(sys.modules)}),
      flush=True)
"""

PHASES: tuple[tuple[str, str], ...] = (
    ("interpreter", "interpreter start (spawn to the runner's first line)"),
    ("numpy", "import numpy"),
    ("onnxruntime", "import onnxruntime"),
    ("handler_init", "handler module init, without the model load (no Powertools, no X-Ray SDK)"),
    ("session", "session creation (OnnxModel.load: metadata, sha256, InferenceSession)"),
    ("first_request", "first request (handler on a real API event)"),
)


def bundle_and_runtime() -> tuple[Path, Path]:
    from infra.bundling import BundleTarget, build_bundle_cached, install_runtime_provided

    target = BundleTarget.host()
    bundle = build_bundle_cached("inference", BUNDLE_DIR, target=target)
    return bundle, install_runtime_provided(target)


def shipped_target() -> tuple[Any, str | None]:
    """(the default deploy's target on this machine's architecture, an interpreter of its Python)."""
    from infra.bundling import BundleTarget, bytecode_interpreter

    default = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["serving"]["python_version"]
    target = BundleTarget(architecture=BundleTarget.host().architecture, python_version=default)
    return target, bytecode_interpreter(target)


def shipped_bundle(target: Any) -> tuple[Path, Path, bool]:
    """(bundle, runtime-provided folder, whether the bundle has bytecode) as the deploy builds it."""
    from infra.bundling import build_bundle_cached, bytecode_choice, install_runtime_provided

    bundle = build_bundle_cached("inference", SHIPPED_DIR / target.slug, target=target)
    return bundle, install_runtime_provided(target), bytecode_choice(target) != "none"


def one_run(
    bundle: Path,
    runtime: Path,
    env: dict[str, str],
    event: str,
    no_bytecode: Path | None,
    python: str = sys.executable,
) -> dict[str, float]:
    """One cold start; with `no_bytecode` (an empty folder) the bundled .pyc files are ignored."""
    ignore = ["-X", f"pycache_prefix={no_bytecode}"] if no_bytecode is not None else []
    command = [python, "-I", "-S", "-B", *ignore, "-c", RUNNER, str(bundle), str(runtime), event]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawned = time.monotonic_ns()
    result = subprocess.run(
        command, cwd=bundle, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    exited = time.monotonic_ns()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_ms = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARK)]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"cold-start runner failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    report: dict[str, Any] = json.loads(lines[-1][len(MARK) :])
    if report["status"] != 200:
        raise RuntimeError(f"the first request answered {report['status']}")
    if report["training_modules"]:
        raise RuntimeError(f"training libraries imported at serving time: {report['training_modules']}")
    if report["observability_modules"]:
        raise RuntimeError(f"the hot path imported {report['observability_modules']}: not what ships")
    t: dict[str, int] = report["t"]
    session_ms = report["session_ns"] / 1e6
    ms = 1e-6
    return {
        "interpreter": (t["start"] - spawned) * ms,
        "numpy": (t["numpy"] - t["start"]) * ms,
        "onnxruntime": (t["onnxruntime"] - t["numpy"]) * ms,
        "handler_init": (t["handler_init"] - t["onnxruntime"]) * ms - session_ms,
        "session": session_ms,
        "first_request": (t["first_response"] - t["event_ready"]) * ms,
        "total": (t["first_response"] - spawned) * ms,
        "process_exit": (exited - spawned) * ms,
        "cpu": cpu_ms,
        "modules": float(report["modules"]),
    }


def alternate(
    bundle: Path,
    runtime: Path,
    env: dict[str, str],
    event: str,
    runs: int,
    python: str = sys.executable,
    before_each: Callable[[], None] | None = None,
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """`runs` cold starts with the bundled bytecode and as many without it, alternating, after one
    discarded warm-up of each (the page cache); `before_each` runs before each pair."""
    with_bytecode: list[dict[str, float]] = []
    sources_only: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-no-bytecode-") as no_bytecode_dir:
        no_bytecode = Path(no_bytecode_dir)
        one_run(bundle, runtime, env, event, None, python)
        one_run(bundle, runtime, env, event, no_bytecode, python)
        for _ in range(runs):
            if before_each is not None:
                before_each()
            with_bytecode.append(one_run(bundle, runtime, env, event, None, python))
            sources_only.append(one_run(bundle, runtime, env, event, no_bytecode, python))
    return with_bytecode, sources_only


def timed(key: str, what: str, summary: Summary, **rest: Any) -> Measurement:
    """A row in milliseconds from the summary of its runs."""
    return Measurement(
        key=key, what=what, unit="ms", samples=summary.samples, median=summary.median, p99=summary.p99, **rest
    )


def cpu_median(runs: list[dict[str, float]]) -> float:
    return round(Summary.of([r["cpu"] for r in runs]).median, 1)


def bundle_path(bundle: Path) -> str:
    return str(bundle.relative_to(REPO_ROOT)) if bundle.is_relative_to(REPO_ROOT) else str(bundle)


def empty_interpreter(env: dict[str, str]) -> float:
    spawned = time.monotonic_ns()
    subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], env=env, check=True, timeout=60)
    return (time.monotonic_ns() - spawned) * 1e-6


def run(suite: Suite) -> BenchResult:
    quick = suite.quick
    started = time.monotonic()
    runs = 7 if quick else 9
    artifact = served_artifact_dir()
    bundle, runtime = bundle_and_runtime()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        **function_environment(artifact),
    }
    row = json.loads((artifact / METADATA_FILE).read_text())["sample_rows"][0]
    event = json.dumps(predict_event([row]))
    empty: list[float] = []
    log(f"{NAME}: {runs} runs x 2 variants (+1 warm-up each) from {bundle}")
    plain, sources_only = alternate(
        bundle, runtime, env, event, runs, before_each=lambda: empty.append(empty_interpreter(env))
    )
    total = Summary.of([r["total"] for r in plain])
    total_sources = Summary.of([r["total"] for r in sources_only])
    interpreter = Summary.of(empty)
    measurements = [
        timed(
            "total",
            "cold start to first response (bundled bytecode, as shipped)",
            total,
            target=judge(f"median <= {TARGET_MS:g} ms", [("median", total.median <= TARGET_MS)]),
            extra={
                "modules_loaded": plain[0]["modules"],
                "cpu_ms_median": cpu_median(plain),
                "cpu_ms_median_sources_only": cpu_median(sources_only),
            },
        ),
        *(
            timed(key, label, summary, level=1, note=f"{summary.median / total.median:.0%} of cold start")
            for key, label, summary in (
                ("empty_interpreter", "empty interpreter (python -I -S -c pass, spawn to exit)", interpreter),
                *((key, label, Summary.of([r[key] for r in plain])) for key, label in PHASES),
            )
        ),
        timed(
            "total_sources_only",
            "cold start without the bundled bytecode (compiled from source, as a bundle built "
            "without a target-version interpreter)",
            total_sources,
            level=1,
            note=f"adds {total_sources.median - total.median:.0f} ms vs bundled bytecode",
            extra={"cpu_ms_median": cpu_median(sources_only)},
        ),
    ]
    shipped, shipped_details = as_shipped(runs, env, event)
    measurements.extend(shipped)
    details = {
        "as_shipped": shipped_details,
        "runs": runs,
        "bundle": bundle_path(bundle),
        "python": f"{sys.version_info.major}.{sys.version_info.minor} (host; Lambda runs cdk.json's version)",
        "phases_ms_median_sources_only": {
            key: round(Summary.of([r[key] for r in sources_only]).median, 2) for key, _ in PHASES
        },
        "per_run_total_ms": [round(r["total"], 1) for r in plain],
        "per_run_total_ms_sources_only": [round(r["total"], 1) for r in sources_only],
        "tracing": "no SDK imported (TRACER_SDK_SUBSEGMENTS unset, the default)",
    }
    return BenchResult(
        name=NAME,
        title=TITLE,
        status="ok",
        measurements=tuple(measurements),
        details=details,
        wall_s=time.monotonic() - started,
        measured_at=now_iso(),
    )


def as_shipped(runs: int, env: dict[str, str], event: str) -> tuple[list[Measurement], dict[str, Any]]:
    """The default deploy's bundle (see the module docstring): as built, and its bytecode ignored."""
    target, python = shipped_target()
    what = f"cold start as `make deploy` ships it (default runtime Python {target.python_version}"
    if python is None:
        note = f"not measured: no Python {target.python_version} interpreter on this machine"
        return [
            Measurement(key="total_as_shipped", what=what + ")", unit="ms", samples=0, median=None, note=note)
        ], {"python_version": target.python_version, "interpreter": None}
    bundle, runtime, bytecode = shipped_bundle(target)
    what += ", bytecode)" if bytecode else ", sources only)"
    log(f"{NAME}: as shipped, {runs} runs x 2 variants under {python} from {bundle}")
    built, ignored = alternate(bundle, runtime, env, event, runs, python)
    total = Summary.of([r["total"] for r in built])
    sources = Summary.of([r["total"] for r in ignored])
    measurements = [
        timed(
            "total_as_shipped",
            what,
            total,
            target=judge(f"median <= {TARGET_MS:g} ms", [("median", total.median <= TARGET_MS)]),
            extra={"cpu_ms_median": cpu_median(built)},
        ),
        timed(
            "total_as_shipped_sources_only",
            f"the same bundle without its bytecode (what a Python {target.python_version} default "
            "ships when the build has no interpreter of it)",
            sources,
            level=1,
            note=f"{sources.median / total.median:.2f}x as shipped",
            extra={"cpu_ms_median": cpu_median(ignored)},
        ),
    ]
    details = {
        "python_version": target.python_version,
        "interpreter": python,
        "bytecode": bytecode,
        "bundle": bundle_path(bundle),
        "per_run_total_ms": [round(r["total"], 1) for r in built],
        "per_run_total_ms_sources_only": [round(r["total"], 1) for r in ignored],
    }
    return measurements, details
