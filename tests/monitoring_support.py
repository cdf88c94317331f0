"""Writing prediction-log records and feedback the way the shadow and feedback functions do, for tests
of the join, the report and the monitor."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from common.layout import OBJECT_SUFFIX, PREDICTION_LOG_PREFIX, hour_prefix
from common.mirror.message import LiveResult, encode_messages, format_timestamp, parse_message
from common.mirror.record import ShadowRecord, ShadowResult
from common.observe.feedback import Feedback, encode_records, format_time, object_key
from shadow.writer import RecordWriter

LOG_BUCKET = "prediction-log"
MODEL_BUCKET = "models"
STANDARD_NORMAL_DECILES = [-1.2816, -0.8416, -0.5244, -0.2533, 0.0, 0.2533, 0.5244, 0.8416, 1.2816]


def standard_normal_baseline(*features: str) -> dict[str, Any]:
    """A metadata `feature_baseline` in which every feature was standard normal in training."""
    baseline = {"edges": STANDARD_NORMAL_DECILES, "proportions": [0.1] * 10, "mean": 0.0, "std": 1.0}
    return {"bins": 10, "features": {name: baseline for name in features}}


def create_buckets(session: Any, metadata: dict[str, Any]) -> Any:
    """An S3 client with the log bucket and the model bucket, holding the model's metadata.json."""
    s3 = session.client("s3")
    for bucket in (LOG_BUCKET, MODEL_BUCKET):
        s3.create_bucket(Bucket=bucket)
    key = f"models/{metadata['version']}/metadata.json"
    s3.put_object(Bucket=MODEL_BUCKET, Key=key, Body=json.dumps(metadata))
    return s3


def logged_record(
    request_id: str,
    requested_at: datetime,
    rows: Sequence[Sequence[float]],
    predictions: Sequence[Any],
    *,
    model_version: str = "m-live",
    function_version: str = "3",
    candidate: str | None = None,
) -> ShadowRecord:
    """What the shadow function writes for one mirrored request (live-only when `candidate` is None)."""
    inputs = np.asarray(rows, dtype=np.float32)
    probabilities = [[0.5, 0.5] for _ in predictions]
    (body,) = encode_messages(
        request_id=request_id,
        timestamp=format_timestamp(requested_at.timestamp()),
        candidate_model_version=candidate,
        inputs=inputs,
        live=LiveResult(model_version, function_version, list(predictions), probabilities, 0.05),
    )
    shadow = ShadowResult(candidate, "$LATEST", list(predictions), probabilities, 0.07) if candidate else None
    return ShadowRecord(parse_message(body), shadow, message_id=f"sqs-{request_id}", processed_at="x")


def put_records(s3: Any, bucket: str, records: Sequence[ShadowRecord]) -> list[str]:
    return RecordWriter(s3, bucket).write(list(records))


def put_feedback(s3: Any, bucket: str, items: Sequence[Feedback], received_at: datetime) -> str:
    """What the feedback function writes for one accepted request."""
    stamped = [
        Feedback(
            item.request_id, item.row, item.label, received_at=format_time(received_at), reward=item.reward
        )
        for item in items
    ]
    key = object_key(received_at, stamped)
    s3.put_object(Bucket=bucket, Key=key, Body=encode_records(stamped), ContentType="application/gzip")
    return key


def log_row(
    request_id: str,
    row: int,
    requested_at: datetime,
    prediction: Any,
    *,
    features: Sequence[float] | None = None,
    model_version: str = "m-live",
    function_version: str = "3",
    task: str = "classification",
) -> dict[str, Any]:
    """One record of `prediction-log/` as the recorder writes it (contract: one object per row)."""
    return {
        "request_id": request_id,
        "row": row,
        "requested_at": format_timestamp(requested_at.timestamp()),
        "model_version": model_version,
        "function_version": function_version,
        "task": task,
        "prediction": prediction,
        "probabilities": [0.5, 0.5] if task == "classification" else None,
        "features": None if features is None else [float(v) for v in features],
        "shadow_candidate": None,
    }


def put_log_rows(s3: Any, bucket: str, rows: Sequence[dict[str, Any]], name: str = "batch-0") -> str:
    """A delivered batch in `prediction-log/dt=.../hour=.../<name>.jsonl.gz` (the hour of its first
    row; the recorder writes each batch's rows under their own request hour)."""
    first = datetime.fromisoformat(rows[0]["requested_at"].replace("Z", "+00:00"))
    key = f"{hour_prefix(first, PREDICTION_LOG_PREFIX)}{name}{OBJECT_SUFFIX}"
    text = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(text.encode()))
    return key
