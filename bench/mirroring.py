"""Mirroring cost: the live path with shadow off, on, and with the queue unreachable, local cloud.

Lights up when the inference function can mirror (`common.mirror.request_mirror.mirror_from_environment`,
wired by `SHADOW_QUEUE_URL` and `SHADOW_CONFIG_URI`); skipped with the reason otherwise.

The serving version's spec is run in the local cloud's function runtime under variants that
differ only in environment, each with its own warm worker, and invoked interleaved
(`FunctionRuntime.invoke`: Runtime API, RIC, the handler; the gateway and alias read are left out
because their jitter is larger than what is measured here):

- off, not wired: no shadow variables (a stack without the shadow construct);
- off, wired: variables set, the configuration object inactive (`modelctl shadow stop`);
- on: active, 100% sampled, a real (moto) SQS queue; the messages are checked to arrive;
- queue refusing connections: SQS endpoint overridden (`AWS_ENDPOINT_URL_SQS`) to a closed
  loopback port;
- queue never answering: SQS endpoint overridden to a loopback socket that accepts and stays
  silent, so every send waits for the read timeout.

Targets (issue #7): on adds <= 1 ms at p50; an unreachable queue adds no more than the configured
bound (the mirror's connect + read timeouts) at p99.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.core import (
    REPO_ROOT,
    BenchResult,
    Candidate,
    Measurement,
    Timings,
    baseline,
    judge,
    log,
    now_iso,
    paired_delta,
    skipped,
    time_interleaved,
)
from bench.model import served_artifact_dir
from bench.suite import Suite
from common.layout import METADATA_FILE

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

NAME = "mirroring"
TITLE = "mirroring cost on the live path"
TARGET_ON_MS = 1.0
SHADOW_VARIABLES = ("SHADOW_QUEUE_URL", "SHADOW_CONFIG_URI")


def missing() -> str | None:
    """Why mirroring cannot be measured yet, or None."""
    try:
        module = importlib.import_module("common.mirror.request_mirror")
    except Exception as exc:
        return f"common.mirror.request_mirror does not import ({type(exc).__name__}: {exc})"
    if not hasattr(module, "mirror_from_environment"):
        return "common.mirror.request_mirror has no mirror_from_environment"
    if not hasattr(module, "SqsBatchSender"):
        return (
            "the inference function no longer sends to SQS (the recorder does, docs/prediction-log.md): "
            "python -m bench.warm_handler_recorded measures the wired handler side by side"
        )
    handler_source = (REPO_ROOT / "functions" / "inference" / "handler.py").read_text()
    if "mirror_from_environment" not in handler_source:
        return "the inference handler does not create a mirror"
    return None


class Blackhole:
    """A loopback TCP server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server.getsockname()[1])

    def _accept(self) -> None:
        self.server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self.connections:
            connection.close()
        self.server.close()


def closed_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


def shadow_config(active: bool, candidate: str) -> str:
    from common.mirror.config import ShadowConfig

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    config = ShadowConfig(
        active=active,
        sample_percent=100.0 if active else 0.0,
        candidate_model_version=candidate if active else None,
        candidate_source="bench",
        started_at=now,
        updated_at=now,
    )
    return config.to_json()


def _ok(result: Any) -> bool:
    if result.status != "ok":
        return False
    try:
        return bool(json.loads(result.payload).get("statusCode") == 200)
    except ValueError:
        return False


LABELS = {
    "off_unwired": "shadow off, not wired (no shadow variables)",
    "off_wired": "shadow off, wired (configuration inactive)",
    "on": "shadow on, 100% sampled, queue reachable",
    "refused": "shadow on, queue refusing connections",
    "silent": "shadow on, queue accepting but never answering",
}


@dataclass(frozen=True)
class Fixtures:
    bucket: str
    queue_inprocess: str
    queue_worker: str
    refused_port: int
    silent_port: int

    def environments(self, queue_url: str) -> dict[str, dict[str, str]]:
        """The shadow variables of each variant (added to the function's own environment)."""
        on = {"SHADOW_QUEUE_URL": queue_url, "SHADOW_CONFIG_URI": f"s3://{self.bucket}/control/on.json"}
        return {
            "off_unwired": {},
            "off_wired": {**on, "SHADOW_CONFIG_URI": f"s3://{self.bucket}/control/off.json"},
            "on": on,
            "refused": {**on, "AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{self.refused_port}"},
            "silent": {**on, "AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{self.silent_port}"},
        }


