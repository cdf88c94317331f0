"""The local SQS event source: Lambda's rules for partial batch responses, the event it sends, and
how batches are gathered (batch size, batching window). The moto-backed behaviour (visibility,
redrive to the DLQ) is in tests/integration/test_shadow_pipeline.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from localcloud.event_sources import (
    SqsMapping,
    SqsPoller,
    failed_message_ids,
    parse_function_name,
    sqs_event,
)
from localcloud.provision import ProvisionedResource

IDS = ["a", "b", "c"]


@dataclass
class Result:
    status: str
    payload: bytes


def ok(payload: Any) -> Result:
    return Result("ok", payload if isinstance(payload, bytes) else json.dumps(payload).encode())


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        (ok({"batchItemFailures": []}), set()),
        (ok({"batchItemFailures": None}), set()),
        (ok({}), set()),
        (ok(None), set()),
        (ok(b""), set()),
        (ok({"batchItemFailures": [{"itemIdentifier": "b"}]}), {"b"}),
        (ok({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]}), {"a", "c"}),
        (ok({"batchItemFailures": [{"itemIdentifier": "zzz"}]}), set(IDS)),  # not in the batch
        (ok({"batchItemFailures": [{"itemIdentifier": ""}]}), set(IDS)),
        (ok({"batchItemFailures": [{"itemIdentifier": None}]}), set(IDS)),
        (ok({"batchItemFailures": [{"id": "a"}]}), set(IDS)),  # wrong key name
        (ok({"batchItemFailures": "a"}), set(IDS)),
        (ok(b"not json"), set(IDS)),
        (ok([1, 2]), set(IDS)),
        (Result("function_error", b'{"errorType": "ValueError"}'), set(IDS)),
        (Result("timeout", b"{}"), set(IDS)),
        (Result("crashed", b"{}"), set(IDS)),
    ],
)
def test_partial_batch_responses_follow_lambda(result: Result, failed: set[str]) -> None:
    assert failed_message_ids(result, IDS, report_batch_item_failures=True) == failed


def test_without_report_batch_item_failures_only_the_invocation_counts() -> None:
    partial = ok({"batchItemFailures": [{"itemIdentifier": "b"}]})
    assert failed_message_ids(partial, IDS, report_batch_item_failures=False) == set()
    assert failed_message_ids(Result("function_error", b"{}"), IDS, report_batch_item_failures=False) == set(
        IDS
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("shadow-fn", ("shadow-fn", "$LATEST")),
        ("shadow-fn:live", ("shadow-fn", "live")),
        ("arn:aws:lambda:us-east-1:123456789012:function:shadow-fn", ("shadow-fn", "$LATEST")),
        ("arn:aws:lambda:us-east-1:123456789012:function:shadow-fn:3", ("shadow-fn", "3")),
    ],
)
def test_function_names_with_and_without_qualifier(name: str, expected: tuple[str, str]) -> None:
    assert parse_function_name(name) == expected


def test_mapping_from_the_provisioned_record() -> None:
    resource = ProvisionedResource(
        "Esm",
        "AWS::Lambda::EventSourceMapping",
        "id",
        local={
            "EventSourceArn": "arn:aws:sqs:eu-west-1:123456789012:shadow-queue",
            "FunctionName": "shadow-fn",
            "BatchSize": 100,
            "MaximumBatchingWindowInSeconds": 5,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": 5},
        },
    )
    mapping = SqsMapping.from_resource(resource)
    assert mapping == SqsMapping(
        "Esm",
        "arn:aws:sqs:eu-west-1:123456789012:shadow-queue",
        "shadow-fn",
        "$LATEST",
        100,
        5.0,
        True,
        5,
        True,
    )
    assert (mapping.queue_name, mapping.region) == ("shadow-queue", "eu-west-1")
    resource.local["EventSourceArn"] = "arn:aws:kinesis:eu-west-1:123456789012:stream/s"
    assert SqsMapping.from_resource(resource) is None


def test_the_event_is_what_lambda_sends_for_sqs() -> None:
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh1",
        "Body": "hello",
        "MD5OfBody": "5d41402abc4b2a76b9719d911017c592",
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1767359045678"},
        "MessageAttributes": {"kind": {"StringValue": "x", "DataType": "String"}},
    }
    (record,) = sqs_event([message], queue_arn="arn:aws:sqs:us-east-1:123456789012:q")["Records"]
    assert record == {
        "messageId": "m1",
        "receiptHandle": "rh1",
        "body": "hello",
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1767359045678"},
        "messageAttributes": {
            "kind": {
                "stringValue": "x",
                "binaryValue": None,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
        },
        "md5OfBody": "5d41402abc4b2a76b9719d911017c592",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }


class FakeSqs:
    """Hands out queued messages, at most MaxNumberOfMessages per receive; time advances per call."""

    def __init__(self, count: int, clock: list[float], *, per_receive: int = 10, step_s: float = 0.4) -> None:
        self.messages = [
            {"MessageId": f"m{i}", "ReceiptHandle": f"rh{i}", "Body": "{}", "Attributes": {}}
            for i in range(count)
        ]
        self.clock = clock
        self.per_receive = per_receive
        self.step_s = step_s
        self.receives: list[int] = []
        self.deleted: list[str] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.clock[0] += self.step_s
        take = min(kwargs["MaxNumberOfMessages"], self.per_receive)
        self.receives.append(kwargs["MaxNumberOfMessages"])
        batch, self.messages = self.messages[:take], self.messages[take:]
        return {"Messages": batch}

    def delete_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> None:
        self.deleted += [entry["ReceiptHandle"] for entry in Entries]


def poller(sqs: FakeSqs, clock: list[float], *, batch_size: int, window: float) -> SqsPoller:
    mapping = SqsMapping(
        "Esm", "arn:aws:sqs:us-east-1:1:q", "fn", "$LATEST", batch_size, window, True, None, True
    )
    return SqsPoller(mapping, sqs=sqs, queue_url="q", invoke=lambda f, q, e: ok({}), clock=lambda: clock[0])


def test_without_a_window_one_receive_is_one_batch() -> None:
    clock = [0.0]
    sqs = FakeSqs(25, clock, per_receive=3)
    assert len(poller(sqs, clock, batch_size=10, window=0).gather()) == 3
    assert sqs.receives == [10]


def test_a_window_gathers_until_the_batch_is_full() -> None:
    clock = [0.0]
    sqs = FakeSqs(250, clock, per_receive=10, step_s=0.01)
    assert len(poller(sqs, clock, batch_size=100, window=5).gather()) == 100
    assert sqs.receives == [10] * 10


def test_a_window_gathers_until_it_expires() -> None:
    clock = [0.0]
    sqs = FakeSqs(250, clock, per_receive=2, step_s=1.0)
    messages = poller(sqs, clock, batch_size=100, window=3).gather()
    assert len(messages) == 8  # the first receive starts the window: 1 + 3 more receives within 3 s


def test_an_empty_queue_gives_no_batch_and_no_invocation() -> None:
    clock = [0.0]
    sqs = FakeSqs(0, clock)
    invoked: list[bytes] = []
    p = poller(sqs, clock, batch_size=10, window=1)
    p.invoke = lambda f, q, e: invoked.append(e) or ok({})  # type: ignore[func-returns-value]
    assert p.poll_once() == 0 and invoked == []


def test_delivery_deletes_what_succeeded_only() -> None:
    clock = [0.0]
    sqs = FakeSqs(4, clock)
    p = poller(sqs, clock, batch_size=10, window=0)
    p.invoke = lambda f, q, e: ok({"batchItemFailures": [{"itemIdentifier": "m2"}]})
    assert p.poll_once() == 4
    assert sqs.deleted == ["rh0", "rh1", "rh3"]
    assert (p.stats.batches, p.stats.deleted, p.stats.failed) == (1, 3, 1)
