"""The warm inference handler of two code trees side by side: 1, 100 and 1,000-row requests.

    python -m bench.handler_compare --base /path/to/other/checkout   # or --base <git ref>
    python -m bench.handler_compare --base HEAD~3 --rows 1 100 --rounds 30 --block 200

`make bench` runs it against BASE_REF, the code before the decode seam (issue 14).

Each tree's handler runs in a worker process of its own (its `functions/` first on the path, the
deployed environment, lines to /dev/null), on the same API Gateway events built here from the
bench model's holdout rows. Rounds alternate between the two workers, which never run at the
same time (the machine's load drifts; alternating spreads it over both). A round times `block`
calls one by one after a warm-up. A process has a speed of its own (where its memory landed,
what else ran when it started), so `pairs` pairs of workers are started one pair after another;
the medians are over every call of every round of every pair, and each pair's own ratio is
reported beside them ("pair_ratios"). Prints the medians and the ratio (this tree / base) per
row count, and writes nothing. Beside them, in the same rounds: orjson.loads of the body (what
the base decodes with), simdjson's parse of the body into its buffer of doubles (what this tree's
large-body decoder cannot go below) and the session's own run on the rows; "floor_ratio" is the
parse and the run over the base median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import IO, Any

from bench.core import REPO_ROOT, BenchResult, Measurement, baseline, log, now_iso
from bench.inprocess import function_environment, predict_event
from bench.model import load_bench_model
from bench.suite import Suite

NAME = "handler_compare"
TITLE = "warm handler side by side with the code before the decode seam"
BASE_REF = "449684e"
"""The last commit before issue 14's inference restructure (its `functions/` is the base)."""

WORKER = r"""
import contextlib, json, os, sys, time, importlib
root = sys.argv[1]
sys.path[:0] = [os.path.join(root, "functions")]
events = json.load(open(sys.argv[2]))
class Context:
    function_name = "inference"; function_version = "1"; memory_limit_in_mb = 1024
    aws_request_id = "bench-request"; log_group_name = "/aws/lambda/inference"; log_stream_name = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:inference:live"
    def get_remaining_time_in_millis(self): return 15000
sink = open(os.devnull, "w")
with contextlib.redirect_stdout(sink):
    module = importlib.import_module("inference.handler")
module.app.stream = sink
handler, context, clock = module.handler, Context(), time.perf_counter_ns
import numpy, orjson
model = module.service.model
outputs = [model.metadata.label_output, model.metadata.probabilities_output]
for line in sys.stdin:
    kind, rows, block = line.split()
    rows, block = int(rows), int(block)
    event = events[str(rows)]
    assert handler(event, context)["statusCode"] == 200
    if kind == "handler":
        call = lambda: handler(event, context)
    elif kind == "json":
        call = lambda: orjson.loads(event["body"])
    elif kind == "parse":
        import simdjson
        parser, body = simdjson.Parser(), event["body"].encode()
        call = lambda: parser.parse(body)["instances"].as_buffer(of_type="d")
    else:
        instances = json.loads(event["body"])["instances"]
        feed = {model.metadata.input_name: numpy.array(instances, dtype=numpy.float32)}
        call = lambda: model.session.run(outputs, feed)
    for _ in range(max(3, block // 10)):
        call()
    times = []
    for _ in range(block):
        started = clock()
        call()
        times.append(clock() - started)
    print(json.dumps(times), flush=True)
"""


def base_tree(base: str, into: Path) -> Path:
    """`base` itself when it is a directory holding functions/; else that git ref's functions/."""
    if (Path(base) / "functions").is_dir():
        return Path(base).resolve()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", base, "functions"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


