"""Recording cost: what the shadow stack's wiring adds to the warm handler (issue #7's mirroring target).

    python -m bench.recording_cost [--rows 1 100] [--rounds 20] [--block 500]

The inference function sends nothing itself: a request's outcome record, with its float32 inputs
when the prediction log or the shadow draws it (and the shadow's candidate when the shadow does),
goes out in its "prediction served" log line, which the recorder function receives
(docs/prediction-log.md); the shadow configuration is re-read by a one-shot thread when due. This
times this tree's handler in three worker processes (`bench.handler_compare`'s), rounds alternating
between them, on the same API Gateway events:

- `unwired`: no shadow variables (a stack without the shadow construct);
- `log10`: the stack's variables, no shadow running, the prediction log's default 10% sample;
- `shadow100`: a shadow at 100%, every record carrying the inputs and the candidate.

The configuration objects are read from a moto server on loopback. Target (issue #7): shadow on
adds <= 1 ms at p50.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.core import REPO_ROOT, BenchResult, Measurement, baseline, judge, log, now_iso, percentile
from bench.handler_compare import Worker
from bench.inprocess import function_environment, predict_event
from bench.model import load_bench_model
from bench.suite import Suite
from bench.warm_handler_recorded import SETTINGS, _aws, _client_kwargs, _free_port

NAME = "recording"
TITLE = "what the shadow stack's wiring adds to the warm handler"
TARGET_ON_MS = 1.0
VARIANTS = {  # the headline first, then its breakdown rows
    "shadow100": "wired, shadow at 100% (inputs and candidate in every record)",
    "unwired": "no shadow variables",
    "log10": "wired, no shadow, prediction log 10% sampled",
}


def compare(rows_list: list[int], rounds: int, block: int) -> dict[str, Any]:
    """Per row count: each variant's median, p99 and its median over the unwired handler's."""
    import boto3
    from moto.server import ThreadedMotoServer

    model = load_bench_model()
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    try:
        s3 = boto3.client("s3", **_client_kwargs(endpoint))  # type: ignore[call-overload]
        sqs = boto3.client("sqs", **_client_kwargs(endpoint))  # type: ignore[call-overload]
        s3.create_bucket(Bucket="bench-logs")
        queue_url = sqs.create_queue(QueueName="bench-shadow")["QueueUrl"]
        shadow = {"schema_version": 1, **(SETTINGS["shadow100"] or {})}
        s3.put_object(Bucket="bench-logs", Key="control/shadow100.json", Body=json.dumps(shadow).encode())
        plain = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ""),
            **function_environment(model.artifact_dir),
        }
        plain.pop("PYTHONPATH", None)
        wired = {
            **plain,
            **_aws(endpoint),
            "SHADOW_QUEUE_URL": queue_url,
            "PREDICTION_LOG_SAMPLE_PERCENT": "10",
        }
        environments = {
            "unwired": plain,
            "log10": {**wired, "SHADOW_CONFIG_URI": "s3://bench-logs/control/log10.json"},
            "shadow100": {**wired, "SHADOW_CONFIG_URI": "s3://bench-logs/control/shadow100.json"},
        }
        with tempfile.TemporaryDirectory() as scratch:
            events_file = Path(scratch) / "events.json"
            events = {str(rows): predict_event(model.rows(rows).tolist()) for rows in rows_list}
            events_file.write_text(json.dumps(events))
            workers = {name: Worker(name, REPO_ROOT, events_file, env) for name, env in environments.items()}
            try:
                for rows in rows_list:
                    results[str(rows)] = _rounds(workers, rows, rounds, block)
                    log(f"{NAME}: {rows:>4} rows: {results[str(rows)]}")
            finally:
                for worker in workers.values():
                    worker.close()
    finally:
        server.stop()
    return results


def _rounds(workers: dict[str, Worker], rows: int, rounds: int, block: int) -> dict[str, Any]:
    calls = max(5, block // max(1, rows // 10)) if rows > 10 else block
    times: dict[str, list[float]] = {name: [] for name in workers}
    names = list(workers)
    for index in range(rounds):
        for name in names[index % len(names) :] + names[: index % len(names)]:  # each leads in turn
            times[name].extend(workers[name].block(rows, calls))
    unwired = statistics.median(times["unwired"])
    return {
        name: {
            "median_us": round(statistics.median(values), 2),
            "p99_us": round(percentile(values, 99), 2),
            "added_us": round(statistics.median(values) - unwired, 2),
            "calls": len(values),
        }
        for name, values in times.items()
    }


def run(suite: Suite) -> BenchResult:
    started = now_iso()
    rounds, block = (6, 200) if suite.quick else (20, 500)
    results = compare([1, 100], rounds, block)
    measurements = []
    for rows, figures in results.items():
        unwired = figures["unwired"]["median_us"]
        on = figures["shadow100"]
        plural = "s" if rows != "1" else ""
        target = judge(
            f"shadow on adds <= {TARGET_ON_MS:g} ms at p50",
            [("on p50", on["added_us"] <= 1000 * TARGET_ON_MS)],
        )
        for name, label in VARIANTS.items():
            variant = figures[name]
            measurements.append(
                Measurement(
                    key=f"rows_{rows}_{name}",
                    what=f"warm handler, {rows} row{plural}, {label}",
                    unit="us",
                    samples=variant["calls"],
                    median=variant["median_us"],
                    p99=variant["p99_us"],
                    baselines=(baseline("unwired", unwired, variant["median_us"], "us"),)
                    if name != "unwired"
                    else (),
                    target=target if name == "shadow100" else None,
                    level=0 if name == "shadow100" else 1,
                    note=f"{variant['added_us']:+.1f} us p50 vs unwired" if name == "log10" else "",
                    extra={"added_us": variant["added_us"]},
                )
            )
    return BenchResult(
        name=NAME,
        title=TITLE,
        status="ok",
        measurements=tuple(measurements),
        details={"rounds": rounds, "block": block, "results": results},
        measured_at=started,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--block", type=int, default=500, help="calls per round at 1 row (fewer for more rows)"
    )
    args = parser.parse_args(argv)
    print(json.dumps(compare(args.rows, args.rounds, args.block), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
