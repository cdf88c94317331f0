"""Joining logged live predictions with the ground truth clients sent to `POST /feedback`.

Feedback names a prediction by (request id, row). It arrives after the prediction (minutes or weeks
later) and is stored by the hour it was *received*, so the join reads feedback received from the
start of the prediction window until `feedback_until` (default: now), keeps the latest label per
(request id, row) (a later correction wins), then streams the window's prediction rows and pairs
each with its label. Feedback held in memory is small (one id and label per item); prediction rows
stream. Feedback whose request was not logged (the prediction log is a sample) cannot be joined: it
is counted (`JoinStats.feedback_unmatched`), never guessed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common.layout import FEEDBACK_PREFIX, partition_prefixes
from common.observe.feedback import Feedback, parse_record
from common.observe.log_objects import ReadStats, iter_documents
from common.observe.prediction_log import LogStats, PredictionRow, prediction_rows


@dataclass(frozen=True)
class LabelledPrediction:
    request_id: str
    row: int
    requested_at: datetime
    model_version: str
    function_version: str
    features: list[float]
    """The float32 inputs the live model saw, in the model's feature order."""
    predicted: Any
    label: Any


@dataclass
class JoinStats:
    log: LogStats = field(default_factory=LogStats)
    feedback_read: ReadStats = field(default_factory=ReadStats)
    feedback_items: int = 0
    """Valid feedback lines read (before keeping the latest per request id and row)."""
    feedback_invalid: int = 0
    feedback_labels: int = 0
    """Distinct (request id, row) with a label."""
    feedback_matched: int = 0
    feedback_unmatched: int = 0
    """Feedback whose prediction is not in the log for the window (unsampled, or outside it)."""


def read_feedback(
    s3: Any,
    bucket: str,
    *,
    since: datetime,
    until: datetime,
    stats: JoinStats | None = None,
    max_workers: int = 8,
) -> dict[tuple[str, int], Feedback]:
    """The latest label per (request id, row) among feedback received in [since, until)."""
    stats = stats if stats is not None else JoinStats()
    latest: dict[tuple[str, int], Feedback] = {}
    documents = iter_documents(
        s3,
        bucket,
        partition_prefixes(since, until, FEEDBACK_PREFIX),
        stats=stats.feedback_read,
        max_workers=max_workers,
    )
    for document in documents:
        item = parse_record(document)
        if item is None:
            stats.feedback_invalid += 1
            continue
        stats.feedback_items += 1
        known = latest.get(item.key)
        if known is None or item.received_at >= known.received_at:
            latest[item.key] = item
    stats.feedback_labels = len(latest)
    return latest


def join_rows(
    rows: Iterator[PredictionRow], feedback: dict[tuple[str, int], Feedback], stats: JoinStats
) -> Iterator[tuple[PredictionRow, Feedback | None]]:
    """Every prediction row with its feedback (or None); counts what matched once `rows` is exhausted."""
    matched: set[tuple[str, int]] = set()
    for row in rows:
        item = feedback.get((row.request_id, row.row))
        if item is not None and (row.request_id, row.row) not in matched:
            matched.add((row.request_id, row.row))
        yield row, item
    stats.feedback_matched = len(matched)
    stats.feedback_unmatched = len(feedback) - len(matched)


def joined_rows(
    s3: Any,
    bucket: str,
    *,
    since: datetime,
    until: datetime,
    feedback_until: datetime | None = None,
    stats: JoinStats | None = None,
) -> Iterator[tuple[PredictionRow, Feedback | None]]:
    """Every logged prediction row of [since, until) with its label when one was received."""
    stats = stats if stats is not None else JoinStats()
    feedback_until = feedback_until or datetime.now(tz=UTC)
    feedback = read_feedback(s3, bucket, since=since, until=max(feedback_until, until), stats=stats)
    rows = prediction_rows(s3, bucket, since=since, until=until, stats=stats.log)
    yield from join_rows(rows, feedback, stats)


def labelled_predictions(
    s3: Any,
    bucket: str,
    *,
    since: datetime,
    until: datetime,
    feedback_until: datetime | None = None,
    stats: JoinStats | None = None,
) -> Iterator[LabelledPrediction]:
    """The logged live predictions of [since, until) that received a label (in the log bucket
    `bucket`), one per row, with the latest label sent for it."""
    for row, item in joined_rows(
        s3, bucket, since=since, until=until, feedback_until=feedback_until, stats=stats
    ):
        if item is None:
            continue
        yield LabelledPrediction(
            request_id=row.request_id,
            row=row.row,
            requested_at=row.requested_at,
            model_version=row.model_version,
            function_version=row.function_version,
            features=row.features,
            predicted=row.predicted,
            label=item.label,
        )
