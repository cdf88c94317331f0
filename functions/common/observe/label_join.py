"""Joining logged live predictions with the ground truth clients sent to `POST /feedback`.

Feedback names a prediction by (request id, row) and arrives after it, minutes or days later; it is
stored by the hour it was *received*. A join over the window [since, until) of request time:

- reads the feedback received in [since, feedback_until) (default: now) and keeps one label per
  (request id, row): the one received last (a client correcting a label sends it again; on equal
  times, the one listed last). The others are counted as `feedback_duplicates`, never joined twice;
- streams the prediction rows of the window and pairs each with its label (or None);
- then, while labels remain unmatched, reads the lookback [since - lookback, since) going back from
  `since` (the rest of since's UTC day, then day by day) and yields the rows there that have a label:
  feedback received in the window for an earlier prediction joins its record
  (`feedback_before_window`). Consumers tell those rows by `row.requested_at < since` (the accuracy
  report and the monitor count them as labels received in the window; the A/B arms keep to the
  window's predictions). A window whose feedback all joins reads nothing of the lookback; a label
  that joins nothing makes the join read the whole lookback to be sure;
- counts every label that matched no record: `feedback_unknown` when it was received before `until`
  (its prediction, made before its feedback, would be within [since - lookback, until): the id was
  never answered, or is older than the lookback), `feedback_after_window` when it was received after
  `until` (it may name a prediction made after the window, which this join does not read).

`DEFAULT_LOOKBACK` (7 days) covers feedback that arrives up to a week after its prediction; reports
take `--lookback` for slower ground truth. Feedback held in memory is small (one id and label per
item); prediction rows stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from common.layout import FEEDBACK_PREFIX, partition_prefixes
from common.observe.feedback import Feedback, parse_record
from common.observe.log_objects import ReadStats, iter_documents
from common.observe.prediction_log import LogStats, PredictionRow, parse_timestamp, prediction_rows

DEFAULT_LOOKBACK = timedelta(days=7)


@dataclass(frozen=True)
class LabelledPrediction:
    request_id: str
    row: int
    requested_at: datetime
    model_version: str
    function_version: str
    features: list[float] | None
    """The float32 inputs the live model saw, in the model's feature order (None when unsampled)."""
    predicted: Any
    label: Any


@dataclass
class JoinStats:
    log: LogStats = field(default_factory=LogStats)
    feedback_read: ReadStats = field(default_factory=ReadStats)
    feedback_items: int = 0
    """Valid feedback lines read (before keeping one per request id and row)."""
    feedback_invalid: int = 0
    feedback_labels: int = 0
    """Distinct (request id, row) with a label."""
    feedback_duplicates: int = 0
    """Feedback lines for a (request id, row) already labelled: superseded by the latest."""
    feedback_matched: int = 0
    """Labels joined with a prediction of the window."""
    feedback_before_window: int = 0
    """Labels joined with a prediction made in the lookback, before the window."""
    feedback_unknown: int = 0
    """Labels received before `until` whose (request id, row) has no record in the window or lookback."""
    feedback_after_window: int = 0
    """Labels received after `until` without a record in the window (maybe a later prediction)."""
    lookback_seconds: int = 0
    window_rows: int = 0
    """Prediction rows of the window (each once)."""
    lookback_log: LogStats = field(default_factory=LogStats)
    """What was read of the lookback (only while labels remained unmatched)."""

    @property
    def feedback_unmatched(self) -> int:
        """Labels not joined with any record read."""
        return self.feedback_unknown + self.feedback_after_window

    def document(self) -> dict[str, Any]:
        """The join's counts, as every report that joins shows them."""
        return {
            "lookback_seconds": self.lookback_seconds,
            "lookback_rows_read": self.lookback_log.rows,
            "feedback_items": self.feedback_items,
            "feedback_invalid": self.feedback_invalid,
            "feedback_duplicates": self.feedback_duplicates,
            "feedback_labels": self.feedback_labels,
            "feedback_matched": self.feedback_matched,
            "feedback_before_window": self.feedback_before_window,
            "feedback_unknown": self.feedback_unknown,
            "feedback_after_window": self.feedback_after_window,
        }


def _later(item: Feedback, known: Feedback) -> bool:
    """Whether `item` supersedes `known`: received later, or at the same time and read later."""
    return item.received_at >= known.received_at


