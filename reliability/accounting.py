"""Where did every request go? Counting the prediction log, shadow records and dead letters.

The inference function writes each answered request's record in its "prediction served" log line; a
log subscription delivers the lines to the recorder function (docs/prediction-log.md), which writes
one `prediction-log/` row per answered row to S3 and forwards the requests the shadow's draw picked
to the shadow queue; the shadow function turns each message into a record under `records/` or, after
`maxReceiveCount` failed receives, SQS moves it to the shadow's dead-letter queue. A delivery the
recorder keeps failing goes, after Lambda's retries, to the recorder's dead-letter queue. Nothing
else may happen, so once the log is delivered and the shadow queue is empty:

    answered (client side)          = requests in prediction-log rows  U  requests in recorder DLQ
    drawn by the shadow (ShadowSampled) = shadow records U shadow DLQ U the drawn ones in recorder DLQ

Requests are counted by request id, so a row or record written twice (at-least-once delivery) counts
once. The draw count is the inference function's own EMF metric `ShadowSampled`.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.layout import PREDICTION_LOG_PREFIX, partition_prefixes
from common.observe.log_objects import iter_documents
from modelctl.reports.shadow.records import RecordReader
from modelctl.reports.shadow.window import Window
from recorder.lines import UnreadableLineError, parse_line

SHADOW_SAMPLED = "ShadowSampled"


def _record_id(document: dict[str, Any]) -> str:
    return f"{document.get('request_id')}#{document.get('part', 0)}"


def request_ids(record_ids: Iterable[str]) -> set[str]:
    """`request_id#part` ids -> the requests they belong to."""
    return {record_id.rsplit("#", 1)[0] for record_id in record_ids}


def _moment(text: str) -> datetime:
    """A record's or message's timestamp (ISO 8601 ending in Z) as an aware datetime."""
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


# -- S3 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedRequests:
    """Request ids found in the prediction log's rows for a window."""

    answered: set[str]
    drawn: set[str]
    """Those whose rows name a shadow candidate (the shadow's draw picked them)."""


def prediction_log_ids(s3: Any, bucket: str, since: datetime, until: datetime) -> LoggedRequests:
    """Request ids of the `prediction-log/` rows whose request time is in [since, until). Only the
    recorder's prefix is read (not the older `records/`, which the shadow writes too)."""
    answered: set[str] = set()
    drawn: set[str] = set()
    prefixes = partition_prefixes(since, until + timedelta(minutes=1), PREDICTION_LOG_PREFIX)
    for row in iter_documents(s3, bucket, prefixes):
        try:
            moment = _moment(str(row["requested_at"]))
            request_id = str(row["request_id"])
        except (KeyError, ValueError):
            continue
        if since <= moment < until:
            answered.add(request_id)
            if row.get("shadow_candidate") is not None:
                drawn.add(request_id)
    return LoggedRequests(answered=answered, drawn=drawn)


def logged_ids(s3: Any, bucket: str, since: datetime, until: datetime) -> set[str]:
    """Ids (`request_id#part`) of the shadow records whose request arrived in [since, until)."""
    window = Window(since, until + timedelta(minutes=1))
    return {
        _record_id(record)
        for record in RecordReader(s3, bucket).records(window)
        if since <= _moment(record["timestamp"]) < until
    }


# -- SQS -------------------------------------------------------------------------------------------


