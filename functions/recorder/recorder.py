"""The recorder's domain: one CloudWatch Logs delivery of "prediction served" lines -> the
prediction log's rows in S3 (recorder.rows), and the shadow's share forwarded to the shadow queue in
the mirror message format (common.mirror.message).

Failures raise: Lambda retries an asynchronous invocation (the subscription's) twice, then keeps
the event in the function's dead-letter queue, so a delivery is never dropped. The S3 keys and the
message contents depend on the lines only, so a retry overwrites what the failed attempt wrote; a
message sent twice becomes the same shadow record id, which the shadow report counts once. A line
that holds no readable record is logged and counted, not retried (no retry can change it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import CloudWatchLogsEvent

from common.mirror.message import LiveResult, encode_part
from recorder.lines import LoggedPart, UnreadableLineError, parse_line
from recorder.rows import objects

# SendMessageBatch: at most 10 entries and 256 KiB for the whole call.
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024


class ShadowForwardError(RuntimeError):
    """The shadow queue did not take every message of the delivery."""


class S3Writer(Protocol):
    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any: ...


class Sqs(Protocol):
    def send_message_batch(self, *, QueueUrl: str, Entries: Any) -> Any: ...


class Log(Protocol):
    def info(self, msg: object, *, extra: dict[str, Any]) -> None: ...

    def error(self, msg: object, *, extra: dict[str, Any]) -> None: ...


class MetricSink(Protocol):
    def add_metric(self, name: str, unit: MetricUnit, value: float) -> None: ...


@dataclass(frozen=True)
class Delivery:
    """What one delivery became."""

    keys: list[str]
    requests: int
    rows: int
    forwarded: int
    unreadable: int


class Recorder:
    def __init__(
        self,
        *,
        s3: S3Writer,
        bucket: str,
        sqs: Sqs | None,
        queue_url: str | None,
        logger: Log,
        metrics: MetricSink,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.sqs = sqs
        self.queue_url = queue_url
        self.logger = logger
        self.metrics = metrics

    def handle(self, event: dict[str, Any]) -> Delivery:
        data = CloudWatchLogsEvent(event).parse_logs_data()
        parts: list[LoggedPart] = []
        unreadable = 0
        if data.message_type != "DATA_MESSAGE":  # CloudWatch Logs' check that the destination answers
            return Delivery(keys=[], requests=0, rows=0, forwarded=0, unreadable=0)
        for log_event in data.log_events:
            try:
                parts.append(parse_line(log_event.message))
            except UnreadableLineError as exc:
                unreadable += 1
                self.logger.error(
                    "a delivered line holds no readable record; it stays in the function's log group",
                    extra={
                        "log_group": data.log_group,
                        "log_stream": data.log_stream,
                        "event_id": log_event.get_id,
                        "reason": str(exc)[:500],
                    },
                )
        keys = self.write(parts)
        forwarded = self.forward(parts)
        delivery = Delivery(
            keys=keys,
            requests=len({part.request_id for part in parts}),
            rows=sum(part.rows for part in parts),
            forwarded=forwarded,
            unreadable=unreadable,
        )
        self._count(delivery)
        return delivery

    def write(self, parts: Sequence[LoggedPart]) -> list[str]:
        """Put the rows, one object per request hour; return the keys."""
        written = []
        for key, body in objects(parts).items():
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/gzip")
            written.append(key)
        return written

    def forward(self, parts: Sequence[LoggedPart]) -> int:
        """Send the shadow's share to the shadow queue; raise unless every message was taken."""
        bodies = [shadow_message(part) for part in parts if part.shadow_candidate is not None]
        if not bodies:
            return 0
        if self.sqs is None or not self.queue_url:
            raise ShadowForwardError(
                f"{len(bodies)} lines name a shadow candidate but no shadow queue is configured"
            )
        for batch in batches(bodies):
            entries = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(batch)]
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed = response.get("Failed") or []
            if failed:
                first = failed[0]
                raise ShadowForwardError(
                    f"the shadow queue refused {len(failed)} of {len(batch)} messages: "
                    f"{first.get('Code')}: {first.get('Message')}"
                )
        return len(bodies)

    def _count(self, delivery: Delivery) -> None:
        self.metrics.add_metric(name="RecordedRequests", unit=MetricUnit.Count, value=delivery.requests)
        self.metrics.add_metric(name="RecordedRows", unit=MetricUnit.Count, value=delivery.rows)
        self.metrics.add_metric(name="ShadowForwarded", unit=MetricUnit.Count, value=delivery.forwarded)
        if delivery.unreadable:
            self.metrics.add_metric(name="UnreadableLines", unit=MetricUnit.Count, value=delivery.unreadable)
        self.logger.info(
            "prediction records written",
            extra={
                "keys": delivery.keys,
                "requests": delivery.requests,
                "rows": delivery.rows,
                "forwarded": delivery.forwarded,
                "unreadable": delivery.unreadable,
            },
        )


def shadow_message(part: LoggedPart) -> str:
    """The shadow queue's message for one part of a request the shadow's sample drew."""
    assert part.shadow_candidate is not None
    return encode_part(
        request_id=part.request_id,
        part=part.part,
        parts=part.parts,
        row_offset=part.row_offset,
        timestamp=part.requested_at,
        candidate_model_version=part.shadow_candidate,
        inputs_json=part.inputs_json,
        live=LiveResult(
            model_version=part.model_version,
            function_version=part.function_version,
            predictions=part.predictions,
            probabilities=part.probabilities or [],
            inference_ms=round(part.inference_ms, 4),
        ),
    )


def batches(bodies: Sequence[str]) -> list[list[str]]:
    """Pack bodies into SendMessageBatch calls: at most 10 entries and 256 KiB per call."""
    result: list[list[str]] = []
    current: list[str] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if current and (len(current) == MAX_BATCH_ENTRIES or size + length > MAX_BATCH_BYTES):
            result.append(current)
            current, size = [], 0
        current.append(body)
        size += length
    if current:
        result.append(current)
    return result
