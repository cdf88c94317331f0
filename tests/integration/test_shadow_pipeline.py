"""Shadow deployment against moto: the inference app (in-process) writes its served lines (the
sampler's marks in them), the recorder gets them as a log subscription delivers them and forwards the
shadow's sample to SQS, the local event source delivers batches to the shadow consumer, records land
in S3.

GIVEN a live model, a candidate model in the model store, a queue with a DLQ (maxReceiveCount 2,
visibility 1 s) and an active shadow configuration; no fixed sleeps: every wait polls a deadline.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from aws_lambda_powertools import Logger
from moto import mock_aws

from common.mirror.config import ShadowConfig, ShadowConfigStore
from common.mirror.request_mirror import RequestMirror, mirror_from_environment
from common.model.metadata import ModelMetadata
from common.model.onnx_model import OnnxModel
from inference.api import create_app
from inference.service import InferenceService
from localcloud.event_sources import SqsMapping, SqsPoller
from localcloud.events import rest_proxy_event
from modelctl.reports.shadow.records import RecordReader
from modelctl.reports.shadow.stats import ReportBuilder
from modelctl.reports.shadow.window import Window
from recorder.recorder import Recorder
from shadow.consumer import ShadowConsumer
from shadow.models import ModelCache
from shadow.writer import RecordWriter
from tests.helpers import FakeLambdaContext
from tests.unit.recorder.support import delivery

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def _moto_mock_not_the_local_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's mock only intercepts AWS's own endpoints: a local cloud started earlier in the session
    (tests/e2e) leaves AWS_ENDPOINT_URL* in the environment, which would send these calls to it."""
    import os

    for name in [key for key in os.environ if key.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)


@dataclass
class Invocation:
    status: str
    payload: bytes


class Sink:
    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.metrics[name] = self.metrics.get(name, 0) + value


@pytest.fixture(scope="module")
def candidate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    root = tmp_path_factory.mktemp("candidate")
    return train_model(load_builtin(), build_pipeline("random_forest"), output_root=root).artifact_dir


