"""What shadow mirroring adds to the live path: `python -m bench.shadow_mirroring`.

A. `offer()` on the request thread, alone (one thread, no sender running): what the request pays
   to decide and hand a request over, for a stopped shadow, a shadow at 10% and at 100%.

B. The real inference handler, as it runs: each candidate is a warm local-runtime worker (a
   `python -I -S` process running awslambdaric against its own Runtime API, the handler module
   imported once, exactly as `make local` runs it), invoked sequentially; the time is the invocation
   round trip (what `REPORT Duration` shows locally). moto server runs in its own process (SQS and
   S3 are elsewhere on AWS). Candidates, each its own function version environment:

   - `no-shadow`   no SHADOW_* variables: the function as before this feature (baseline)
   - `off`         shadow stack deployed, shadow stopped (configuration object inactive)
   - `on`          shadow active at 100%: every request mirrored to a fast SQS endpoint (a minimal
                   SendMessageBatch server in its own process answering at once, with the MD5s
                   botocore checks; moto on this 2-vCPU machine manages ~25 messages/s, far slower
                   than SQS, which would hide the sender's own CPU cost)
   - `refused`     shadow active, the SQS endpoint refuses connections (AWS_ENDPOINT_URL_SQS)
   - `blackhole`   shadow active, the SQS endpoint accepts and never answers (read timeouts)

   Invocations run in interleaved blocks (every round runs a block of each candidate, shuffled).
   Prints medians, p99 and the difference of medians to `no-shadow`; no assertions.

Not emulated: Lambda freezes the environment between invocations, so on AWS the sender thread runs
only while an invocation is in flight; locally it also runs between invocations.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT / "functions") not in sys.path:
    sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "functions")]

import boto3  # noqa: E402
import numpy as np  # noqa: E402

from common.shadow_config import ShadowConfig, ShadowConfigCache, ShadowConfigStore  # noqa: E402
from common.shadow_mirror import MirrorSettings, ShadowMirror  # noqa: E402
from infra.bundling import BundleTarget, build_bundle_cached, install_runtime_provided  # noqa: E402
from localcloud.events import rest_proxy_event  # noqa: E402
from localcloud.functions import FunctionSpec, WorkerPool  # noqa: E402


def serve_sqs(port: int) -> None:
    """A minimal SQS endpoint (JSON protocol): SendMessageBatch succeeds at once; GET / = count."""
    import hashlib
    import uuid
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = [0]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._reply(json.dumps({"received": received[0]}).encode())

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            entries = body.get("Entries", [])
            received[0] += len(entries)
            successful = [
                {
                    "Id": entry["Id"],
                    "MessageId": str(uuid.uuid4()),
                    "MD5OfMessageBody": hashlib.md5(entry["MessageBody"].encode()).hexdigest(),
                }
                for entry in entries
            ]
            self._reply(json.dumps({"Successful": successful, "Failed": []}).encode())

        def _reply(self, payload: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


@contextmanager
def fast_sqs() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", f"from bench.shadow_mirroring import serve_sqs; serve_sqs({port})"],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the SQS stand-in did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def received(endpoint: str) -> int:
    from urllib.request import urlopen

    with urlopen(endpoint, timeout=5) as response:
        return int(json.loads(response.read())["received"])


CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: always an observed value."""
    ordered = sorted(values)
    rank = max(1, int(np.ceil(q / 100 * len(ordered))))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: list[float], baseline: float | None = None) -> dict[str, float]:
    median = statistics.median(values)
    result = {"samples": len(values), "median": round(median, 2), "p99": round(percentile(values, 99), 2)}
    if baseline is not None:
        result["added_median"] = round(median - baseline, 2)
    return result


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def blackhole() -> Iterator[str]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(1)
        for connection in held:
            connection.close()
        server.close()


def newest_model() -> Path:
    folders = [p.parent for p in (REPO_ROOT / "model_artifacts").glob("*/metadata.json")]
    if not folders:
        raise SystemExit("no model under model_artifacts/: run `make model` first")
    return max(folders, key=lambda p: json.loads((p / "metadata.json").read_text())["created_at"])


# -- A: offer() alone --------------------------------------------------------------------------------


