"""Where did every mirrored request go? Counting shadow records in S3 and messages in the queues.

A request the inference function mirrors becomes one SQS message per part; the shadow function turns
each into one record in S3 (`records/dt=.../hour=.../*.jsonl.gz`) or, after `maxReceiveCount` failed
receives, SQS moves it to the dead-letter queue. Nothing else may happen to it, so once the shadow
queue is empty: mirrored = logged + dead-lettered. Records and dead letters are identified by
`request_id#part`, so a batch written twice (a retry after a failed write) is counted once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from modelctl.reports.shadow.records import RecordReader
from modelctl.reports.shadow.window import Window


def _record_id(document: dict[str, Any]) -> str:
    return f"{document.get('request_id')}#{document.get('part', 0)}"


def logged_ids(s3: Any, bucket: str, since: datetime, until: datetime) -> set[str]:
    """Ids of the shadow records whose request arrived in [since, until)."""
    window = Window(since, until + timedelta(minutes=1))
    return {
        _record_id(record)
        for record in RecordReader(s3, bucket).records(window)
        if since <= _moment(record["timestamp"]) < until
    }


def dead_letter_ids(sqs: Any, queue_url: str, since: datetime, until: datetime) -> set[str]:
    """Ids of the messages in the dead-letter queue whose request arrived in [since, until).

    Each message is received once (hidden while counting) and made visible again afterwards, so the
    queue is left as it was. A body that is not a mirror message is counted under its SQS id."""
    seen: dict[str, dict[str, Any]] = {}
    while True:
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=120, WaitTimeSeconds=0
        ).get("Messages", [])
        fresh = [m for m in received if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen[message["MessageId"]] = message
    entries = [
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
        for i, m in enumerate(seen.values())
    ]
    for start in range(0, len(entries), 10):
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries[start : start + 10])
    ids: set[str] = set()
    for message in seen.values():
        try:
            body = json.loads(message["Body"])
            moment = _moment(str(body["timestamp"]))
        except (ValueError, KeyError, TypeError):
            ids.add(f"unparsable:{message['MessageId']}")
            continue
        if since <= moment < until:
            ids.add(_record_id(body))
    return ids


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, visible or in flight."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def wait_until(condition: Callable[[], bool], *, timeout_s: float, what: str, poll_s: float = 0.5) -> None:
    """Poll `condition` until it holds; TimeoutError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(poll_s)


@dataclass(frozen=True)
class MirrorAccount:
    """The fate of the requests mirrored in one window."""

    mirrored: int
    logged: int
    dead_lettered: int

    @property
    def unaccounted(self) -> int:
        return self.mirrored - self.logged - self.dead_lettered

    def to_json(self) -> dict[str, int]:
        return {
            "mirrored": self.mirrored,
            "logged": self.logged,
            "dead_lettered": self.dead_lettered,
            "unaccounted": self.unaccounted,
        }


def _moment(text: str) -> datetime:
    """A record's or message's timestamp (ISO 8601 ending in Z) as an aware datetime."""
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def settle_mirroring(
    probe: Callable[[], None],
    *,
    s3: Any,
    bucket: str,
    sqs: Any,
    queue_url: str,
    config_ttl_s: float,
    timeout_s: float = 120.0,
) -> None:
    """After `modelctl shadow start`: return once every request is mirrored and the queue is quiet.

    Each inference worker re-reads the shadow configuration every `config_ttl_s` (its sender thread
    does, between requests too), so once that long has passed since the start every worker mirrors.
    Probes (`probe` sends one request answered 200) run until one has become a shadow record (the
    pipeline works end to end) and the TTL has passed; then the queue must drain."""
    started = time.monotonic()
    since = datetime.now(UTC)

    def mirrored() -> bool:
        probe()
        return (
            time.monotonic() - started > config_ttl_s + 1.0
            and len(logged_ids(s3, bucket, since, datetime.now(UTC))) > 0
        )

    wait_until(mirrored, timeout_s=timeout_s, what="a mirrored request becoming a shadow record")
    wait_until(
        lambda: queue_depth(sqs, queue_url) == 0, timeout_s=timeout_s, what="the shadow queue draining"
    )


def config_ttl_seconds(lambda_client: Any, function: str) -> float:
    """How long the inference function trusts its copy of the shadow configuration."""
    configuration = lambda_client.get_function_configuration(FunctionName=function)
    variables = configuration.get("Environment", {}).get("Variables", {})
    return float(variables.get("SHADOW_CONFIG_TTL_SECONDS", "5"))


MIRROR_COUNTERS = ("ShadowMirrorSent", "ShadowMirrorFailed", "ShadowMirrorDropped")


def mirror_counters(cloudwatch: Any, namespace: str, since: datetime, until: datetime) -> dict[str, int]:
    """What the inference function itself counted while mirroring (its EMF metrics), per counter.

    Sent: SQS accepted the message. Failed: the send raised (a read timeout may still have been
    delivered). Dropped: not sent, because the sender was backing off after failures or its buffer
    was full (fail-open: the live answer is never delayed). Each worker reports its counts on its
    next /predict, so the last second or so of a run may be missing."""
    totals: dict[str, int] = {}
    for name in MIRROR_COUNTERS:
        total = 0.0
        listed = cloudwatch.list_metrics(Namespace=namespace, MetricName=name)["Metrics"]
        dimension_sets = {
            tuple(sorted((d["Name"], d["Value"]) for d in metric["Dimensions"])) for metric in listed
        }  # moto may list a metric once per datapoint
        for dimensions in sorted(dimension_sets):
            points = cloudwatch.get_metric_statistics(
                Namespace=namespace,
                MetricName=name,
                Dimensions=[{"Name": key, "Value": value} for key, value in dimensions],
                StartTime=since - timedelta(minutes=1),
                EndTime=until + timedelta(minutes=1),
                Period=60,
                Statistics=["Sum"],
            )["Datapoints"]
            total += sum(point["Sum"] for point in points)
        totals[name] = int(total)
    return totals
