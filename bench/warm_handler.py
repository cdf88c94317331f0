"""Warm handler, 1 row, logging and metrics on; with the breakdown that explains its cost.

The real `inference.handler.handler` runs in this process on a real API Gateway REST proxy event,
after warm-up. Side by side in the same rounds:

- baselines: the same pipeline's scikit-learn `predict_proba` at batch 1 (the fitted pipeline
  rebuilt identically, see bench/model.py) and a bare onnxruntime `session.run` on a ready array;
- ablations, built without editing functions/: the handler with its two output lines off (the
  request log line and the EMF metrics line: `request_log.enabled` / `metrics.enabled` switched
  off around the block), the domain service alone (`InferenceService.predict` on the decoded rows)
  and request decoding alone (`Decoder.rows`: for the bench's common request, the fast decoder's
  `common_body`, orjson and `packed_rows`);
- an addition: the handler with the opt-in Powertools Tracer (`TRACER_SDK_SUBSEGMENTS=true`, a
  second import of the module), to show what the SDK subsegment costs where it is asked for.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from bench.core import (
    REPO_ROOT,
    BenchResult,
    Candidate,
    Measurement,
    Timings,
    baseline,
    judge,
    log,
    now_iso,
    paired_delta,
)
from bench.inprocess import BenchContext, devnull, load_handler, predict_event
from bench.model import BenchModel, load_bench_model
from bench.suite import Suite

NAME = "warm_handler"
TITLE = "warm handler, 1 row, logging and metrics on"
TARGET_P50_US = 60.0
TARGET_P99_US = 300.0
TARGET_SPEEDUP_VS_SKLEARN = 15.0


class VariantMismatchError(RuntimeError):
    """A variant answered differently from the real handler: its timing would be meaningless."""


@dataclass
class HandlerRig:
    """The handler module plus everything needed to build its variants for one request."""

    module: ModuleType
    event: dict[str, Any]
    context: BenchContext
    model: BenchModel
    rows: int

    # -- what the variants call -----------------------------------------------------------------

    def full(self) -> object:
        return self.module.handler(self.event, self.context)

    def with_sdk_tracer(self) -> Callable[[], object]:
        traced = load_handler(
            self.model.artifact_dir, devnull(), extra_env={"TRACER_SDK_SUBSEGMENTS": "true"}
        )
        if not hasattr(traced.handler, "__wrapped__"):
            raise VariantMismatchError("TRACER_SDK_SUBSEGMENTS=true did not wrap the handler in Tracer")
        event, context = self.event, self.context
        return lambda: traced.handler(event, context)

    def service(self) -> Callable[[], object]:
        service = self.module.service
        rows = self._fast_rows()
        return lambda: service.predict(rows)

    def parsing(self) -> Callable[[], object]:
        self._fast_rows()
        decoder, event = self.module.app.decoder, self.event
        return lambda: decoder.rows(event)

    def _fast_rows(self) -> Any:
        """The bench request's rows, checked to come from the fast decoder (a common request)."""
        from inference.decode import common_body

        decoder = self.module.app.decoder
        text = common_body(self.event, decoder.limits.max_body_bytes)
        rows = None if text is None else decoder.fast_rows(text)
        if rows is None:
            raise VariantMismatchError(
                "the bench request is not a common request: the fast decoder misses it"
            )
        return rows

    def session_run(self) -> Callable[[], object]:
        model = self.module.service.model
        session, outputs = model.session, [model.metadata.label_output, model.metadata.probabilities_output]
        feed = {model.metadata.input_name: self.model.onnx_input(self.rows)}
        return lambda: session.run(outputs, feed)

    def sklearn(self) -> Callable[[], object]:
        estimator, X = self.model.estimator, self.model.sklearn_input(self.rows)
        return lambda: estimator.predict_proba(X)

    # -- switches around blocks -----------------------------------------------------------------

    def output_off(self) -> tuple[Callable[[], None], Callable[[], None]]:
        """Switch the request log line and the EMF metrics line off, and back on."""
        app = self.module.app

        def enter() -> None:
            app.request_log.enabled = app.metrics.enabled = False

        def exit_() -> None:
            app.request_log.enabled = app.metrics.enabled = True

        return enter, exit_


