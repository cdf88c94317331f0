"""The recorder on moto's S3 and SQS: one S3 row per answered row (the contract's fields), a
redelivered batch overwriting its own object, the shadow's share forwarded in the mirror message
format, and failures raised so Lambda retries the delivery and keeps it in the DLQ."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

from common.mirror.message import parse_message
from common.mirror.request_mirror import Sample
from recorder.recorder import Recorder, ShadowForwardError
from tests.unit.recorder.support import delivery, served_lines

BUCKET = "prediction-log-bucket"
ROWS = np.asarray([[1.5, -2.25, 3.0], [0.1, 0.2, 0.3]], dtype=np.float32)
SHADOW = Sample(inputs=True, candidate_model_version="m-cand")


class Sink:
    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}
        self.errors: list[dict[str, Any]] = []

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.metrics[name] = self.metrics.get(name, 0) + value

    def info(self, msg: object, *, extra: dict[str, Any]) -> None:
        pass

    def error(self, msg: object, *, extra: dict[str, Any]) -> None:
        self.errors.append(extra)


class World:
    def __init__(self) -> None:
        self.s3 = boto3.client("s3")
        self.s3.create_bucket(Bucket=BUCKET)
        self.sqs = boto3.client("sqs")
        self.queue_url = self.sqs.create_queue(QueueName="shadow")["QueueUrl"]
        self.sink = Sink()
        self.recorder = Recorder(
            s3=self.s3,
            bucket=BUCKET,
            sqs=self.sqs,
            queue_url=self.queue_url,
            logger=self.sink,
            metrics=self.sink,
        )

    def objects(self) -> dict[str, list[dict[str, Any]]]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        found = {}
        for item in listed:
            body = self.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            found[item["Key"]] = [json.loads(line) for line in gzip.decompress(body).splitlines()]
        return found

    def messages(self) -> list[str]:
        bodies: list[str] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return bodies
            for message in got["Messages"]:
                bodies.append(message["Body"])
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield World()


def test_every_answered_row_becomes_one_row_with_the_contract_s_fields(world: World) -> None:
    lines = served_lines("req-1", ROWS) + served_lines("req-2", ROWS[:1], sample=SHADOW)
    world.recorder.handle(delivery(lines))
    ((key, rows),) = world.objects().items()
    assert key.startswith("prediction-log/dt=") and "/hour=" in key and key.endswith(".jsonl.gz")
    assert [(row["request_id"], row["row"]) for row in rows] == [("req-1", 0), ("req-1", 1), ("req-2", 0)]
    first = rows[0]
    assert list(first) == [
        "request_id", "row", "requested_at", "model_version", "function_version", "task",
        "prediction", "probabilities", "features", "shadow_candidate",
    ]  # fmt: skip
    assert (first["model_version"], first["function_version"], first["task"]) == (
        "m-live",
        "3",
        "classification",
    )
    assert (first["prediction"], first["probabilities"]) == (1, [0.25, 0.75])
    assert first["features"] is None and first["shadow_candidate"] is None
    assert first["requested_at"].endswith("Z") and key.split("/")[1] == f"dt={first['requested_at'][:10]}"
    assert rows[2]["features"] == [1.5, -2.25, 3.0] and rows[2]["shadow_candidate"] == "m-cand"
    assert world.sink.metrics["RecordedRequests"] == 2 and world.sink.metrics["RecordedRows"] == 3


def test_features_are_the_float32_values_exactly(world: World) -> None:
    world.recorder.handle(
        delivery(served_lines("r", ROWS, sample=Sample(inputs=True, candidate_model_version=None)))
    )
    (rows,) = world.objects().values()
    assert np.asarray([row["features"] for row in rows], dtype=np.float32).tobytes() == ROWS.tobytes()
    assert world.messages() == []  # no candidate: nothing for the shadow


def test_a_regressor_s_rows_have_numbers_and_no_probabilities(world: World) -> None:
    world.recorder.handle(delivery(served_lines("reg", ROWS, predictions=[1.25, -3.5])))
    (rows,) = world.objects().values()
    assert [(r["task"], r["prediction"], r["probabilities"]) for r in rows] == [
        ("regression", 1.25, None),
        ("regression", -3.5, None),
    ]


def test_a_redelivered_batch_overwrites_its_own_object(world: World) -> None:
    event = delivery(served_lines("a", ROWS) + served_lines("b", ROWS))
    world.recorder.handle(event)
    first = world.objects()
    world.recorder.handle(event)
    assert world.objects() == first and sum(len(rows) for rows in first.values()) == 4


def test_the_shadow_s_share_is_forwarded_in_the_mirror_message_format(world: World) -> None:
    world.recorder.handle(
        delivery(served_lines("plain", ROWS) + served_lines("shadowed", ROWS, sample=SHADOW))
    )
    (body,) = world.messages()
    message = parse_message(body)
    assert (message.request_id, message.candidate_model_version) == ("shadowed", "m-cand")
    assert message.inputs.tobytes() == ROWS.tobytes() and (message.part, message.parts) == (0, 1)
    assert message.live.predictions == [1, 1] and message.live.function_version == "3"
    assert world.sink.metrics["ShadowForwarded"] == 1


def test_a_split_request_is_forwarded_part_by_part(world: World) -> None:
    rows = np.random.default_rng(1).normal(size=(200, 30)).astype(np.float32)
    lines = served_lines("big", rows, sample=SHADOW, max_line_bytes=20_000)
    world.recorder.handle(delivery(lines))
    messages = sorted((parse_message(body) for body in world.messages()), key=lambda m: m.part)
    assert len(messages) == len(lines) > 1
    assert np.concatenate([m.inputs for m in messages]).tobytes() == rows.tobytes()
    (stored,) = world.objects().values()
    assert sorted(row["row"] for row in stored) == list(range(200))


def test_a_failing_shadow_queue_raises_so_the_delivery_is_retried(world: World) -> None:
    world.recorder.queue_url = world.queue_url + "-gone"
    with pytest.raises(Exception, match=r"NonExistentQueue|does not exist"):
        world.recorder.handle(delivery(served_lines("s", ROWS, sample=SHADOW)))


def test_a_queue_refusing_messages_raises(world: World) -> None:
    class Refusing:
        def send_message_batch(self, *, QueueUrl: str, Entries: Any) -> Any:
            return {
                "Failed": [{"Id": "0", "Code": "Throttled", "Message": "slow down", "SenderFault": False}]
            }

    world.recorder.sqs = Refusing()
    with pytest.raises(ShadowForwardError, match=r"refused 1 of 1.*Throttled"):
        world.recorder.handle(delivery(served_lines("s", ROWS, sample=SHADOW)))


def test_a_failing_bucket_raises(world: World) -> None:
    world.recorder.bucket = "no-such-bucket"
    with pytest.raises(Exception, match="NoSuchBucket"):
        world.recorder.handle(delivery(served_lines("x", ROWS)))


def test_an_unreadable_line_is_counted_and_the_rest_written(world: World) -> None:
    world.recorder.handle(
        delivery(["not json", '{"message":"prediction served"}', *served_lines("ok", ROWS)])
    )
    (rows,) = world.objects().values()
    assert {row["request_id"] for row in rows} == {"ok"}
    assert world.sink.metrics["UnreadableLines"] == 2 and len(world.sink.errors) == 2


def test_a_control_message_writes_nothing(world: World) -> None:
    world.recorder.handle(
        delivery(
            ["CWL CONTROL MESSAGE: Checking health of destination Lambda."], message_type="CONTROL_MESSAGE"
        )
    )
    assert world.objects() == {} and world.sink.errors == []