def queue_depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def measure_in_process(fixtures: Fixtures, rounds: int, block: int) -> tuple[dict[str, Timings], list[str]]:
    """The real handler imported once per variant in this process; boto3 reaches the local cloud's
    moto through the endpoint the local cloud exported. Precise to microseconds."""
    from bench.inprocess import BenchContext, devnull, load_handler, predict_event

    artifact = served_artifact_dir()
    sink = devnull()
    row = json.loads((artifact / METADATA_FILE).read_text())["sample_rows"][0]
    event, context = predict_event([row]), BenchContext()
    modules = {
        name: load_handler(artifact, sink, extra_env=env)
        for name, env in fixtures.environments(fixtures.queue_inprocess).items()
    }
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(
        m.app.mirror.config.loaded for m in modules.values() if m.app.mirror is not None
    ):
        time.sleep(0.05)
    failures: list[str] = []

    def caller(name: str) -> Any:
        handler = modules[name].handler
        return lambda: handler(event, context)

    try:
        with contextlib.redirect_stdout(sink):
            for name in modules:
                answer = caller(name)()
                if answer.get("statusCode") != 200:
                    failures.append(f"in-process {name}: {answer!r}"[:300])
            candidates = [Candidate(name, caller(name)) for name in modules]
            timings = time_interleaved(candidates, rounds=rounds, block=block, warmup=100)
            on_mirror = modules["on"].app.mirror
            if on_mirror is not None:
                on_mirror.flush(10.0)
    finally:
        for module in modules.values():
            if module.app.mirror is not None:
                module.app.mirror.close()
    return timings, failures


def measure_workers(
    cloud: LocalCloud, fixtures: Fixtures, rounds: int, block: int
) -> tuple[dict[str, Timings], list[str]]:
    """The serving version's spec under each environment, one warm worker each, in the local cloud."""
    from localcloud.events import rest_proxy_event

    assert cloud.router is not None and cloud.runtime is not None
    router, runtime = cloud.router, cloud.runtime
    function, alias = cloud.serving_function()
    spec = router.spec(function, router.choose_version(function, alias))
    base = {k: v for k, v in spec.environment.items() if k not in SHADOW_VARIABLES}
    specs = {
        name: dataclasses.replace(spec, version=f"{spec.version}-bench-{name}", environment={**base, **env})
        for name, env in fixtures.environments(fixtures.queue_worker).items()
    }
    row = json.loads((served_artifact_dir() / METADATA_FILE).read_text())["sample_rows"][0]
    body = json.dumps({"instances": [row]})
    headers = {"Content-Type": "application/json"}
    event = json.dumps(rest_proxy_event("POST", "/predict", body=body, headers=headers)).encode()
    answers: list[tuple[str, Any]] = []

    def invoker(name: str) -> Any:
        variant = specs[name]

        def call() -> object:
            result = runtime.invoke(variant, event, invoked_qualifier=alias)
            answers.append((name, result))  # checked after timing
            return result

        return call

    try:
        for name in specs:
            invoker(name)()
        time.sleep(1.0)  # the mirrors read their configuration on their sender threads
        candidates = [Candidate(name, invoker(name)) for name in specs]
        timings = time_interleaved(candidates, rounds=rounds, block=block, warmup=10)
        time.sleep(1.0)
    finally:
        for variant in specs.values():
            runtime.pool(variant).close()
    failures = [f"worker {name}: {r.status} {r.payload[:200]!r}" for name, r in answers if not _ok(r)]
    return timings, failures