def build_rig(model: BenchModel, rows: int, sink: Any) -> HandlerRig:
    module = load_handler(model.artifact_dir, sink)
    event = predict_event(model.rows(rows).tolist())
    return HandlerRig(module=module, event=event, context=BenchContext(), model=model, rows=rows)


def check_variants(rig: HandlerRig, candidates: Sequence[Candidate]) -> None:
    """Every handler variant must answer exactly what the real handler answers."""
    expected = rig.full()
    if not isinstance(expected, dict) or expected.get("statusCode") != 200:
        raise VariantMismatchError(f"the handler itself answered {expected!r}")
    for candidate in candidates:
        if not candidate.name.startswith("handler"):
            continue
        if candidate.enter is not None:
            candidate.enter()
        try:
            answer = candidate.call()
        finally:
            if candidate.exit is not None:
                candidate.exit()
        if not isinstance(answer, dict) or answer.get("body") != expected.get("body"):
            raise VariantMismatchError(f"{candidate.name} answered {answer!r}, the handler {expected!r}")


def handler_candidates(rig: HandlerRig, *, breakdown: bool) -> list[Candidate]:
    candidates = [
        Candidate("handler", rig.full),
        Candidate("session_run", rig.session_run()),
        Candidate("sklearn", rig.sklearn()),
    ]
    if breakdown:
        off, on = rig.output_off()
        candidates += [
            Candidate("handler_no_output", rig.full, enter=off, exit=on),
            Candidate("handler_sdk_tracer", rig.with_sdk_tracer()),
            Candidate("service", rig.service()),
            Candidate("parsing", rig.parsing()),
        ]
    else:
        candidates.append(Candidate("service", rig.service()))
    return candidates


BREAKDOWN_LABELS: dict[str, str] = {
    "handler_no_output": "handler with its log line and EMF metrics line off",
    "handler_sdk_tracer": "handler with the opt-in Powertools Tracer (TRACER_SDK_SUBSEGMENTS=true)",
    "service": "domain service alone (InferenceService.predict on decoded rows: model and outputs)",
    "parsing": "request decoding alone (Decoder.rows: common-request check, JSON, rows to float32)",
    "session_run": "baseline: bare onnxruntime session.run",
    "sklearn": "baseline: scikit-learn predict_proba",
}
REMOVALS = ("handler_no_output",)
ADDITIONS = ("handler_sdk_tracer",)


def summarize(
    timings: dict[str, Timings], *, rows: int, headline: str, target: bool
) -> tuple[list[Measurement], dict[str, Any]]:
    summaries = {name: t.summary() for name, t in timings.items()}
    ours = summaries["handler"]
    sk, bare = summaries["sklearn"], summaries["session_run"]
    baselines = (
        baseline(f"scikit-learn predict_proba, batch {rows}", sk.median, ours.median, "us"),
        baseline(f"bare onnxruntime session.run, batch {rows}", bare.median, ours.median, "us"),
    )
    verdict = (
        judge(
            f"p50 <= {TARGET_P50_US:g} us, p99 <= {TARGET_P99_US:g} us, "
            f">= {TARGET_SPEEDUP_VS_SKLEARN:g}x faster than scikit-learn",
            [
                ("p50", ours.median <= TARGET_P50_US),
                ("p99", ours.p99 <= TARGET_P99_US),
                ("speedup vs scikit-learn", baselines[0].ratio >= TARGET_SPEEDUP_VS_SKLEARN),
            ],
        )
        if target
        else None
    )
    extra: dict[str, float | int | str] = {
        "per_row_us": ours.median / rows,
        "cpu_us_per_call": round(timings["handler"].cpu_median(), 2),
    }
    measurements = [
        Measurement(
            key="handler",
            what=headline,
            unit="us",
            samples=ours.samples,
            median=ours.median,
            p99=ours.p99,
            baselines=baselines,
            target=verdict,
            extra=extra,
        )
    ]
    for name, label in BREAKDOWN_LABELS.items():
        if name not in summaries:
            continue
        s = summaries[name]
        if name in REMOVALS:
            saved = paired_delta(timings["handler"], timings[name])
            note = (
                f"saves {saved.median:.0f} us ({saved.median / ours.median:.0%}; per-round IQR "
                f"{saved.low:.0f}..{saved.high:.0f} us) vs full handler"
            )
        elif name in ADDITIONS:
            added = paired_delta(timings[name], timings["handler"])
            note = f"adds {added.median:.0f} us (per-round IQR {added.low:.0f}..{added.high:.0f} us)"
        else:
            note = f"{s.median / ours.median:.0%} of full handler"
        measurements.append(
            Measurement(
                key=name,
                what=label,
                unit="us",
                samples=s.samples,
                median=s.median,
                p99=s.p99,
                level=1,
                note=note,
                extra={
                    "per_row_us": s.median / rows,
                    "cpu_us_per_call": round(timings[name].cpu_median(), 2),
                },
            )
        )
    details = {
        name: {
            "round_median_min_us": round(t.round_spread()[0], 2),
            "round_median_max_us": round(t.round_spread()[1], 2),
        }
        for name, t in timings.items()
    }
    return measurements, {"round_spread": details}