def peek_messages(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message in the queue, each received once (hidden while counting) and made visible
    again afterwards, so the queue is left as it was."""
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
    return list(seen.values())


def dead_letter_ids(sqs: Any, queue_url: str, since: datetime, until: datetime) -> set[str]:
    """Ids (`request_id#part`) of the shadow DLQ's messages whose request arrived in [since, until).
    A body that is not a mirror message is counted under its SQS id."""
    ids: set[str] = set()
    for message in peek_messages(sqs, queue_url):
        try:
            body = json.loads(message["Body"])
            moment = _moment(str(body["timestamp"]))
        except (ValueError, KeyError, TypeError):
            ids.add(f"unparsable:{message['MessageId']}")
            continue
        if since <= moment < until:
            ids.add(_record_id(body))
    return ids


def delivered_lines(body: str) -> list[str]:
    """The log lines of one kept CloudWatch Logs delivery (`{"awslogs": {"data": ...}}`)."""
    data = json.loads(body)["awslogs"]["data"]
    document = json.loads(gzip.decompress(base64.b64decode(data)))
    return [str(event["message"]) for event in document.get("logEvents", [])]


def recorder_dead_letters(sqs: Any, queue_url: str, since: datetime, until: datetime) -> LoggedRequests:
    """Request ids of the served lines in the recorder's DLQ whose request time is in [since, until).
    A message or line that cannot be read is counted under its SQS id (in both sets: it may be
    either, and must be looked at)."""
    answered: set[str] = set()
    drawn: set[str] = set()
    for message in peek_messages(sqs, queue_url):
        try:
            lines = delivered_lines(message["Body"])
        except (ValueError, KeyError, TypeError, OSError):
            unreadable = f"unparsable:{message['MessageId']}"
            answered.add(unreadable)
            drawn.add(unreadable)
            continue
        for line in lines:
            try:
                part = parse_line(line)
            except UnreadableLineError:
                continue  # not a record (the recorder skips such lines too)
            if since <= _moment(part.requested_at) < until:
                answered.add(part.request_id)
                if part.shadow_candidate is not None:
                    drawn.add(part.request_id)
    return LoggedRequests(answered=answered, drawn=drawn)


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, visible or in flight."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


# -- CloudWatch ------------------------------------------------------------------------------------


def metric_sum(
    cloudwatch: Any,
    namespace: str,
    name: str,
    dimension_sets: Iterable[dict[str, str]],
    since: datetime,
    until: datetime,
) -> int:
    """Sum of an EMF count over the given dimension sets (one per function version), data points with
    a timestamp in [since, until) (CloudWatch takes whole seconds).

    The dimension sets are named by the caller rather than found with `ListMetrics`: moto answers
    `ListMetrics` in time quadratic in the data points it holds (it lists a metric once per point and
    compares each with every one already listed), which after minutes of load outlasts any timeout.
    """
    total = 0.0
    for dimensions in dimension_sets:
        points = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName=name,
            Dimensions=[{"Name": key, "Value": value} for key, value in sorted(dimensions.items())],
            StartTime=since,
            EndTime=until,
            Period=60,
            Statistics=["Sum"],
        )["Datapoints"]
        total += sum(point["Sum"] for point in points)
    return int(total)


def function_version_dimensions(lambda_: Any, function: str) -> list[dict[str, str]]:
    """The dimension sets the inference function's EMF lines carry, one per version of `function`
    ($LATEST included): `FunctionVersion` and `service` (POWERTOOLS_SERVICE_NAME)."""
    dimension_sets = []
    for page in lambda_.get_paginator("list_versions_by_function").paginate(FunctionName=function):
        for version in page["Versions"]:
            service = version.get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME")
            dimension_sets.append(
                {"FunctionVersion": str(version["Version"]), "service": service or "service_undefined"}
            )
    return dimension_sets


# -- the accounts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestAccount:
    """The fate of the requests answered in one window: each must be in the log or the recorder's DLQ."""

    answered: int
    logged: int
    recorder_dead_lettered: int
    """In the recorder's DLQ and not in the log."""

    @property
    def unaccounted(self) -> int:
        return self.answered - self.logged - self.recorder_dead_lettered

    def to_json(self) -> dict[str, int]:
        return {
            "answered": self.answered,
            "logged": self.logged,
            "recorder_dead_lettered": self.recorder_dead_lettered,
            "unaccounted": self.unaccounted,
        }

    @classmethod
    def of(cls, answered: int, logged: set[str], dead: set[str]) -> RequestAccount:
        return cls(answered=answered, logged=len(logged), recorder_dead_lettered=len(dead - logged))


@dataclass(frozen=True)
class ShadowAccount:
    """The fate of the requests the shadow's draw picked (as the inference function counted them)."""

    sampled: int
    """`ShadowSampled`, the inference function's count."""
    marked_in_log: int
    """Requests whose prediction-log rows name the candidate (a cross-check, not a destination)."""
    scored: int
    shadow_dead_lettered: int
    """In the shadow DLQ and not scored."""
    recorder_dead_lettered: int
    """Drawn requests in the recorder's DLQ, neither scored nor in the shadow DLQ."""

    @property
    def unaccounted(self) -> int:
        return self.sampled - self.scored - self.shadow_dead_lettered - self.recorder_dead_lettered

    def to_json(self) -> dict[str, int]:
        return {
            "sampled": self.sampled,
            "marked_in_log": self.marked_in_log,
            "scored": self.scored,
            "shadow_dead_lettered": self.shadow_dead_lettered,
            "recorder_dead_lettered": self.recorder_dead_lettered,
            "unaccounted": self.unaccounted,
        }

    @classmethod
    def of(
        cls, sampled: int, marked: set[str], scored: set[str], shadow_dead: set[str], recorder_dead: set[str]
    ) -> ShadowAccount:
        shadow_dead = shadow_dead - scored
        return cls(
            sampled=sampled,
            marked_in_log=len(marked),
            scored=len(scored),
            shadow_dead_lettered=len(shadow_dead),
            recorder_dead_lettered=len(recorder_dead - scored - shadow_dead),
        )


# -- waiting ---------------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], *, timeout_s: float, what: str, poll_s: float = 0.5) -> None:
    """Poll `condition` until it holds; TimeoutError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(poll_s)


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
    """After `modelctl shadow start`: return once every request is drawn and the queue is quiet.

    Each inference worker re-reads the shadow configuration on its first request after
    `config_ttl_s`, so once that long has passed since the start (with requests arriving) every
    worker draws. Probes (`probe` sends one request answered 200) run until one has become a shadow
    record (log line, recorder, queue and shadow function work end to end) and the TTL has passed;
    then the queue must drain."""
    started = time.monotonic()
    since = datetime.now(UTC)

    def mirrored() -> bool:
        probe()
        return (
            time.monotonic() - started > config_ttl_s + 1.0
            and len(logged_ids(s3, bucket, since, datetime.now(UTC))) > 0
        )

    wait_until(mirrored, timeout_s=timeout_s, what="a drawn request becoming a shadow record")
    wait_until(
        lambda: queue_depth(sqs, queue_url) == 0, timeout_s=timeout_s, what="the shadow queue draining"
    )


def config_ttl_seconds(lambda_client: Any, function: str) -> float:
    """How long the inference function trusts its copy of the shadow configuration."""
    configuration = lambda_client.get_function_configuration(FunctionName=function)
    variables = configuration.get("Environment", {}).get("Variables", {})
    return float(variables.get("SHADOW_CONFIG_TTL_SECONDS", "5"))
