"""Sticky routing's hop, on the local cloud: what a keyed request costs when the alias drew the other version.

A second version of the inference function (same code and model) is published and the alias set to
50/50. Requests go one at a time through the gateway: a key that belongs to the second version
(so about half of its requests land on the first version and are re-invoked there: the hop), and
requests without a key, interleaved. Each keyed answer is classed by `X-Routing-Forwarded-From`.
The hop's price is the difference of the medians, hopped minus direct; on AWS the hop is a
synchronous Invoke instead of the local Lambda API, so only the shape carries over (docs/routing.md).
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.core import BenchResult, Measurement, Summary, log, now_iso
from bench.gateway import KeepAliveClient
from bench.model import served_artifact_dir
from bench.suite import Suite
from common.layout import METADATA_FILE

NAME = "sticky_hop"
TITLE = "sticky routing: a keyed request that hops to its version vs one served where it landed"
FORWARDED = "X-Routing-Forwarded-From"


def _publish_second_version(cloud: Any) -> tuple[str, str, str]:
    lam = cloud.clients.lambda_
    function, alias = cloud.serving_function()
    original = dict(lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"])
    lam.update_function_configuration(
        FunctionName=function, Environment={"Variables": {**original, "STICKY_BENCH": "2"}}
    )
    version = str(lam.publish_version(FunctionName=function, Description="sticky bench")["Version"])
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": original})
    return function, alias, version


def run(suite: Suite) -> BenchResult:
    from inference.sticky import AliasSplit

    started = time.monotonic()
    requests = 150 if suite.quick else 400
    cloud = suite.cloud.get()
    assert cloud.clients is not None
    function, alias, version = _publish_second_version(cloud)
    lam = cloud.clients.lambda_
    answer: Any = lam.update_alias(
        FunctionName=function,
        Name=alias,
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {version: 0.5}},
    )
    split = AliasSplit.from_alias(answer)
    key = next(k for k in (f"bench-user-{i}" for i in range(1000)) if split.version_for(k) == version)
    row = json.loads((served_artifact_dir() / METADATA_FILE).read_text())["sample_rows"][0]
    body = json.dumps({"instances": [row]}).encode()
    base = {"x-api-key": cloud.api_key or ""}
    keyed = KeepAliveClient(f"{cloud.api_url}/predict", {**base, "X-Routing-Key": key}, body)
    plain = KeepAliveClient(f"{cloud.api_url}/predict", base, body)
    hopped: list[float] = []
    direct: list[float] = []
    unkeyed: list[float] = []
    try:
        log(f"{NAME}: {requests} keyed + {requests} unkeyed requests, alias 1 + v{version} at 50%")
        for _ in range(20):  # warm-up: both versions' workers
            keyed.post(), plain.post()
        for _ in range(requests):
            t0 = time.perf_counter()
            keyed.connection.request("POST", keyed.path, body=keyed.body, headers=keyed.headers)
            response = keyed.connection.getresponse()
            response.read()
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status != 200 or response.headers.get("X-Function-Version") != version:
                raise RuntimeError(f"keyed request answered {response.status} by {response.headers}")
            (hopped if response.headers.get(FORWARDED) else direct).append(elapsed)
            t0 = time.perf_counter()
            plain.post()
            unkeyed.append((time.perf_counter() - t0) * 1000)
    finally:
        keyed.close()
        plain.close()
        lam.update_alias(
            FunctionName=function,
            Name=alias,
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
    rows = [
        ("hopped", "keyed, hopped to its version (X-Routing-Forwarded-From)", hopped),
        ("direct", "keyed, the alias drew its version: no hop", direct),
        ("unkeyed", "no key: weighted by the alias as before", unkeyed),
    ]
    measurements = []
    for key_name, what, samples in rows:
        summary = Summary.of(samples)
        measurements.append(
            Measurement(
                key=key_name,
                what=what,
                unit="ms",
                samples=summary.samples,
                median=summary.median,
                p99=summary.p99,
                level=0 if key_name == "hopped" else 1,
            )
        )
    hop_ms = Summary.of(hopped).median - Summary.of(direct).median
    return BenchResult(
        name=NAME,
        title=TITLE,
        status="ok",
        measurements=tuple(measurements),
        details={
            "hop_ms_median_difference": round(hop_ms, 2),
            "hopped_share": round(len(hopped) / requests, 3),
        },
        wall_s=time.monotonic() - started,
        measured_at=now_iso(),
    )
