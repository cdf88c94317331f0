"""Log subscription delivery with a stand-in destination: batching, retries, the dead-letter queue,
the wait for delivery, and how subscriptions are read from a deployment."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from localcloud.provision import Deployment, ProvisionedResource, ProvisionedStack, ProvisionError
from localcloud.provision.logs import _subscription_filter
from localcloud.subscriptions.awslogs import decode_awslogs
from localcloud.subscriptions.config import FailurePolicy, Subscription, subscriptions_from
from localcloud.subscriptions.delivery import LogSubscriptions
from localcloud.subscriptions.pattern import compile_pattern

PATTERN = '{ $.message = "prediction served" }'
DESTINATION = "arn:aws:lambda:us-east-1:123456789012:function:recorder"


@dataclass
class Result:
    status: str
    payload: bytes = b"{}"


class Destination:
    """Records each batch; fails the first `failures` invocations."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.batches: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, function: str, qualifier: str, event: bytes) -> Result:
        self.release.wait()
        self.calls += 1
        if self.calls <= self.failures:
            return Result("function_error", b'{"errorMessage": "boom"}')
        self.batches.append(decode_awslogs(json.loads(event)))
        return Result("ok")

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(e["message"]) for b in self.batches for e in b["logEvents"]]


def subscription(*, retries: int = 2, dead_letter: str | None = None) -> Subscription:
    return Subscription(
        filter_name="records",
        log_group="/aws/lambda/api",
        pattern=PATTERN,
        matches=compile_pattern(PATTERN),
        sources=frozenset({"api"}),
        destination_function="recorder",
        destination_qualifier="$LATEST",
        failure=FailurePolicy(max_retries=retries, dead_letter_arn=dead_letter),
    )


def record(i: int) -> str:
    return json.dumps({"message": "prediction served", "request_id": i})


@contextmanager
def running(subs: LogSubscriptions) -> Iterator[LogSubscriptions]:
    """The subscriptions started, then stopped (at most 2 s) whatever the test did."""
    subs.start()
    try:
        yield subs
    finally:
        subs.stop(2)


def delivery(destination: Destination, **kwargs: Any) -> LogSubscriptions:
    kwargs.setdefault("window_s", 0.05)
    return LogSubscriptions(
        [subscription(**kwargs.pop("policy", {}))], invoke=destination, retry_delays_s=(0.0,), **kwargs
    )


def test_matching_lines_of_the_source_are_batched_and_the_rest_ignored() -> None:
    destination = Destination()
    with running(delivery(destination, max_events=4)) as subs:
        for i in range(10):
            subs.offer("api:3", record(i))
            subs.offer("api:3", f"END RequestId: {i}")
            subs.offer("other:1", record(100 + i))  # another function's log group
        assert subs.wait_delivered(5)
        assert sorted(m["request_id"] for m in destination.messages()) == list(range(10))
        assert max(len(b["logEvents"]) for b in destination.batches) <= 4
        assert {b["logStream"] for b in destination.batches} == {destination.batches[0]["logStream"]}
        assert "[3]" in destination.batches[0]["logStream"]
        assert subs.report()["events_delivered"] == 10


def test_wait_delivered_waits_for_a_batch_in_flight() -> None:
    destination = Destination()
    destination.release.clear()
    with running(delivery(destination)) as subs:
        subs.offer("api:1", record(1))
        assert not subs.wait_delivered(0.3)  # the destination has not answered yet
        destination.release.set()
        assert subs.wait_delivered(5)
        assert destination.messages() == [{"message": "prediction served", "request_id": 1}]


def test_a_batch_that_keeps_failing_goes_to_the_dead_letter_queue_after_its_retries() -> None:
    destination = Destination(failures=99)
    sent: list[tuple[str, str, dict[str, str]]] = []
    with running(
        delivery(
            destination,
            policy={"retries": 1, "dead_letter": "arn:aws:sqs:us-east-1:1:dlq"},
            send_dead_letter=lambda queue, body, attributes: sent.append((queue, body, attributes)),
        )
    ) as subs:
        subs.offer("api:1", record(7))
        assert subs.wait_delivered(5)
        assert destination.calls == 2  # the first attempt and one retry
        ((queue, body, attributes),) = sent
        assert queue == "arn:aws:sqs:us-east-1:1:dlq"
        assert json.loads(decode_awslogs(json.loads(body))["logEvents"][0]["message"])["request_id"] == 7
        assert "boom" in attributes["ErrorMessage"]
        report = subs.report()
        assert report["events_dead_lettered"] == 1 and report["failed_attempts"] == 2