class FixedStore(ShadowConfigStore):
    def __init__(self, config: ShadowConfig) -> None:
        super().__init__(s3=None, bucket="bench")  # type: ignore[arg-type]
        self.config = config

    def read(self, *, etag: str | None = None) -> tuple[ShadowConfig, str | None] | object:
        return self.config, None


class NullSender:
    def send_batch(self, bodies: Any) -> int:
        return 0


def offer_cost(calls: int, row: list[float]) -> dict[str, dict[str, float]]:
    inputs = np.asarray([row], dtype=np.float32)
    results = {}
    for name, percent, active in (("off", 0.0, False), ("10%", 10.0, True), ("100%", 100.0, True)):
        config = ShadowConfig(
            active=active, sample_percent=percent, candidate_model_version="m-x" if active else None
        )
        cache = ShadowConfigCache(FixedStore(config))
        cache.refresh()
        mirror = ShadowMirror(config=cache, sender=NullSender(), settings=MirrorSettings(capacity=calls + 10))
        timings = []
        for index in range(calls):
            started = time.perf_counter_ns()
            mirror.offer(
                request_id="r",
                inputs=inputs,
                predictions=[1],
                probabilities=[[0.1, 0.9]],
                model_version="m-live",
                function_version="1",
                inference_ms=0.05,
            )
            mirror.take_counters()
            timings.append((time.perf_counter_ns() - started) / 1000.0)
            if index % 1000 == 999:
                while not mirror._queue.empty():  # what the sender thread would take
                    mirror._queue.get_nowait()
        results[name] = summary(timings)
    return results


# -- B: the handler in worker processes -----------------------------------------------------------------


