"""The warm handler with the shadow stack wired, side by side with another code tree.

    python -m bench.warm_handler_recorded --base main --rows 1 100 --rounds 12 --block 300

`bench.handler_compare` compares two trees' handlers without a shadow stack. This runs the same
alternating workers with the stack's wiring (`SHADOW_QUEUE_URL`, `SHADOW_CONFIG_URI`,
`PREDICTION_LOG_SAMPLE_PERCENT`) against a moto server on loopback, in two settings:

- `log10`: no shadow running, the prediction log's default 10% sample;
- `shadow100`: a shadow at 100% (every request sampled, named for the candidate).

Whatever a tree does off the request thread in the same process (a sender thread encoding and
sending to SQS) runs during the timed calls, so its cost shows in the medians as it would on Lambda.
Prints the medians, means and p99 and the ratios (this tree / base) per setting and row count;
writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.core import REPO_ROOT, log
from bench.handler_compare import base_tree, pair_times
from bench.inprocess import function_environment, predict_event
from bench.model import load_bench_model

SETTINGS: dict[str, dict[str, Any] | None] = {
    "log10": None,
    "shadow100": {"active": True, "sample_percent": 100.0, "candidate_model_version": "m-candidate"},
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _aws(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }


def compare(base: str, rows_list: list[int], rounds: int, block: int) -> dict[str, Any]:
    import boto3
    from moto.server import ThreadedMotoServer

    model = load_bench_model()
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    clients = {name: boto3.client(name, **_client_kwargs(endpoint)) for name in ("s3", "sqs")}  # type: ignore[call-overload]
    clients["s3"].create_bucket(Bucket="bench-logs")
    queue_url = clients["sqs"].create_queue(QueueName="bench-shadow")["QueueUrl"]
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            events_file = Path(scratch) / "events.json"
            events = {str(rows): predict_event(model.rows(rows).tolist()) for rows in rows_list}
            events_file.write_text(json.dumps(events))
            trees = {"base": base_tree(base, Path(scratch) / "base"), "this": REPO_ROOT}
            for setting, config in SETTINGS.items():
                key = f"control/{setting}.json"
                if config is not None:
                    document = {"schema_version": 1, **config}
                    clients["s3"].put_object(Bucket="bench-logs", Key=key, Body=json.dumps(document).encode())
                env = {
                    "PATH": os.environ.get("PATH", ""),
                    "HOME": os.environ.get("HOME", ""),
                    **function_environment(model.artifact_dir),
                    **_aws(endpoint),
                    "SHADOW_QUEUE_URL": queue_url,
                    "SHADOW_CONFIG_URI": f"s3://bench-logs/{key}",
                    "PREDICTION_LOG_SAMPLE_PERCENT": "10",
                }
                env.pop("PYTHONPATH", None)
                results[setting] = _summary(pair_times(trees, events_file, env, rows_list, rounds, block))
    finally:
        server.stop()
    return results


def _client_kwargs(endpoint: str) -> dict[str, str]:
    aws = _aws(endpoint)
    return {
        "endpoint_url": endpoint,
        "aws_access_key_id": aws["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": aws["AWS_SECRET_ACCESS_KEY"],
        "region_name": aws["AWS_REGION"],
    }


def _summary(times_by_rows: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """Per row count: the two trees' medians, means and p99s, and their ratios."""
    results: dict[str, Any] = {}
    for rows, times in times_by_rows.items():
        medians = {name: statistics.median(values) for name, values in times.items()}
        means = {name: statistics.fmean(values) for name, values in times.items()}
        p99 = {name: statistics.quantiles(values, n=100)[98] for name, values in times.items()}
        results[rows] = {
            "base_median_us": round(medians["base"], 2),
            "this_median_us": round(medians["this"], 2),
            "ratio": round(medians["this"] / medians["base"], 4),
            # The mean carries what runs beside the calls (a sender thread's bursts); p99 shows them.
            "base_mean_us": round(means["base"], 2),
            "this_mean_us": round(means["this"], 2),
            "mean_ratio": round(means["this"] / means["base"], 4),
            "base_p99_us": round(p99["base"], 2),
            "this_p99_us": round(p99["this"], 2),
            "calls_each": len(times["base"]),
        }
        log(f"{rows:>5} rows: {results[rows]}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="a checkout (a folder with functions/) or a git ref")
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--block", type=int, default=300)
    args = parser.parse_args(argv)
    print(
        json.dumps(
            {"base": args.base, "results": compare(args.base, args.rows, args.rounds, args.block)}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