def run(suite: Suite) -> BenchResult:
    why = missing()
    if why is not None:
        return skipped(NAME, TITLE, f"not available yet: {why}")
    from common.mirror.request_mirror import MirrorSettings

    started = time.monotonic()
    cloud: LocalCloud = suite.cloud.get()
    assert cloud.clients is not None
    candidate = served_artifact_dir().name
    suffix = uuid.uuid4().hex[:8]
    bucket = f"bench-shadow-{suffix}"
    s3, sqs = cloud.clients.s3, cloud.clients.client("sqs")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="control/on.json", Body=shadow_config(True, candidate).encode())
    s3.put_object(Bucket=bucket, Key="control/off.json", Body=shadow_config(False, candidate).encode())
    blackhole = Blackhole()
    fixtures = Fixtures(
        bucket=bucket,
        queue_inprocess=sqs.create_queue(QueueName=f"bench-shadow-{suffix}-a")["QueueUrl"],
        queue_worker=sqs.create_queue(QueueName=f"bench-shadow-{suffix}-b")["QueueUrl"],
        refused_port=closed_port(),
        silent_port=blackhole.port,
    )
    try:
        log(f"{NAME}: the handler in-process, one import per variant")
        rounds, block = (8, 50) if suite.quick else (20, 100)
        local, local_failures = measure_in_process(fixtures, rounds, block)
        log(f"{NAME}: one local-cloud worker per variant")
        rounds, block = (10, 8) if suite.quick else (30, 10)
        workers, worker_failures = measure_workers(cloud, fixtures, rounds, block)
        delivered_inprocess = queue_depth(sqs, fixtures.queue_inprocess)
        delivered_worker = queue_depth(sqs, fixtures.queue_worker)
    finally:
        blackhole.close()

    settings = MirrorSettings()
    bound_ms = (settings.connect_timeout_s + settings.read_timeout_s) * 1000
    us = {name: t.summary() for name, t in local.items()}
    ms = {name: t.summary(scale=1e-6) for name, t in workers.items()}
    off, on = us["off_wired"], us["on"]
    on_added = paired_delta(local["on"], local["off_wired"])
    on_added_ms = on_added.median / 1000
    unreachable_added_ms = (max(us["refused"].p99, us["silent"].p99) - off.p99) / 1000
    failures = local_failures + worker_failures
    target = judge(
        f"on adds <= {TARGET_ON_MS:g} ms at p50; unreachable queue adds <= {bound_ms:g} ms "
        "(connect + read timeout) at p99",
        [
            ("on p50", on_added_ms <= TARGET_ON_MS),
            ("unreachable p99", unreachable_added_ms <= bound_ms),
            ("messages delivered", delivered_inprocess > 0 and delivered_worker > 0),
            ("every request answered 200", not failures),
        ],
    )
    measurements = [
        Measurement(
            key="inprocess_on",
            what="handler in-process, shadow on (100% sampled, moto SQS)",
            unit="us",
            samples=on.samples,
            median=on.median,
            p99=on.p99,
            baselines=(baseline("same handler, shadow off (wired, inactive)", off.median, on.median, "us"),),
            target=target,
            extra={
                "added_p50_us": round(on_added.median, 2),
                "added_p50_us_iqr": f"{on_added.low:.1f}..{on_added.high:.1f}",
                "cpu_added_us": round(local["on"].cpu_median() - local["off_wired"].cpu_median(), 2),
                "messages_in_queue": delivered_inprocess,
            },
        )
    ]
    for name, label in LABELS.items():
        if name == "on":
            continue
        s = us[name]
        measurements.append(
            Measurement(
                key=f"inprocess_{name}",
                what=f"handler in-process, {label}",
                unit="us",
                samples=s.samples,
                median=s.median,
                p99=s.p99,
                level=1,
                note=f"{paired_delta(local[name], local['off_wired']).text('us')} p50, "
                f"{s.p99 - off.p99:+.0f} us p99 vs off (wired)",
            )
        )
    worker_off = ms["off_wired"]
    for name, label in LABELS.items():
        s = ms[name]
        measurements.append(
            Measurement(
                key=f"worker_{name}",
                what=f"local-cloud worker, {label}",
                unit="ms",
                samples=s.samples,
                median=s.median,
                p99=s.p99,
                level=1,
                note=f"{paired_delta(workers[name], workers['off_wired']).text('us')} p50, "
                f"{(s.p99 - worker_off.p99) * 1000:+.0f} us p99 vs off (wired)",
            )
        )
    details = {
        "messages_in_queue": {"in_process": delivered_inprocess, "workers": delivered_worker},
        "failures": failures[:5],
        "configured_bound_ms": bound_ms,
        "worker_rows": "FunctionRuntime.invoke (Runtime API, RIC, handler): noisier than the in-process rows",
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
