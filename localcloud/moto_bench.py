"""`python -m localcloud.moto_bench`: the cost of AWS calls against the local moto server as moto
serves them (`before`: `Connection: close`, SQS counts per message), with connections kept alive
(`keep-alive`), and with both of localcloud/moto_main.py's changes (`after`).

One moto server runs per variant, side by side, and the same calls go to each, interleaved, so all
see the same machine load (the sequential calls fill the queue by 10 messages a round):

- sequential: SQS SendMessageBatch (10 messages of 2 KB), GetQueueUrl, S3 PutObject (20 KB), each
  `--rounds` times per variant, from one client each (median and p90 in ms);
- concurrent: `--clients` threads each sending `--batches` SendMessageBatch calls through a client
  configured as a function's fail-fast sender (0.2 s connect, 0.5 s read timeout, no retry), the
  failures counted (the way the shadow mirror lost messages under load).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from localcloud.moto_process import MotoServer, start_moto_server

VARIANTS = {
    "before": {"LOCALCLOUD_MOTO_KEEPALIVE": "0", "LOCALCLOUD_MOTO_SQS_COUNTS": "0"},
    "keep-alive": {"LOCALCLOUD_MOTO_KEEPALIVE": "1", "LOCALCLOUD_MOTO_SQS_COUNTS": "0"},
    "after": {"LOCALCLOUD_MOTO_KEEPALIVE": "1", "LOCALCLOUD_MOTO_SQS_COUNTS": "1"},
}
ENTRIES = [{"Id": str(i), "MessageBody": "x" * 2000} for i in range(10)]


def _client(server: MotoServer, service: str, config: Config | None = None) -> Any:
    factory: Any = boto3.client
    return factory(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        verify=str(server.cafile),
        config=config,
    )


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _summary(values: list[float]) -> str:
    ordered = sorted(values)
    return f"median {statistics.median(ordered):6.1f} ms  p90 {ordered[int(len(ordered) * 0.9)]:6.1f} ms"


def sequential(servers: dict[str, MotoServer], rounds: int) -> dict[str, dict[str, list[float]]]:
    calls: dict[str, dict[str, Callable[[], object]]] = {}
    for name, server in servers.items():
        sqs, s3 = _client(server, "sqs"), _client(server, "s3")
        url = sqs.create_queue(QueueName="bench")["QueueUrl"]
        s3.create_bucket(Bucket="bench")
        calls[name] = {
            "SendMessageBatch": partial(sqs.send_message_batch, QueueUrl=url, Entries=ENTRIES),
            "GetQueueUrl": partial(sqs.get_queue_url, QueueName="bench"),
            "PutObject": partial(s3.put_object, Bucket="bench", Key="k", Body=b"y" * 20_000),
        }
    results: dict[str, dict[str, list[float]]] = {name: {op: [] for op in calls[name]} for name in servers}
    for _ in range(rounds):
        for op in ("SendMessageBatch", "GetQueueUrl", "PutObject"):
            for name in servers:
                results[name][op].append(_timed(calls[name][op]))
    return results


def concurrent(
    servers: dict[str, MotoServer], clients: int, batches: int
) -> dict[str, tuple[int, int, float]]:
    """Per variant: (failed calls, calls, wall seconds), the variants run one after the other."""
    fail_fast = Config(
        connect_timeout=0.2, read_timeout=0.5, retries={"total_max_attempts": 1}, max_pool_connections=2
    )
    outcome = {}
    for name, server in servers.items():
        url = _client(server, "sqs").create_queue(QueueName="load")["QueueUrl"]
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            failed = sum(
                pool.map(lambda _, s=server, u=url: _send_all(s, u, fail_fast, batches), range(clients))
            )
        outcome[name] = (failed, clients * batches, time.perf_counter() - started)
    return outcome


def _send_all(server: MotoServer, url: str, config: Config, batches: int) -> int:
    """Send `batches` batches from one client; the number that failed."""
    sqs = _client(server, "sqs", config)
    failed = 0
    for _ in range(batches):
        try:
            sqs.send_message_batch(QueueUrl=url, Entries=ENTRIES)
        except Exception:
            failed += 1
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.moto_bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="moto-bench-"))
    servers: dict[str, MotoServer] = {}
    try:
        for name, environment in VARIANTS.items():
            servers[name] = start_moto_server(
                tls_dir=root / "tls", log_path=root / f"{name}.log", extra_env=environment
            )
        for name, ops in sequential(servers, args.rounds).items():
            for op, values in ops.items():
                print(f"{name:10s} {op:16s} {_summary(values)}")
        for name, (failed, total, seconds) in concurrent(servers, args.clients, args.batches).items():
            print(f"{name:10s} {args.clients} clients: {failed}/{total} failed, {seconds:.1f} s")
        print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")
    finally:
        for server in servers.values():
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
