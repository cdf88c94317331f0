"""Where a warm request's time goes: a deterministic profile (cProfile) of the real handler.

`python -m bench.profile_handler [--rows N]` prints the share of each component of one warm
request of N rows (1 by default; more rows are the bench model's holdout rows, as
`bench.handler_compare` sends them);
`--pyinstrument` prints pyinstrument's call tree instead when pyinstrument is importable (it is
not a project dependency: `pip install --target /tmp/pyi pyinstrument` and PYTHONPATH=/tmp/pyi).
`--parts` times the request's parts without a profiler, one after another in the order the
handler runs them (so each finds the caches as the previous part left them, as in the handler),
then the whole handler, in the same loop: medians per part.

A deterministic profiler adds a fixed cost to every Python call, so code made of many small
calls (logging, per-value validation) looks a bit bigger than it is. Shares are a guide; the
ablation rows of `bench.warm_handler` (the same handler with one part removed, timed without a
profiler) are the figures to quote.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import pstats
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.layout import METADATA_FILE

# (label, file path suffix, function name): the components of a request, outermost first.
COMPONENTS: tuple[tuple[str, str, str], ...] = (
    ("whole handler (InferenceApi.handle)", "inference/api.py", "handle"),
    ("  POST /predict (InferenceApi._predict)", "inference/api.py", "_predict"),
    ("    event to rows (Decoder.rows)", "inference/decode.py", "rows"),
    ("      is it common? (common_body)", "inference/decode.py", "common_body"),
    ("      JSON parse (orjson.loads)", "~", "<orjson.loads>"),
    ("      large body: simdjson to float32 (BatchRows)", "inference/batch_rows.py", "__call__"),
    ("      rows to float32 (packed_rows)", "inference/decode.py", "packed_rows"),
    ("      general decoder (Decoder.general_rows)", "inference/decode.py", "general_rows"),
    ("    domain service: InferenceService.predict", "inference/service.py", "predict"),
    ("      model: OnnxModel.predict", "common/model/onnx_model.py", "predict"),
    ("        bound run + outputs to lists (BoundBatch.run)", "common/model/onnx_model.py", "run"),
    ("        session run (OnnxModel._session_predict)", "common/model/onnx_model.py", "_session_predict"),
    ("    log line + EMF line (PredictionLines.render)", "inference/log_lines.py", "render"),
    ("    response JSON (orjson)", "inference/api.py", "_dumps"),
    ("  write + flush + response dict (InferenceApi._answer)", "inference/api.py", "_answer"),
)


@dataclass(frozen=True)
class ProfileLine:
    label: str
    share: float  # of the whole handler's cumulative time
    us_per_request: float  # under the profiler: inflated, compare shares instead


def _cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    total = 0.0
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, function), (_cc, _nc, _tt, ct, _callers) in raw.items():
        if function == name and filename.replace("\\", "/").endswith(suffix):
            total += ct
    return total


def profile_components(call: Callable[[], object], requests: int) -> list[ProfileLine]:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler)
    whole = _cumulative(stats, COMPONENTS[0][1], COMPONENTS[0][2]) or 1e-12
    return [
        ProfileLine(label, ct / whole, ct / requests * 1e6)
        for label, suffix, name in COMPONENTS
        if (ct := _cumulative(stats, suffix, name)) > 0
    ]


def top_self_time(call: Callable[[], object], requests: int, limit: int = 15) -> list[tuple[str, float]]:
    """The functions with the most time of their own (excluding callees), as share of the total."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values()) or 1e-12
    rows = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:limit]
    out = []
    for (filename, line, function), (_cc, _nc, tt, _ct, _callers) in rows:
        short = "/".join(filename.replace("\\", "/").split("/")[-2:])
        out.append((f"{short}:{line} {function}", tt / total))
    return out


PARTS = (
    "event to rows (Decoder.rows)",
    "domain service (InferenceService.predict: model run, outputs)",
    "response JSON (orjson)",
    "served line with its record + EMF line (InferenceApi._served)",
    "write + response dict (InferenceApi._answer)",
    "sum of the parts",
    "whole handler, same loop",
)


def time_parts(app: Any, event: dict[str, Any], context: Any, requests: int) -> list[tuple[str, float]]:
    """Median microseconds of each part of a /predict request (`PARTS`), timed in sequence with
    `perf_counter_ns`, each loop also timing one whole handler call; the first tenth is warm-up."""
    import statistics
    import time

    clock = time.perf_counter_ns
    samples: list[list[int]] = [[] for _ in range(6)]
    for index in range(requests):
        t0 = clock()
        rows = app.decoder.rows(event)
        t1 = clock()
        result = app.service.predict(rows)
        t2 = clock()
        body = result.body_json()
        t3 = clock()
        lines = app._served(result, body, context.aws_request_id)
        t4 = clock()
        app._answer(lines, 200, body, context.aws_request_id, context.function_version)
        t5 = clock()
        app.handle(event, context)
        t6 = clock()
        if index >= requests // 10:
            for sample, spent in zip(
                samples, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True
            ):
                sample.append(spent)
    medians = [statistics.median(sample) / 1000.0 for sample in samples]
    return list(zip(PARTS, [*medians[:5], sum(medians[:5]), medians[5]], strict=True))


def main(argv: list[str] | None = None) -> int:
    from bench.inprocess import BenchContext, devnull, load_handler, predict_event
    from bench.model import served_artifact_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=1, help="rows per request")
    parser.add_argument("--pyinstrument", action="store_true", help="print pyinstrument's call tree")
    parser.add_argument("--parts", action="store_true", help="time the parts in sequence, no profiler")
    args = parser.parse_args(argv)

    import json

    artifact = served_artifact_dir()
    if args.rows == 1:
        rows = [json.loads((artifact / METADATA_FILE).read_text())["sample_rows"][0]]
    else:
        from bench.model import load_bench_model

        rows = load_bench_model(artifact).rows(args.rows).tolist()
    sink = devnull()
    module = load_handler(artifact, sink)
    event = predict_event(rows)
    context = BenchContext()

    def call() -> object:
        return module.handler(event, context)

    with contextlib.redirect_stdout(sink):
        for _ in range(500):
            call()
        if args.parts:
            parts = time_parts(module.app, event, context, args.requests)
            text = "\n".join(f"{us:8.2f} us  {label}" for label, us in parts)
        elif args.pyinstrument:
            from pyinstrument import Profiler  # type: ignore[import-not-found]  # optional

            profiler = Profiler(interval=0.0001)
            profiler.start()
            for _ in range(args.requests):
                call()
            profiler.stop()
            text = profiler.output_text(unicode=False, color=False, show_all=False)
        else:
            lines = profile_components(call, args.requests)
            top = top_self_time(call, args.requests)
            text = "\n".join(
                [f"{line.share * 100:5.1f}%  {line.us_per_request:8.1f} us  {line.label}" for line in lines]
                + ["", "most self time:"]
                + [f"{share * 100:5.1f}%  {name}" for name, share in top]
            )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
