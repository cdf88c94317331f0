"""The prediction log: every answered row, as the recorder writes it, read back for a time window.

The recorder function writes one JSON object per answered row (docs/prediction-log.md):

    prediction-log/dt=YYYY-MM-DD/hour=HH/<one name per delivered batch>.jsonl.gz
    {"request_id", "row", "requested_at": "...Z", "model_version", "function_version", "task",
     "prediction", "probabilities": [...] | null, "features": [...] | null, "shadow_candidate"}

`features` is set only for the sampled share (`prediction_log_sample_percent`): drift and retraining
use those rows; live quality and coverage use every row. Data written before that log keeps being
read, from the sampled record shape (`common.mirror.record`, one record per request part):

    records/dt=.../hour=.../*.jsonl.gz       requests a shadow also scored
    predictions/dt=.../hour=.../*.jsonl.gz   live-only requests

This module reads the three prefixes for a window and yields one `PredictionRow` per answered row,
each (request id, row) once: a row delivered twice (the log subscription and SQS deliver at least
once) is counted as a duplicate, the first one read is kept (both are the same log line). The set of
keys seen is held in memory (one per row), which bounds the in-process reader to windows of a few
million rows; larger windows are the query engine's (docs/queries.md). Numpy-free.
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
    """The row's index in its request."""
    requested_at: datetime
    model_version: str
    function_version: str
    features: list[float] | None
    """The float32 values the live model saw, in the model's feature order; None for the rows the
    log did not sample (only a share carries inputs)."""
    predicted: Any
    task: str | None = None
    """"classification" or "regression" as the recorder wrote it; None in records written before."""
    probabilities: list[float] | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.request_id, self.row)


@dataclass
class LogStats:
    read: ReadStats = field(default_factory=ReadStats)
    records: int = 0
    """Valid-looking lines read (row records of the log, request-part records before it)."""
    duplicate_records: int = 0
    invalid_records: int = 0
    outside_window: int = 0
    rows: int = 0
    rows_with_features: int = 0


def parse_timestamp(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00").astimezone(UTC)
    except ValueError:
        return None


def _features(values: Any) -> list[float] | None:
    """The inputs as floats, or None when they are not a list of finite numbers."""
    if not isinstance(values, list) or not all(
        type(v) in (int, float) and math.isfinite(v) for v in values
    ):
        return None
    return [float(v) for v in values]


def _row_record(document: dict[str, Any]) -> PredictionRow | None:
    """One line of `prediction-log/` -> its row, or None when it is not a valid row record."""
    request_id, row = document.get("request_id"), document.get("row")
    requested_at = parse_timestamp(document.get("requested_at"))
    model_version, function_version = document.get("model_version"), document.get("function_version")
    if not isinstance(request_id, str) or not request_id or type(row) is not int or row < 0:
        return None
    if requested_at is None or "prediction" not in document:
        return None
    if not isinstance(model_version, str) or not isinstance(function_version, str):
        return None
    raw_features, raw_probabilities = document.get("features"), document.get("probabilities")
    features = None if raw_features is None else _features(raw_features)
    probabilities = None if raw_probabilities is None else _features(raw_probabilities)
    if (raw_features is not None and features is None) or (
        raw_probabilities is not None and probabilities is None
    ):
        return None
    task = document.get("task")
    return PredictionRow(
        request_id=request_id,
        row=row,
        requested_at=requested_at,
        model_version=model_version,
        function_version=function_version,
        features=features,
        predicted=document["prediction"],
        task=task if isinstance(task, str) else None,
        probabilities=probabilities,
    )


def _part_rows(document: dict[str, Any], requested_at: datetime) -> list[PredictionRow] | None:
    """One request-part record written before the log (`common.mirror.record`) -> its rows."""
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
        features = _features(values)
        if features is None:
            return None
        rows.append(
            PredictionRow(
                request_id=request_id,
                row=offset + index,
                requested_at=requested_at,
                model_version=model_version,
                function_version=function_version,
                features=features,
                predicted=predicted,
            )
        )
    return rows


def _rows_of(
    document: dict[str, Any], seen_parts: set[str], stats: LogStats
) -> tuple[datetime, list[PredictionRow]] | None:
    """A line's request time and rows (a row record's one row, a part record's rows); None when it
    is invalid or a part record read before (its id is the part's, not a row's)."""
    if "record_id" not in document:
        row = _row_record(document)
        return None if row is None else (row.requested_at, [row])
    record_id = document.get("record_id")
    requested_at = parse_timestamp(document.get("timestamp"))
    if not isinstance(record_id, str) or requested_at is None:
        return None
    if record_id in seen_parts:
        stats.duplicate_records += 1
        return requested_at, []
    seen_parts.add(record_id)
    rows = _part_rows(document, requested_at)
    return None if rows is None else (requested_at, rows)


def prediction_rows(
    s3: Any,
    bucket: str,
    *,
    since: datetime,
    until: datetime,
    stats: LogStats | None = None,
    max_workers: int = 8,
) -> Iterator[PredictionRow]:
    """Every logged live prediction row with since <= request time < until, each (request id, row)
    once, in the order the objects are listed (`prediction-log/` first, then the older prefixes)."""
    stats = stats if stats is not None else LogStats()
    prefixes = [p for prefix in PREDICTION_LOG_PREFIXES for p in partition_prefixes(since, until, prefix)]
    seen_parts: set[str] = set()
    seen_rows: set[tuple[str, int]] = set()
    for document in iter_documents(s3, bucket, prefixes, stats=stats.read, max_workers=max_workers):
        stats.records += 1
        parsed = _rows_of(document, seen_parts, stats)
        if parsed is None:
            stats.invalid_records += 1
            continue
        requested_at, rows = parsed
        if not rows:
            continue
        if not since <= requested_at < until:
            stats.outside_window += 1
            continue
        for row in rows:
            key = (row.request_id, row.row)
            if key in seen_rows:
                stats.duplicate_records += 1
                continue
            seen_rows.add(key)
            stats.rows += 1
            if row.features is not None:
                stats.rows_with_features += 1
            yield row