class ShadowWorld:
    """Everything of the shadow path in one process, against moto."""

    def __init__(self, live_dir: Path, candidate_dir: Path, tmp: Path) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.s3 = boto3.client("s3", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.model_bucket, self.log_bucket = f"models-{suffix}", f"shadow-records-{suffix}"
        for bucket in (self.model_bucket, self.log_bucket):
            self.s3.create_bucket(Bucket=bucket)
        for folder in (live_dir, candidate_dir):
            for name in ("model.onnx", "metadata.json"):
                self.s3.upload_file(str(folder / name), self.model_bucket, f"models/{folder.name}/{name}")
        self.dlq_url = self.sqs.create_queue(QueueName=f"shadow-dlq-{suffix}")["QueueUrl"]
        redrive = {
            "deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:shadow-dlq-{suffix}",
            "maxReceiveCount": 2,
        }
        self.queue_name = f"shadow-{suffix}"
        self.queue_url = self.sqs.create_queue(
            QueueName=self.queue_name,
            Attributes={"VisibilityTimeout": "1", "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        self.store = ShadowConfigStore(self.s3, self.log_bucket)
        self.live = OnnxModel.load(live_dir)
        self.candidate = OnnxModel.load(candidate_dir)
        mirror = mirror_from_environment(
            {
                "SHADOW_QUEUE_URL": self.queue_url,
                "SHADOW_CONFIG_URI": f"s3://{self.log_bucket}/control/shadow.json",
                "SHADOW_CONFIG_TTL_SECONDS": "0.05",
            },
            log=Logger(service="shadow-pipeline-test"),
        )
        assert mirror is not None
        self.mirror: RequestMirror = mirror
        service = InferenceService(self.live)
        self.lines = io.StringIO()
        self.app = create_app(
            service,
            namespace="ShadowPipelineTest",
            service_name="inference-test",
            mirror=mirror,
            stream=self.lines,
        )
        self.plain_app = create_app(
            service, namespace="ShadowPipelineTest", service_name="inference-test", stream=io.StringIO()
        )
        self.sink = Sink()
        self.consumer = ShadowConsumer(
            models=ModelCache(model_bucket=self.model_bucket, s3=self.s3, cache_dir=tmp / "models"),
            writer=RecordWriter(self.s3, self.log_bucket),
            logger=Logger(service="shadow-test"),
            metrics=self.sink,
        )
        self.recorder = Recorder(
            s3=self.s3,
            bucket=self.log_bucket,
            sqs=self.sqs,
            queue_url=self.queue_url,
            logger=Logger(service="recorder-test"),
            metrics=self.sink,
        )
        self.after_consumer: Callable[[], str] = lambda: "ok"
        mapping = SqsMapping(
            "ShadowMapping",
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.queue_name}",
            "shadow",
            "$LATEST",
            10,
            0.2,
            True,
            None,
            True,
        )
        self.poller = SqsPoller(mapping, sqs=self.sqs, queue_url=self.queue_url, invoke=self.invoke, wait_s=0)

    def invoke(self, function: str, qualifier: str, event: bytes) -> Invocation:
        try:
            response = self.consumer.handle(json.loads(event), FakeLambdaContext("shadow", "$LATEST"))
        except Exception as exc:
            return Invocation("function_error", json.dumps({"errorType": type(exc).__name__}).encode())
        return Invocation(self.after_consumer(), json.dumps(response).encode())

    def deliver(self) -> bool:
        """The served lines written since the last call, delivered to the recorder as the log
        subscription delivers them."""
        text = self.lines.getvalue()
        self.lines.seek(0)
        self.lines.truncate()
        served = [line for line in text.splitlines() if '"message":"prediction served"' in line]
        if served:
            self.recorder.handle(delivery(served))
        return True

    def sees(self, config: ShadowConfig) -> bool:
        """Whether the sampler uses `config`, after a request's refresh (the TTL is 0.05 s)."""
        self.mirror.draw()
        self.mirror.wait_for_refresh()
        return self.mirror.config.current == config

    def start_shadow(self, percent: float = 100.0) -> None:
        config = ShadowConfig(
            active=True, sample_percent=percent, candidate_model_version=self.candidate.version
        )
        self.store.save(config)
        self.wait_for(lambda: self.sees(config), "the mirror never saw the configuration")

    def predict(self, rows: list[list[float]], *, app: Any = None) -> dict[str, Any]:
        event = rest_proxy_event(
            "POST",
            "/predict",
            body=json.dumps({"instances": rows}),
            headers={"Content-Type": "application/json"},
        )
        context: Any = FakeLambdaContext(function_version="1")
        response: dict[str, Any] = (app or self.app).handle(event, context)
        return response

    def wait_for(self, condition: Callable[[], bool], message: str, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, message
            time.sleep(0.01)

    def pump_until(self, condition: Callable[[], bool], message: str, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, message
            if not self.poller.poll_once():
                time.sleep(0.05)

    def depth(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def record_keys(self) -> list[str]:
        contents = self.s3.list_objects_v2(Bucket=self.log_bucket, Prefix="records/").get("Contents", [])
        return [o["Key"] for o in contents]

    def records(self) -> list[dict[str, Any]]:
        now = datetime.now(tz=UTC)
        window = Window(now - timedelta(hours=1), now + timedelta(minutes=5))
        return list(RecordReader(self.s3, self.log_bucket, max_workers=4).records(window))


@pytest.fixture()
def world(
    trained_model: tuple[Path, ModelMetadata], candidate_dir: Path, tmp_path: Path
) -> Iterator[ShadowWorld]:
    with mock_aws():
        shadow = ShadowWorld(trained_model[0], candidate_dir, tmp_path)
        yield shadow


def rows_of(world: ShadowWorld, count: int, start: int = 0) -> list[list[float]]:
    rng = np.random.default_rng(start)
    base = np.asarray(world.live.metadata.sample_rows, dtype=np.float64)
    picks = base[rng.integers(0, len(base), size=count)] * rng.uniform(0.5, 1.5, size=(count, base.shape[1]))
    return [[float(np.float32(v)) for v in row] for row in picks]


def test_mirrored_requests_become_s3_records(world: ShadowWorld) -> None:
    world.start_shadow()
    requests = [rows_of(world, size, start=i) for i, size in enumerate((1, 3, 1, 2, 5, 1, 1, 4))]
    responses = [json.loads(world.predict(rows)["body"]) for rows in requests]
    assert world.deliver()
    world.pump_until(lambda: len(world.records()) == len(requests), "not every request became a record")
    records = {r["request_id"]: r for r in world.records()}
    assert len(records) == len(requests)
    for record in records.values():
        rows = np.asarray(record["inputs"], dtype=np.float32)
        (index,) = [
            i for i, sent in enumerate(requests) if np.array_equal(np.asarray(sent, dtype=np.float32), rows)
        ]
        assert record["live"]["predictions"] == responses[index]["predictions"]
        assert record["live"]["probabilities"] == responses[index]["probabilities"]
        assert record["live"]["model_version"] == world.live.version
        assert record["live"]["function_version"] == "1"
        expected = world.candidate.predict(rows)
        assert record["shadow"]["predictions"] == expected.labels
        assert record["shadow"]["model_version"] == world.candidate.version
        assert record["shadow"]["inference_ms"] >= 0 and record["live"]["inference_ms"] >= 0
    hour = datetime.now(tz=UTC)
    assert all(key.startswith(f"records/dt={hour:%Y-%m-%d}/hour=") for key in world.record_keys())
    assert world.depth(world.queue_url) == 0


def without_request_id(response: dict[str, Any]) -> dict[str, Any]:
    """The response headers but X-Request-Id, which names each request (and so always differs)."""
    headers = dict(response.get("multiValueHeaders") or {})
    assert headers.pop("X-Request-Id")
    return headers


def test_starting_a_shadow_never_changes_what_users_receive(world: ShadowWorld) -> None:
    requests = [rows_of(world, 3, start=i) for i in range(5)]
    before = [world.predict(rows, app=world.plain_app) for rows in requests]
    world.start_shadow()
    during = [world.predict(rows) for rows in requests]
    assert world.deliver()
    for plain, mirrored in zip(before, during, strict=True):
        assert mirrored["statusCode"] == plain["statusCode"] == 200
        assert mirrored["body"] == plain["body"]
        assert without_request_id(mirrored) == without_request_id(plain)
    assert world.depth(world.queue_url) == len(requests)  # and yet every request was mirrored


def test_the_sample_rate_changes_without_a_redeploy(world: ShadowWorld) -> None:
    world.start_shadow(percent=0.0)
    for index in range(20):
        world.predict(rows_of(world, 1, start=index))
    assert world.deliver() and world.depth(world.queue_url) == 0
    world.start_shadow(percent=100.0)
    for index in range(20):
        world.predict(rows_of(world, 1, start=index))
    assert world.deliver() and world.depth(world.queue_url) == 20
    stopped = world.mirror.config.current.stopped("2026-01-02T13:00:00.000Z")
    world.store.save(stopped)
    world.wait_for(lambda: world.sees(stopped), "the stop was never picked up")
    world.predict(rows_of(world, 1))
    assert world.deliver() and world.depth(world.queue_url) == 20


def test_a_redelivered_batch_overwrites_instead_of_duplicating(world: ShadowWorld) -> None:
    world.start_shadow()
    for index in range(5):
        world.predict(rows_of(world, 2, start=index))
    assert world.deliver()
    # The function writes its object, then times out: Lambda deletes nothing, SQS redelivers.
    world.after_consumer = lambda: "timeout"
    world.pump_until(lambda: world.poller.stats.batches >= 1, "no batch was delivered")
    first_keys = world.record_keys()
    assert len(first_keys) == 1 and world.depth(world.queue_url) == 5
    world.after_consumer = lambda: "ok"
    world.pump_until(lambda: world.depth(world.queue_url) == 0, "the redelivered batch was not consumed")
    assert world.poller.stats.batches >= 2
    assert world.record_keys() == first_keys  # same messages, same key: overwritten, not added
    records = world.records()
    assert len(records) == 5 and len({r["record_id"] for r in records}) == 5


def test_a_poison_message_ends_in_the_dead_letter_queue(world: ShadowWorld) -> None:
    world.start_shadow()
    world.sqs.send_message(QueueUrl=world.queue_url, MessageBody='{"schema_version": 1, "inputs": "oops"}')
    for index in range(2):
        world.predict(rows_of(world, 1, start=index))
    assert world.deliver()
    world.pump_until(lambda: world.depth(world.dlq_url) == 1, "the poison message never reached the DLQ")
    world.pump_until(lambda: world.depth(world.queue_url) == 0, "the queue was not drained")
    (dead,) = world.sqs.receive_message(QueueUrl=world.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert dead["Body"] == '{"schema_version": 1, "inputs": "oops"}'
    assert len(world.records()) == 2
    assert world.sink.metrics["ShadowMalformedMessages"] == 2  # received twice (maxReceiveCount), then moved


def test_the_report_counts_what_was_sent(world: ShadowWorld) -> None:
    world.start_shadow()
    sizes = [1, 2, 3, 1, 1]
    for index, size in enumerate(sizes):
        world.predict(rows_of(world, size, start=index))
    assert world.deliver()
    world.pump_until(lambda: len(world.records()) == len(sizes), "records missing")
    now = datetime.now(tz=UTC)
    builder = ReportBuilder(Window(now - timedelta(hours=1), now + timedelta(minutes=5)))
    for record in RecordReader(world.s3, world.log_bucket).records(builder.window):
        builder.add(record)
    report = builder.result()
    assert report["counts"] == {"requests": 5, "messages": 5, "rows": sum(sizes)}
    assert sum(map(sum, report["confusion"]["matrix"])) == sum(sizes)
    assert report["models"]["shadow"] == {world.candidate.version: sum(sizes)}


def test_a_new_environment_knows_the_running_shadow_before_its_first_request(world: ShadowWorld) -> None:
    """The configuration is read once at init: a worker started while a shadow runs samples its very
    first request (a refresh started by that request would come too late for it)."""
    world.start_shadow()
    fresh = mirror_from_environment(
        {
            "SHADOW_QUEUE_URL": world.queue_url,
            "SHADOW_CONFIG_URI": f"s3://{world.log_bucket}/control/shadow.json",
            "SHADOW_CONFIG_TTL_SECONDS": "300",
        }
    )
    assert fresh is not None
    assert fresh.config.current.active
    assert fresh.config.current == world.mirror.config.current