def run_warm(
    *,
    name: str,
    title: str,
    rows: int,
    rounds: int,
    block: int,
    breakdown: bool,
    target: bool,
    profile: int,
    tracing_probe: bool = False,
) -> BenchResult:
    from bench.core import time_interleaved
    from bench.profile_handler import profile_components

    started = time.monotonic()
    model = load_bench_model()
    sink = devnull()
    rig = build_rig(model, rows, sink)
    candidates = handler_candidates(rig, breakdown=breakdown)
    with contextlib.redirect_stdout(sink):
        check_variants(rig, candidates)
        log(f"{name}: {len(candidates)} candidates x {rounds} rounds x {block} calls, interleaved")
        timings = time_interleaved(candidates, rounds=rounds, block=block)
        profile_lines = profile_components(rig.full, profile) if profile else []
    measurements, details = summarize(
        timings, rows=rows, headline=f"warm handler, {rows} row{'s' if rows > 1 else ''}", target=target
    )
    if tracing_probe:
        traced = tracing_active(rounds=max(6, rounds // 2), block=block)
        if traced is not None:
            measurements.insert(1, traced[0])
            details["tracing_probe"] = traced[1]
    details.update(
        {
            "model_version": model.metadata.version,
            "estimator": model.metadata.estimator,
            "sklearn_pipeline_identical_to_onnx": model.identical,
            "event_body_bytes": len(json.dumps(rig.event["body"])),
            "tracing": "no SDK in the process (Lambda active tracing records the invocation); "
            "the opt-in Powertools Tracer is the handler_sdk_tracer row",
            "rounds": rounds,
            "block": block,
        }
    )
    if profile_lines:
        details["cprofile_components"] = [
            {"component": line.label.strip(), "share": round(line.share, 4)} for line in profile_lines
        ]
    return BenchResult(
        name=name,
        title=title,
        status="ok",
        measurements=tuple(measurements),
        details=details,
        wall_s=time.monotonic() - started,
        measured_at=now_iso(),
    )


def tracing_active(*, rounds: int, block: int) -> tuple[Measurement, dict[str, Any]] | None:
    """The handler with X-Ray tracing active, in a child process (see bench/tracing_probe.py)."""
    command = [sys.executable, "-m", "bench.tracing_probe", "--rounds", str(rounds), "--block", str(block)]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        log(f"tracing probe failed: {result.stderr.strip()[-500:]}")
        return None
    probe: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    traced, untraced = probe["handler_traced"], probe["handler_untraced"]
    added = traced["median"] - untraced["median"]
    measurement = Measurement(
        key="handler_tracing_active",
        what="handler with the opt-in Tracer and X-Ray tracing active (child process, UDP to loopback)",
        unit="us",
        samples=int(traced["samples"]),
        median=float(traced["median"]),
        p99=float(traced["p99"]),
        level=1,
        note=f"adds {added:.0f} us vs the SDK disabled in the same process (the default handler has no SDK)",
        extra={"cpu_us_per_call": round(float(traced["cpu"]), 2), "untraced_median_us": untraced["median"]},
    )
    return measurement, probe


def run(suite: Suite) -> BenchResult:
    quick = suite.quick
    return run_warm(
        name=NAME,
        title=TITLE,
        rows=1,
        rounds=12 if quick else 40,
        block=50 if quick else 100,
        breakdown=True,
        target=True,
        profile=500 if quick else 2000,
        tracing_probe=True,
    )