def handler_cost(rounds: int, block: int, rows: int) -> dict[str, Any]:
    target = BundleTarget.host()
    bundle = build_bundle_cached(
        "inference", REPO_ROOT / ".build" / "bench" / f"inference-{target.slug}", target=target
    )
    runtime = install_runtime_provided(target)
    model_dir = newest_model()
    metadata = json.loads((model_dir / "metadata.json").read_text())
    sample = [metadata["sample_rows"][i % len(metadata["sample_rows"])] for i in range(rows)]
    event = json.dumps(
        rest_proxy_event(
            "POST",
            "/predict",
            body=json.dumps({"instances": sample}),
            headers={"Content-Type": "application/json"},
        )
    ).encode()
    with moto_server() as endpoint, blackhole() as hole, fast_sqs() as sqs_endpoint:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        sqs = boto3.client(
            "sqs",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        for bucket in ("bench-off", "bench-on"):
            s3.create_bucket(Bucket=bucket)
        ShadowConfigStore(s3, "bench-off").save(ShadowConfig())
        ShadowConfigStore(s3, "bench-on").save(
            ShadowConfig(active=True, sample_percent=100, candidate_model_version=metadata["version"])
        )
        queue_url = sqs.create_queue(QueueName="shadow")["QueueUrl"]
        base = {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "POWERTOOLS_TRACE_DISABLED": "true"}
        function = {
            "MODEL_URI": str(model_dir),
            "POWERTOOLS_SERVICE_NAME": "inference",
            "POWERTOOLS_METRICS_NAMESPACE": "Bench",
            "LOG_LEVEL": "WARNING",
        }
        shadow_on = {"SHADOW_QUEUE_URL": queue_url, "SHADOW_CONFIG_URI": "s3://bench-on/control/shadow.json"}
        refused = f"http://127.0.0.1:{free_port()}"
        candidates = {
            "no-shadow": function,
            "off": {
                **function,
                "SHADOW_QUEUE_URL": queue_url,
                "SHADOW_CONFIG_URI": "s3://bench-off/control/shadow.json",
            },
            "on": {**function, **shadow_on, "AWS_ENDPOINT_URL_SQS": sqs_endpoint},
            "refused": {**function, **shadow_on, "AWS_ENDPOINT_URL_SQS": refused},
            "blackhole": {**function, **shadow_on, "AWS_ENDPOINT_URL_SQS": hole},
        }
        pools = {}
        emf: dict[str, dict[str, float]] = {name: {} for name in candidates}

        def sink_for(name: str) -> Any:
            def sink(label: str, line: str) -> None:  # the handler's EMF lines: what CloudWatch would count
                if '"_aws"' in line and "ShadowMirror" in line:
                    document = json.loads(line)
                    for key in ("ShadowMirrorSent", "ShadowMirrorFailed", "ShadowMirrorDropped"):
                        values = document.get(key)
                        if values is not None:
                            total = sum(values) if isinstance(values, list) else values
                            emf[name][key] = emf[name].get(key, 0) + total

            return sink

        for index, (name, environment) in enumerate(candidates.items()):
            spec = FunctionSpec(
                function_name="inference",
                version=str(index + 1),
                handler="inference.handler.handler",
                code_dir=bundle,
                environment=environment,
                timeout_s=15,
                memory_mb=1024,
                function_arn="arn:aws:lambda:us-east-1:123456789012:function:inference",
            )
            pools[name] = WorkerPool(
                spec, runtime_dirs=[runtime], base_env=base, max_workers=1, log_sink=sink_for(name)
            )
        try:
            for name, pool in pools.items():  # cold start, then warm: config read, clients, model
                first = pool.invoke(event)
                if first.status != "ok":
                    raise SystemExit(f"{name}: {first.status} {first.payload[:300]!r}")
                for _ in range(300):
                    pool.invoke(event)
            timings: dict[str, list[float]] = {name: [] for name in pools}
            order = list(pools)
            for _ in range(rounds):
                random.shuffle(order)
                for name in order:
                    pool, sink = pools[name], timings[name]
                    for _ in range(block):
                        result = pool.invoke(event)
                        sink.append(result.duration_ms * 1000.0)
            # The sender may still hold a backlog: wait until the endpoint stops receiving, then let one
            # more invocation of each drain the mirror's counters into its EMF line.
            drain_started = time.monotonic()
            queued, stable_since = -1, time.monotonic()
            while time.monotonic() - stable_since < 2 and time.monotonic() - drain_started < 120:
                count = received(sqs_endpoint)
                if count != queued:
                    queued, stable_since = count, time.monotonic()
                time.sleep(0.1)
            drain_s = stable_since - drain_started
            for pool in pools.values():
                pool.invoke(event)
        finally:
            for pool in pools.values():
                pool.close()
    baseline = statistics.median(timings["no-shadow"])
    mirrored = 302 + rounds * block
    return {
        "rows_per_request": rows,
        "on_requests": mirrored,
        "on_messages_in_queue": queued,
        "backlog_drained_after_s": round(drain_s, 1),
        "mirror_metrics": {name: counts for name, counts in emf.items() if counts},
        "candidates": {name: summary(values, baseline) for name, values in timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--block", type=int, default=25)
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="independent runs of B")
    parser.add_argument("--offer-calls", type=int, default=200_000)
    args = parser.parse_args()
    model = json.loads((newest_model() / "metadata.json").read_text())
    print("A. offer() + take_counters() on the request thread (microseconds)")
    for name, stats in offer_cost(args.offer_calls, model["sample_rows"][0]).items():
        print(f"  {name:<6} median {stats['median']:>6} us   p99 {stats['p99']:>6} us")
    for run in range(args.repeat):
        result = handler_cost(args.rounds, args.block, args.rows)
        print(
            f"B{run + 1}. invocation round trip through awslambdaric, {args.rows} row(s) per request "
            f"(microseconds); 'on' sent {result['on_messages_in_queue']} of {result['on_requests']} requests "
            f"(the last {result['backlog_drained_after_s']} s after the run)"
        )
        for name, stats in result["candidates"].items():
            added = stats.get("added_median", 0.0)
            counts = result["mirror_metrics"].get(name, {})
            shown = ", ".join(f"{k.removeprefix('ShadowMirror')} {v:g}" for k, v in sorted(counts.items()))
            print(
                f"  {name:<10} median {stats['median']:>8}   p99 {stats['p99']:>8}   added median {added:>7}"
                + (f"   ({shown})" if shown else "")
            )
        print("  " + json.dumps(result))


if __name__ == "__main__":
    main()
