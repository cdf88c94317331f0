"""A bounded load test on loopback: `make loadtest` (or `python -m reliability.loadtest`).

Starts a fresh local cloud, turns a shadow on for every request, then sends a fixed number of
`POST /predict` requests at a steady rate from many keep-alive clients (an open schedule: request i
is due at start + i / rate, whichever client is free takes it). Then it waits until the local cloud
has delivered every log line to the recorder and the shadow queue is empty, and accounts for
everything (reliability/accounting.py):

- requests: sent = answered + lost (lost: a connection error or no answer within the timeout);
- answered (200) = requests in the prediction log's rows + in the recorder's DLQ + unaccounted;
- drawn by the shadow (`ShadowSampled`, 100% here) = shadow records + shadow DLQ + recorder DLQ +
  unaccounted; both unaccounted counts must be 0.

Prints one table and writes the figures as JSON (default reliability/results.json). Timings are
reported, never asserted; tests/e2e/test_faults.py runs a short variant and asserts the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.core import Summary
from bench.loadgen import Connection, build_request
from common.layout import metadata_key
from localcloud.cloud import REPO_ROOT, LocalCloud, LocalCloudSettings
from reliability.accounting import (
    SHADOW_SAMPLED,
    RequestAccount,
    ShadowAccount,
    config_ttl_seconds,
    dead_letter_ids,
    function_version_dimensions,
    logged_ids,
    metric_sum,
    prediction_log_ids,
    queue_depth,
    recorder_dead_letters,
    request_ids,
    settle_mirroring,
    wait_until,
)

RESULTS = Path(__file__).resolve().parent / "results.json"
CONNECTION_ERRORS = (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError, IndexError)


@dataclass(frozen=True)
class LoadSettings:
    seconds: float = 60.0
    rate: float = 10.0
    """Requests per second, all clients together."""
    clients: int = 32
    timeout_s: float = 30.0
    drain_timeout_s: float = 480.0
    """For the log's delivery and then the shadow queue; longer than the shadow queue's visibility
    timeout (6 x 60 s): a message whose delete was lost comes back after it."""

    @property
    def requests(self) -> int:
        return int(self.seconds * self.rate)


@dataclass
class Tally:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)


async def paced_load(url: str, bodies: list[bytes], headers: dict[str, str], settings: LoadSettings) -> Tally:
    """Send `settings.requests` requests, request i due at start + i / rate, over `clients` connections."""
    payloads = [build_request(url, body, headers) for body in bodies]
    tally = Tally()
    loop = asyncio.get_running_loop()
    start = loop.time()
    next_index = 0

    async def client() -> None:
        nonlocal next_index
        host, port, _ = payloads[0]
        connection = Connection(host, port)
        while next_index < settings.requests:
            index, next_index = next_index, next_index + 1
            delay = start + index / settings.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tally.sent += 1
            began = time.perf_counter()
            try:
                status, _, _ = await asyncio.wait_for(
                    connection.request(payloads[index % len(payloads)][2]), settings.timeout_s
                )
            except TimeoutError:
                tally.lost["timeout"] += 1
                await connection.close()
                continue
            except CONNECTION_ERRORS as exc:
                tally.lost[type(exc).__name__] += 1
                await connection.close()
                continue
            tally.latencies_ms.append((time.perf_counter() - began) * 1000)
            tally.statuses[status] += 1
        await connection.close()

    await asyncio.gather(*(client() for _ in range(settings.clients)))
    return tally


def shadow_resources(cloud: LocalCloud) -> tuple[str, str, str]:
    """(queue URL, dead-letter queue URL, log bucket) of the shadow stack."""
    assert cloud.event_sources is not None and cloud.deployment is not None
    (poller,) = cloud.event_sources.pollers
    return poller.queue_url, stack_output(cloud, "DeadLetterQueueUrl"), stack_output(cloud, "LogBucketName")


def stack_output(cloud: LocalCloud, name: str) -> str:
    """The stack output named exactly `name` (`Deployment.output` matches a part of the name, and
    `RecorderDeadLetterQueueUrl` contains `DeadLetterQueueUrl`)."""
    assert cloud.deployment is not None
    for stack in cloud.deployment.stacks:
        if name in stack.outputs:
            return str(stack.outputs[name])
    raise KeyError(f"no stack output named {name!r}")


def whole_second() -> datetime:
    """The next whole second, once it has come: CloudWatch counts in whole seconds, so the window
    starts on one (the warm-up's requests stay before it)."""
    now = datetime.now(UTC)
    start = now.replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((start - now).total_seconds())
    return start


def drain(cloud: LocalCloud, queue_url: str, timeout_s: float) -> dict[str, Any]:
    """Wait until every logged line is delivered to the recorder (the local cloud's wait), then until
    the shadow queue is empty. What did not arrive in time is reported as unaccounted, not raised."""
    assert cloud.clients is not None
    sqs = cloud.clients.sqs
    deadline = time.monotonic() + timeout_s
    delivered = cloud.wait_logs_delivered(timeout_s)
    with contextlib.suppress(TimeoutError):
        wait_until(
            lambda: queue_depth(sqs, queue_url) == 0,
            timeout_s=max(1.0, deadline - time.monotonic()),
            what="the shadow queue draining",
        )
    report = cloud.subscriptions.report() if cloud.subscriptions is not None else {}
    return {"delivered": delivered, **report}


def measure(cloud: LocalCloud, rows: list[list[float]], settings: LoadSettings) -> dict[str, Any]:
    """Run the load against a cloud whose shadow draws every request; return the figures."""
    assert cloud.clients is not None and cloud.deployment is not None
    queue_url, dlq_url, bucket = shadow_resources(cloud)
    recorder_dlq_url = stack_output(cloud, "RecorderDeadLetterQueueUrl")
    sqs, s3 = cloud.clients.sqs, cloud.clients.s3
    bodies = [json.dumps({"instances": [row]}).encode() for row in rows]
    headers = {"Content-Type": "application/json", "x-api-key": cloud.api_key or ""}
    since = whole_second()
    began = time.perf_counter()
    tally = asyncio.run(paced_load(f"{cloud.api_url}/predict", bodies, headers, settings))
    elapsed = time.perf_counter() - began
    drained_in = time.perf_counter()
    delivery = drain(cloud, queue_url, settings.drain_timeout_s)
    drained_in = time.perf_counter() - drained_in
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    cloud.evaluate_alarms()  # ships the metrics the functions emitted
    logged = prediction_log_ids(s3, bucket, since, until)
    kept = recorder_dead_letters(sqs, recorder_dlq_url, since, until)
    recorded = RequestAccount.of(tally.statuses.get(200, 0), logged.answered, kept.answered)
    shadow = ShadowAccount.of(
        metric_sum(
            cloud.clients.cloudwatch,
            metrics_namespace(cloud),
            SHADOW_SAMPLED,
            function_version_dimensions(cloud.clients.lambda_, cloud.serving_function()[0]),
            since,
            until,
        ),
        logged.drawn,
        request_ids(logged_ids(s3, bucket, since, until)),
        request_ids(dead_letter_ids(sqs, dlq_url, since, until)),
        kept.drawn,
    )
    answered = sum(tally.statuses.values())
    latency = Summary.of(tally.latencies_ms) if tally.latencies_ms else None
    return {
        "settings": asdict(settings),
        "requests": settings.requests,
        "sent": tally.sent,
        "answered": answered,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "lost": tally.sent - answered,
        "lost_by_kind": dict(tally.lost),
        "achieved_rate_per_s": round(tally.sent / elapsed, 2) if elapsed > 0 else 0.0,
        "p50_ms": round(latency.median, 2) if latency else None,
        "p99_ms": round(latency.p99, 2) if latency else None,
        "max_ms": round(latency.maximum, 2) if latency else None,
        "recorded": recorded.to_json(),
        "shadow": shadow.to_json(),
        "log_delivery": delivery,
        "drain_s": round(drained_in, 1),
    }


def metrics_namespace(cloud: LocalCloud) -> str:
    assert cloud.clients is not None
    function, _ = cloud.serving_function()
    configuration = cloud.clients.lambda_.get_function_configuration(FunctionName=function)
    return str(configuration["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"])


def start_shadow(cloud: LocalCloud, model_version: str) -> None:
    """`modelctl shadow start <model> --sample 100`, as an operator runs it against the local cloud."""
    env = {
        **os.environ,
        **cloud.environment(),
        "MODELCTL_LOCAL_DEPLOYMENT": str(cloud.settings.state_dir / "deployment.json"),
    }
    subprocess.run(
        [sys.executable, "-m", "modelctl.cli", "shadow", "start", model_version, "--sample", "100"],
        env=env,
        check=True,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )


def live_rows(cloud: LocalCloud) -> list[list[float]]:
    """The live model's sample rows (from its metadata in the model store)."""
    assert cloud.clients is not None and cloud.deployment is not None
    bucket = cloud.deployment.output("ModelBucketName")
    key = metadata_key(cloud.deployment.output("ModelVersion"))
    metadata = json.loads(cloud.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return [list(map(float, row)) for row in metadata["sample_rows"]]


def prepare_shadow(cloud: LocalCloud) -> list[list[float]]:
    """Turn the shadow on (the live model as its own candidate) and wait until its draws are scored."""
    assert cloud.clients is not None and cloud.deployment is not None
    start_shadow(cloud, str(cloud.deployment.output("ModelVersion")))
    rows = live_rows(cloud)
    queue_url, _, bucket = shadow_resources(cloud)
    request = urllib.request.Request(
        f"{cloud.api_url}/predict",
        data=json.dumps({"instances": [rows[0]]}).encode(),
        headers={"Content-Type": "application/json", "x-api-key": cloud.api_key or ""},
    )

    def probe() -> None:
        """One warm-up request; a cold start that fails on a busy machine is only retried."""
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except urllib.error.HTTPError as error:
            print(f"probe answered {error.code}; retrying", file=sys.stderr)

    function, _ = cloud.serving_function()
    settle_mirroring(
        probe,
        s3=cloud.clients.s3,
        bucket=bucket,
        sqs=cloud.clients.sqs,
        queue_url=queue_url,
        config_ttl_s=config_ttl_seconds(cloud.clients.lambda_, function),
    )
    return rows


def render(figures: dict[str, Any]) -> str:
    recorded, shadow, delivery = figures["recorded"], figures["shadow"], figures["log_delivery"]
    settings = figures["settings"]
    lines = [
        f"load: {settings['seconds']:g} s at {settings['rate']:g} req/s from {settings['clients']} clients "
        f"(achieved {figures['achieved_rate_per_s']} req/s)",
        f"  requests   sent {figures['sent']}  answered {figures['answered']}  lost {figures['lost']}  "
        f"statuses {figures['statuses']}",
        f"  latency    p50 {figures['p50_ms']} ms  p99 {figures['p99_ms']} ms  max {figures['max_ms']} ms",
        f"  log        answered 200 {recorded['answered']}  in prediction-log rows {recorded['logged']}  "
        f"in recorder DLQ {recorded['recorder_dead_lettered']}  unaccounted {recorded['unaccounted']}",
        f"  shadow     drawn (ShadowSampled) {shadow['sampled']}  "
        f"marked in the log {shadow['marked_in_log']}  "
        f"scored {shadow['scored']}  in shadow DLQ {shadow['shadow_dead_lettered']}  "
        f"in recorder DLQ {shadow['recorder_dead_lettered']}  unaccounted {shadow['unaccounted']}",
        f"  delivery   all delivered {delivery.get('delivered')}  events delivered "
        f"{delivery.get('events_delivered')}  dead-lettered {delivery.get('events_dead_lettered')}  "
        f"discarded {delivery.get('events_discarded')}  (drained {figures['drain_s']} s after the load)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="bounded load on the local cloud, shadow on; counts every request"
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second, all clients together")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--cdk-out", type=Path, default=REPO_ROOT / "cdk.out")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the figures")
    args = parser.parse_args(argv)
    settings = LoadSettings(seconds=args.seconds, rate=args.rate, clients=args.clients)
    with tempfile.TemporaryDirectory(prefix="loadtest-") as state:
        cloud_settings = LocalCloudSettings(state_dir=Path(state), cdk_out=args.cdk_out, resume=False)
        with LocalCloud(cloud_settings) as cloud:
            rows = prepare_shadow(cloud)
            figures = measure(cloud, rows, settings)
    figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(render(figures))
    args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0 if accounted(figures) else 1


def accounted(figures: dict[str, Any]) -> bool:
    """No request lost, every answered one in the log, every drawn one scored or kept. A negative
    unaccounted count is not a loss: requests the load did not send were recorded in the window too
    (a release's pre-traffic check invokes the new version directly)."""
    return bool(
        figures["lost"] == 0
        and figures["recorded"]["unaccounted"] <= 0
        and figures["shadow"]["unaccounted"] <= 0
    )


if __name__ == "__main__":
    sys.exit(main())
