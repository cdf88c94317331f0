"""The prediction log: live predictions as the shadow pipeline records them, row by row.

The inference function mirrors a sample of live requests (`prediction_log_sample_percent`, or more
while a shadow runs) to the shadow queue; the shadow function writes them to the log bucket:

    records/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz       requests a shadow also scored
    predictions/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz   live-only requests (no shadow drawn)

Both hold the same record shape (`common.mirror.record`): request id, part, row offset, request time,
the exact float32 inputs, and the live model's predictions, model and function versions. This module
reads both prefixes for a time window and yields one `PredictionRow` per input row, each record id
once (SQS may deliver a message twice), in the order the objects are listed. Numpy-free.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common.layout import PREDICTION_LOG_PREFIXES, partition_prefixes
from common.observe.log_objects import ReadStats, iter_documents


@dataclass(frozen=True)
class PredictionRow:
    request_id: str
    row: int
    """The row's index in its request (row offset of its part + index in the part)."""
    requested_at: datetime
    model_version: str
    function_version: str
    features: list[float]
    """The float32 values the live model saw, in the model's feature order."""
    predicted: Any


@dataclass
class LogStats:
    read: ReadStats = field(default_factory=ReadStats)
    records: int = 0
    duplicate_records: int = 0
    invalid_records: int = 0
    outside_window: int = 0
    rows: int = 0


def parse_timestamp(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00").astimezone(UTC)
    except ValueError:
        return None


def _rows_of(document: dict[str, Any], requested_at: datetime) -> list[PredictionRow] | None:
    request_id, offset = document.get("request_id"), document.get("row_offset")
    inputs, live = document.get("inputs"), document.get("live")
    if not isinstance(request_id, str) or type(offset) is not int or offset < 0:
        return None
    if not isinstance(inputs, list) or not isinstance(live, dict):
        return None
    predictions, model_version = live.get("predictions"), live.get("model_version")
    function_version = live.get("function_version")
    if not isinstance(predictions, list) or len(predictions) != len(inputs):
        return None
    if not isinstance(model_version, str) or not isinstance(function_version, str):
        return None
    rows = []
    for index, (values, predicted) in enumerate(zip(inputs, predictions, strict=True)):
        if not isinstance(values, list) or not all(
            type(v) in (int, float) and math.isfinite(v) for v in values
        ):
            return None
        rows.append(
            PredictionRow(
                request_id=request_id,
                row=offset + index,
                requested_at=requested_at,
                model_version=model_version,
                function_version=function_version,
                features=[float(v) for v in values],
                predicted=predicted,
            )
        )
    return rows


def prediction_rows(
    s3: Any,
    bucket: str,
    *,
    since: datetime,
    until: datetime,
    stats: LogStats | None = None,
    max_workers: int = 8,
) -> Iterator[PredictionRow]:
    """Every logged live prediction row with since <= request time < until."""
    stats = stats if stats is not None else LogStats()
    prefixes = [p for prefix in PREDICTION_LOG_PREFIXES for p in partition_prefixes(since, until, prefix)]
    seen: set[str] = set()
    for document in iter_documents(s3, bucket, prefixes, stats=stats.read, max_workers=max_workers):
        stats.records += 1
        record_id = document.get("record_id")
        requested_at = parse_timestamp(document.get("timestamp"))
        if not isinstance(record_id, str) or requested_at is None:
            stats.invalid_records += 1
            continue
        if record_id in seen:
            stats.duplicate_records += 1
            continue
        seen.add(record_id)
        if not since <= requested_at < until:
            stats.outside_window += 1
            continue
        rows = _rows_of(document, requested_at)
        if rows is None:
            stats.invalid_records += 1
            continue
        stats.rows += len(rows)
        yield from rows