def test_a_dead_letter_queue_that_fails_is_tried_again_until_it_takes_the_batch() -> None:
    destination = Destination(failures=99)
    sent: list[str] = []
    attempts = iter([ConnectionError("moto down"), ConnectionError("moto down"), None])

    def send(queue: str, body: str, attributes: dict[str, str]) -> None:
        error = next(attempts)
        if error is not None:
            raise error
        sent.append(body)

    with running(
        delivery(
            destination, policy={"retries": 0, "dead_letter": "arn:aws:sqs:x:1:q"}, send_dead_letter=send
        )
    ) as subs:
        subs.offer("api:1", record(1))
        assert subs.wait_delivered(10)
        assert len(sent) == 1


def test_without_a_dead_letter_queue_a_failed_batch_is_counted_as_discarded() -> None:
    with running(delivery(Destination(failures=99), policy={"retries": 0})) as subs:
        subs.offer("api:1", record(1))
        assert subs.wait_delivered(5)
        assert subs.report()["events_discarded"] == 1


def test_offer_never_waits_on_a_blocked_destination() -> None:
    destination = Destination()
    destination.release.clear()
    with running(delivery(destination)) as subs:
        done = threading.Event()

        def offer_many() -> None:
            for i in range(2000):
                subs.offer("api:1", record(i))
            done.set()

        threading.Thread(target=offer_many, daemon=True).start()
        assert done.wait(5)  # all queued while the destination holds the first batch
        destination.release.set()
        assert subs.wait_delivered(20)
        assert len(destination.messages()) == 2000


def test_stop_delivers_what_is_still_open() -> None:
    destination = Destination()
    subs = delivery(destination, window_s=60).start()
    subs.offer("api:1", record(1))
    subs.stop(5)
    assert len(destination.messages()) == 1


def _resource(logical_id: str, kind: str, physical_id: str, **local: Any) -> ProvisionedResource:
    return ProvisionedResource(logical_id, kind, physical_id, local=local)


def test_subscriptions_are_read_from_the_deployment() -> None:
    resources = [
        _resource("Api", "AWS::Lambda::Function", "api", log_group="/app/predictions"),
        _resource("Other", "AWS::Lambda::Function", "other"),
        _resource(
            "Recorder", "AWS::Lambda::Function", "recorder", dead_letter_arn="arn:aws:sqs:us-east-1:1:dlq"
        ),
        _resource(
            "Retries",
            "AWS::Lambda::EventInvokeConfig",
            "x",
            FunctionName="recorder",
            Qualifier="$LATEST",
            MaximumRetryAttempts=1,
        ),
        _resource(
            "Filter",
            "AWS::Logs::SubscriptionFilter",
            "records",
            LogGroupName="/app/predictions",
            FilterPattern=PATTERN,
            DestinationArn=DESTINATION,
        ),
        _resource(
            "Default",
            "AWS::Logs::SubscriptionFilter",
            "all-other",
            LogGroupName="/aws/lambda/other",
            FilterPattern="",
            DestinationArn=DESTINATION + ":live",
        ),
        _resource(
            "Firehose",
            "AWS::Logs::SubscriptionFilter",
            "fh",
            LogGroupName="/aws/lambda/other",
            FilterPattern="",
            DestinationArn="arn:aws:firehose:us-east-1:1:deliverystream/x",
        ),
    ]
    deployment = Deployment([ProvisionedStack("S", {r.logical_id: r for r in resources}, {}, {})])
    records, others = subscriptions_from(deployment)
    assert records.sources == {"api"} and records.log_group == "/app/predictions"
    assert records.failure == FailurePolicy(max_retries=1, dead_letter_arn="arn:aws:sqs:us-east-1:1:dlq")
    assert records.matches(record(1)) and not records.matches("REPORT RequestId: 1")
    assert others.sources == {"other"}  # the default group /aws/lambda/<name>
    assert (others.destination_function, others.destination_qualifier) == ("recorder", "live")
    assert others.failure.max_retries == 1  # the function's config applies to every qualifier it has


class _Provisioner:
    stack_name = "Stack"


def test_provisioning_rejects_a_filter_pattern_it_cannot_evaluate() -> None:
    props = {"LogGroupName": "g", "FilterPattern": "[ip, user]", "DestinationArn": DESTINATION}
    with pytest.raises(ProvisionError, match="FilterPattern"):
        _subscription_filter(_Provisioner(), "F", props, {"Type": "AWS::Logs::SubscriptionFilter"})  # type: ignore[arg-type]
    props["FilterPattern"] = PATTERN
    recorded = _subscription_filter(_Provisioner(), "F", props, {"Type": "AWS::Logs::SubscriptionFilter"})  # type: ignore[arg-type]
    assert recorded.local["DestinationArn"] == DESTINATION