def read_feedback(
    s3: Any,
    bucket: str,
    *,
    since: datetime,
    until: datetime,
    stats: JoinStats | None = None,
    max_workers: int = 8,
) -> dict[tuple[str, int], Feedback]:
    """The latest label per (request id, row) among feedback received in [since, until) (by its
    `received_at`: the partitions at the edges also hold labels received just outside)."""
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
        received = parse_timestamp(item.received_at) if item is not None else None
        if item is None or received is None:
            stats.feedback_invalid += 1
            continue
        if not since <= received < until:  # the hour partitions hold the edges' neighbours
            continue
        stats.feedback_items += 1
        known = latest.get(item.key)
        if known is None or _later(item, known):
            latest[item.key] = item
    stats.feedback_labels = len(latest)
    stats.feedback_duplicates = stats.feedback_items - len(latest)
    return latest


def _lookback_chunks(since: datetime, lookback: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """[since - lookback, since) in spans going back from `since`: to the start of its UTC day,
    then whole days (each listed with one prefix per day), the last one cut at the lookback."""
    earliest = since - lookback
    end = since
    while end > earliest:
        day_start = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = day_start if day_start < end else end - timedelta(days=1)
        start = max(start, earliest)
        yield start, end
        end = start


def join_rows(
    rows: Iterator[PredictionRow],
    feedback: dict[tuple[str, int], Feedback],
    stats: JoinStats,
    *,
    earlier: Callable[[], Iterator[Iterator[PredictionRow]]] | None = None,
    until: datetime | None = None,
) -> Iterator[tuple[PredictionRow, Feedback | None]]:
    """Every row of `rows` (the window) with its feedback (or None); then, while labels remain
    unmatched, the rows of each span `earlier` gives (going back in time) that have feedback.
    Counts the labels once done."""
    matched: set[tuple[str, int]] = set()
    for row in rows:
        stats.window_rows += 1
        item = feedback.get(row.key)
        if item is not None:
            matched.add(row.key)
        yield row, item
    stats.feedback_matched = len(matched)
    before: set[tuple[str, int]] = set()
    if earlier is not None and len(matched) < len(feedback):
        for span in earlier():
            for row in span:
                item = feedback.get(row.key)
                if item is not None and row.key not in matched and row.key not in before:
                    before.add(row.key)
                    yield row, item
            if len(matched) + len(before) == len(feedback):
                break
    stats.feedback_before_window = len(before)
    unknown = after = 0
    for key, item in feedback.items():
        if key in matched or key in before:
            continue
        received = parse_timestamp(item.received_at)
        if until is not None and received is not None and received >= until:
            after += 1
        else:
            unknown += 1
    stats.feedback_unknown, stats.feedback_after_window = unknown, after


def joined_rows(
    s3: Any,
    bucket: str,
    *,
    since: datetime,
    until: datetime,
    feedback_until: datetime | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
    stats: JoinStats | None = None,
) -> Iterator[tuple[PredictionRow, Feedback | None]]:
    """Every logged prediction row of [since, until) with its label when one was received, then the
    rows of [since - lookback, since) labelled by feedback received from `since` on (module doc)."""
    if lookback < timedelta(0):
        raise ValueError(f"the lookback must not be negative, got {lookback}")
    stats = stats if stats is not None else JoinStats()
    stats.lookback_seconds = int(lookback.total_seconds())
    feedback_until = feedback_until or datetime.now(tz=UTC)
    feedback = read_feedback(s3, bucket, since=since, until=max(feedback_until, until), stats=stats)
    rows = prediction_rows(s3, bucket, since=since, until=until, stats=stats.log)

    def earlier() -> Iterator[Iterator[PredictionRow]]:
        for start, end in _lookback_chunks(since, lookback):
            yield prediction_rows(s3, bucket, since=start, until=end, stats=stats.lookback_log)

    yield from join_rows(rows, feedback, stats, earlier=earlier, until=until)


def labelled_predictions(
    s3: Any,
    bucket: str,
    *,
    since: datetime,
    until: datetime,
    feedback_until: datetime | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
    stats: JoinStats | None = None,
) -> Iterator[LabelledPrediction]:
    """The logged live predictions of [since, until) that received a label (in the log bucket
    `bucket`), one per row, with the latest label sent for it; with those of the lookback that
    were labelled from `since` on."""
    for row, item in joined_rows(
        s3, bucket, since=since, until=until, feedback_until=feedback_until, lookback=lookback, stats=stats
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
