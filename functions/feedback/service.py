"""The feedback function's domain: a `POST /feedback` body in, gzip JSON Lines in the log bucket out.

Validation is as strict as `/predict`'s (the same body checks: media type, size, UTF-8, JSON object,
no NaN/Infinity) plus `common.observe.feedback.parse_feedback` (fields, types, the live model's class
labels, or a finite number for a regressor);
every rejection is a `RequestError` naming what was wrong. Only a failed write to S3 is a server
error, so the client retries and no accepted label is lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from common.http.errors import RequestError
from common.http.request_body import RequestLimits, check_content_type, decode_body, parse_json_object
from common.observe.feedback import (
    CLASSIFICATION,
    REGRESSION,
    Feedback,
    Label,
    encode_records,
    format_time,
    object_key,
    parse_feedback,
)


class StorageError(Exception):
    """The feedback could not be stored: the client should retry (HTTP 503)."""


class S3Writer(Protocol):
    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any: ...


class FeedbackStore:
    def __init__(self, s3: S3Writer, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put(self, items: Sequence[Feedback], received_at: datetime) -> str:
        key = object_key(received_at, items)
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=encode_records(items), ContentType="application/gzip"
            )
        except Exception as exc:
            raise StorageError(f"cannot write s3://{self.bucket}/{key}: {type(exc).__name__}") from exc
        return key


@dataclass(frozen=True)
class Accepted:
    count: int
    key: str


class FeedbackService:
    def __init__(
        self,
        *,
        store: FeedbackStore,
        class_labels: Sequence[Label],
        model_version: str,
        limits: RequestLimits,
        max_items: int,
        task: str = CLASSIFICATION,
        clock: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
    ) -> None:
        self.store = store
        self.task = task
        self.class_labels = list(class_labels)
        self.model_version = model_version
        self.limits = limits
        self.max_items = max_items
        self._clock = clock

    def accept(self, *, body: str | None, is_base64: bool, content_type: str | None) -> Accepted:
        check_content_type(content_type)
        text = decode_body(body, is_base64=is_base64, limits=self.limits)
        document = parse_json_object(text)
        items = parse_feedback(
            document, class_labels=self.class_labels, max_items=self.max_items, task=self.task
        )
        received_at = self._clock()
        stamped = [
            Feedback(
                item.request_id,
                item.row,
                item.label,
                received_at=format_time(received_at),
                reward=item.reward,
            )
            for item in items
        ]
        key = self.store.put(stamped, received_at)
        return Accepted(count=len(stamped), key=key)


@dataclass(frozen=True)
class LiveModel:
    """What the feedback function knows of the live model: its version, task and class labels."""

    version: str
    task: str
    class_labels: list[Label]


def read_live_model(s3: Any, model_uri: str) -> LiveModel:
    """The live model from `<model_uri>metadata.json` (an s3://bucket/models/<v>/ URI): a classifier
    must list its class labels; a regressor has none (its feedback labels are numbers)."""
    if not model_uri.startswith("s3://"):
        raise RuntimeError(f"MODEL_URI must be s3://bucket/models/<version>/, got {model_uri!r}")
    bucket, _, prefix = model_uri[len("s3://") :].partition("/")
    key = f"{prefix.rstrip('/')}/metadata.json"
    document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    if not isinstance(document, dict):
        raise RuntimeError(f"s3://{bucket}/{key} must hold a JSON object")
    version = str(document.get("version", ""))
    task = document.get("task", CLASSIFICATION)
    if task == REGRESSION:
        return LiveModel(version=version, task=REGRESSION, class_labels=[])
    if task != CLASSIFICATION:
        raise RuntimeError(f"s3://{bucket}/{key} names task {task!r}, not {CLASSIFICATION} or {REGRESSION}")
    labels = document.get("class_labels")
    if not isinstance(labels, list) or not labels:
        raise RuntimeError(f"s3://{bucket}/{key} lists no class_labels")
    return LiveModel(version=version, task=CLASSIFICATION, class_labels=labels)


__all__ = [
    "Accepted",
    "FeedbackService",
    "FeedbackStore",
    "LiveModel",
    "RequestError",
    "StorageError",
    "read_live_model",
]