class Worker:
    def __init__(self, name: str, root: Path, events_file: Path, env: dict[str, str]) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root), str(events_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )

    def block(self, rows: int, block: int, kind: str = "handler") -> list[float]:
        """Per-call times (us) of `block` calls: the handler, orjson.loads of the body ("json") or
        the session's own run on the body's rows ("session")."""
        stdin: IO[str] | None = self.process.stdin
        stdout: IO[str] | None = self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(f"{kind} {rows} {block}\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} worker exited (code {self.process.wait()})")
        return [ns / 1000.0 for ns in json.loads(line)]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def compare(base: str, rows_list: list[int], rounds: int, block: int, pairs: int = 3) -> dict[str, Any]:
    model = load_bench_model()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        **function_environment(model.artifact_dir),
    }
    env.pop("PYTHONPATH", None)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        events_file = Path(scratch) / "events.json"
        events = {str(rows): predict_event(model.rows(rows).tolist()) for rows in rows_list}
        events_file.write_text(json.dumps(events))
        trees = {"base": base_tree(base, Path(scratch) / "base"), "this": REPO_ROOT}
        runs = [
            pair_times(trees, events_file, env, rows_list, rounds, block, floor=True) for _ in range(pairs)
        ]
        for rows in rows_list:
            key = str(rows)
            pooled = {kind: [time for run in runs for time in run[key][kind]] for kind in runs[0][key]}
            medians = {kind: statistics.median(values) for kind, values in pooled.items()}
            parse_us = medians["parse"] if rows > 1 else None
            floor_us = (parse_us if parse_us is not None else medians["json"]) + medians["session"]
            results[key] = {
                "base_median_us": round(medians["base"], 2),
                "this_median_us": round(medians["this"], 2),
                "ratio": round(medians["this"] / medians["base"], 4),
                "pair_ratios": [
                    round(statistics.median(run[key]["this"]) / statistics.median(run[key]["base"]), 4)
                    for run in runs
                ],
                "orjson_loads_us": round(medians["json"], 2),
                "simdjson_parse_us": None if parse_us is None else round(parse_us, 2),
                "session_run_us": round(medians["session"], 2),
                "floor_ratio": round(floor_us / medians["base"], 4),
                "calls_each": len(pooled["base"]),
                "pairs": pairs,
                "body_bytes": len(events[key]["body"]),
            }
            log(f"{rows:>5} rows: {results[key]}")
    return results


def pair_times(
    trees: dict[str, Path],
    events_file: Path,
    env: dict[str, str],
    rows_list: list[int],
    rounds: int,
    block: int,
    *,
    floor: bool = False,
) -> dict[str, dict[str, list[float]]]:
    """One pair of workers (one per tree, "base" and "this") through every row count: per row
    count, the per-call times (us) of each tree's handler, in rounds whose order of the two
    alternates; with `floor`, also of the floor's parts ("json", "session", and "parse" above one
    row), timed in this tree's worker after each round."""
    workers = {name: Worker(name, root, events_file, env) for name, root in trees.items()}
    times: dict[str, dict[str, list[float]]] = {}
    try:
        for rows in rows_list:
            calls = max(5, block // max(1, rows // 10)) if rows > 10 else block
            kinds = (["json", "session"] + (["parse"] if rows > 1 else [])) if floor else []
            found: dict[str, list[float]] = {name: [] for name in [*workers, *kinds]}
            for index in range(rounds):
                order = list(workers) if index % 2 == 0 else list(reversed(workers))
                for name in order:
                    found[name].extend(workers[name].block(rows, calls))
                for kind in kinds:
                    found[kind].extend(workers["this"].block(rows, calls, kind))
            times[str(rows)] = found
    finally:
        for worker in workers.values():
            worker.close()
    return times


def run(suite: Suite) -> BenchResult:
    started = now_iso()
    rounds, block, pairs = (6, 200, 1) if suite.quick else (10, 500, 5)
    results = compare(BASE_REF, [1, 100, 1000], rounds, block, pairs)
    measurements = []
    for rows, figures in results.items():
        this, base = figures["this_median_us"], figures["base_median_us"]
        measurements.append(
            Measurement(
                key=f"rows_{rows}",
                what=f"warm handler, {rows} row{'s' if rows != '1' else ''} (this tree; base {BASE_REF})",
                unit="us",
                samples=figures["calls_each"],
                median=this,
                baselines=(baseline(f"the same request on {BASE_REF}", base, this, "us"),),
                extra={key: value for key, value in figures.items() if key != "this_median_us"},
            )
        )
    return BenchResult(
        name=NAME,
        title=TITLE,
        status="ok",
        measurements=tuple(measurements),
        details={"base_ref": BASE_REF, "rounds": rounds, "block": block, "pairs": pairs, "results": results},
        measured_at=started,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="a checkout (a folder with functions/) or a git ref")
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--rounds", type=int, default=10, help="rounds per pair of workers")
    parser.add_argument("--pairs", type=int, default=5, help="pairs of worker processes, one after another")
    parser.add_argument(
        "--block", type=int, default=500, help="calls per round at 1 row (fewer for more rows)"
    )
    args = parser.parse_args(argv)
    results = compare(args.base, args.rows, args.rounds, args.block, args.pairs)
    summary = {"base": args.base, "rounds": args.rounds, "pairs": args.pairs, "results": results}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
