"""An unreachable shadow configuration leaves the live response unchanged and fast.

Real botocore clients against real loopback sockets: a closed port (connection refused) and a
"blackhole" that accepts connections and never answers (the read timeout is what ends each try).
The request thread must never wait for either: the configuration is re-read by a one-shot thread a
request starts, every response is the one the model gives without a shadow, each comes back far
sooner than the network timeouts the read is stuck in, and the failures are counted and logged once.
"""

from __future__ import annotations

import io
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from common.mirror.config import ShadowConfigCache, ShadowConfigStore
from common.mirror.request_mirror import CONFIG_ERRORS, MirrorSettings, RequestMirror, fast_client_config
from common.model.metadata import ModelMetadata
from common.model.onnx_model import OnnxModel
from inference.api import create_app
from inference.service import InferenceService
from localcloud.events import rest_proxy_event
from tests.helpers import FakeLambdaContext

TIMEOUT_S = 1.0  # the configuration client's connect and read timeouts here: above any request's time
FAST_ENOUGH_S = 0.25  # each request must finish before the read could even have timed out once


class Warnings:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def warning(self, message: str, *, extra: dict[str, Any]) -> None:
        self.lines.append(extra)


@pytest.fixture()
def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture()
def blackhole() -> Iterator[str]:
    """Accepts every connection, reads nothing, answers nothing."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
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
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(1)
    for connection in held:
        connection.close()
    server.close()


def mirror_to(endpoint: str, log: Warnings) -> RequestMirror:
    settings = MirrorSettings(connect_timeout_s=TIMEOUT_S, read_timeout_s=TIMEOUT_S, log_interval_s=60)
    s3 = boto3.session.Session().client(
        "s3", region_name="us-east-1", endpoint_url=endpoint, config=fast_client_config(settings)
    )
    config = ShadowConfigCache(ShadowConfigStore(s3, "logs"), ttl_s=0.01)
    return RequestMirror(config=config, settings=settings, log=log, rng=random.Random(0))


def call(app: Any, rows: list[list[float]]) -> tuple[dict[str, Any], float]:
    event = rest_proxy_event(
        "POST", "/predict", body=json.dumps({"instances": rows}), headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    response: dict[str, Any] = app.handle(event, FakeLambdaContext(function_version="1"))
    return response, time.perf_counter() - started


@pytest.mark.parametrize("endpoint_fixture", ["closed_port", "blackhole"])
def test_an_unreachable_configuration_leaves_the_live_response_unchanged_and_fast(
    endpoint_fixture: str, request: pytest.FixtureRequest, trained_model: tuple[Path, ModelMetadata]
) -> None:
    endpoint: str = request.getfixturevalue(endpoint_fixture)
    model = OnnxModel.load(trained_model[0])
    service = InferenceService(model)
    emitted = io.StringIO()  # the sampled app's log and EMF lines
    log = Warnings()
    mirror = mirror_to(endpoint, log)
    plain = create_app(service, namespace="ShadowMirrorTest", service_name="plain", stream=io.StringIO())
    sampled = create_app(
        service, namespace="ShadowMirrorTest", service_name="sampled", mirror=mirror, stream=emitted
    )
    rows = [list(map(float, row)) for row in model.metadata.sample_rows[:2]]
    slowest = 0.0
    errors = 0
    deadline = time.monotonic() + 4 * TIMEOUT_S + 2
    while errors < 2:  # until two reads have failed (each after its timeout, or refused at once)
        assert time.monotonic() < deadline, f"{errors} configuration read errors counted"
        expected, _ = call(plain, rows)
        response, elapsed = call(sampled, rows)
        slowest = max(slowest, elapsed)
        assert response["statusCode"] == expected["statusCode"] == 200
        assert response["body"] == expected["body"]
        # The app drains the sampler's counters into the invocation's metrics (EMF) on each request.
        lines = [json.loads(line) for line in emitted.getvalue().splitlines() if '"_aws"' in line]
        errors = int(sum(line.get(CONFIG_ERRORS, [0])[0] for line in lines))
    assert slowest < FAST_ENOUGH_S, f"a request took {slowest:.3f} s while S3 was unreachable"
    assert len(log.lines) == 1, "one warning per interval, not one per request"
    assert "cannot read s3://logs/" in log.lines[0]["last_error"]


def test_no_retry_means_one_connection_attempt_per_read(blackhole: str) -> None:
    """botocore's `max_attempts: 1` would retry once; `total_max_attempts: 1` does not retry."""
    settings = MirrorSettings(connect_timeout_s=0.3, read_timeout_s=0.3)
    s3 = boto3.session.Session().client(
        "s3", region_name="us-east-1", endpoint_url=blackhole, config=fast_client_config(settings)
    )
    started = time.perf_counter()
    with pytest.raises(Exception, match="Read timeout"):
        ShadowConfigStore(s3, "logs").read()
    elapsed = time.perf_counter() - started
    assert 0.3 <= elapsed < 0.55, f"{elapsed:.2f} s: more than one attempt"
