"""The local cloud's gateway under a bounded concurrent load on loopback, and what one request costs.

Load: `bench.loadgen` in its own process (so the client does not compete with the gateway for
this process's GIL): 16 closed-loop clients, each on one keep-alive connection, for 20 s after a
warm-up of 3 s (the warm-up starts the version's workers). Every request is accounted for:
`lost` counts requests with no HTTP answer, `not_ok` any answer other than 200.

Breakdown, sequential and interleaved: one HTTP request through the gateway; the router alone
(`LambdaRouter.invoke`: the alias routing from its cache, then the worker); the warm worker alone
(`FunctionRuntime.invoke` on the resolved version: Runtime API, RIC, handler); and one moto
`GetAlias` call, which the router makes once per cache TTL or alias write (it used to make one per
request).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from bench.core import REPO_ROOT, BenchResult, Candidate, Measurement, judge, log, now_iso, time_interleaved
from bench.model import served_artifact_dir
from bench.suite import Suite
from common.layout import METADATA_FILE

NAME = "gateway"
TITLE = "local cloud gateway under concurrent load"
CLIENTS = 16


class KeepAliveClient:
    def __init__(self, url: str, headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(url)
        self.path = parts.path
        self.connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port or 80, timeout=30
        )
        self.headers = {**headers, "Content-Type": "application/json"}
        self.body = body

    def post(self) -> str:
        self.connection.request("POST", self.path, body=self.body, headers=self.headers)
        response = self.connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"gateway answered {response.status}")
        return response.headers.get("X-Function-Version", "?")

    def close(self) -> None:
        self.connection.close()


def run_load(url: str, key: str, body: str, *, seconds: float, warmup: float) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        url,
        "--body",
        body,
        "--header",
        "Content-Type: application/json",
        "--header",
        f"x-api-key: {key}",
        "--clients",
        str(CLIENTS),
        "--seconds",
        str(seconds),
        "--warmup",
        str(warmup),
    ]
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=seconds + warmup + 120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"load generator failed: {result.stderr.strip()[-1500:]}")
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def run(suite: Suite) -> BenchResult:
    from localcloud.events import rest_proxy_event

    started = time.monotonic()
    quick = suite.quick
    cloud = suite.cloud.get()
    assert cloud.router is not None and cloud.runtime is not None and cloud.clients is not None
    router, runtime, lambda_ = cloud.router, cloud.runtime, cloud.clients.lambda_
    function, alias = cloud.serving_function()
    key = cloud.api_key or ""
    url = f"{cloud.api_url}/predict"
    row = json.loads((served_artifact_dir() / METADATA_FILE).read_text())["sample_rows"][0]
    body = json.dumps({"instances": [row]})

    log(f"{NAME}: sequential breakdown")
    client = KeepAliveClient(url, {"x-api-key": key}, body.encode())
    client.post()  # starts a worker
    event = rest_proxy_event("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
    event_bytes = json.dumps(event).encode()
    version = router.choose_version(function, alias)
    spec = router.spec(function, version)

    def via_router() -> object:
        return router.invoke(function, alias, event_bytes)

    def via_worker() -> object:
        return runtime.invoke(spec, event_bytes, invoked_qualifier=alias)

    def get_alias() -> object:
        return lambda_.get_alias(FunctionName=function, Name=alias)

    candidates = [
        Candidate("http", client.post),
        Candidate("router", via_router),
        Candidate("worker", via_worker),
        Candidate("get_alias", get_alias),
    ]
    timings = time_interleaved(candidates, rounds=5 if quick else 10, block=10 if quick else 20, warmup=20)
    client.close()

    seconds, warmup = (8.0, 2.0) if quick else (20.0, 3.0)
    log(f"{NAME}: {CLIENTS} clients for {seconds:g} s after {warmup:g} s of warm-up")
    load = run_load(url, key, body, seconds=seconds, warmup=warmup)

    ms = 1e-6
    summaries = {name: t.summary(scale=ms) for name, t in timings.items()}
    lost, not_ok = int(load["lost"]), int(load["not_ok"])
    measurements = [
        Measurement(
            key="under_load",
            what=f"gateway, {CLIENTS} keep-alive clients, {seconds:g} s: latency",
            unit="ms",
            samples=int(load.get("samples", 0)),
            median=load.get("p50_ms"),
            p99=load.get("p99_ms"),
            target=judge("no request lost", [("lost", lost == 0), ("non-200", not_ok == 0)]),
            extra={"sent": load["sent"], "ok": load["ok"], "lost": lost, "not_ok": not_ok},
        ),
        Measurement(
            key="throughput",
            what=f"gateway, {CLIENTS} keep-alive clients, {seconds:g} s: throughput",
            unit="req/s",
            samples=int(load["ok"]),
            median=float(load["requests_per_s"]),
            extra={"lost": lost, "not_ok": not_ok},
        ),
    ]
    labels = {
        "http": "1 client, sequential: HTTP through the gateway",
        "router": "router alone (cached alias routing + worker)",
        "worker": "warm worker alone (Runtime API, RIC, handler)",
        "get_alias": "moto GetAlias (what the router read per request before its alias cache)",
    }
    http_median = summaries["http"].median
    for name, label in labels.items():
        s = summaries[name]
        measurements.append(
            Measurement(
                key=f"sequential_{name}",
                what=label,
                unit="ms",
                samples=s.samples,
                median=s.median,
                p99=s.p99,
                level=1,
                note=f"{s.median / http_median:.0%} of one HTTP request",
            )
        )
    workers = max((len(pool.worker_pids()) for pool in runtime.pools()), default=0)
    details = {
        "load": load,
        "max_workers_per_version": cloud.settings.max_workers_per_version,
        "workers": workers,
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
