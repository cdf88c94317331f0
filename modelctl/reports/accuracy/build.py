"""Building the accuracy report's document: join the window's logged predictions with feedback and
aggregate them per window and model version (`common.observe.live_quality`, the code the monitor runs)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from common.business_metric import BusinessAccumulator, BusinessMetric
from common.observe.label_join import DEFAULT_LOOKBACK, JoinStats, joined_rows
from common.observe.live_quality import ModelInfoSource, QualityAggregator
from modelctl.reports.coverage import RequestCounter
from release.aws import aws_errors
from release.errors import ShadowError

MAX_WINDOWS = 1000


def check_windows(since: datetime, until: datetime, window: timedelta) -> None:
    if window < timedelta(minutes=1):
        raise ShadowError(f"--window must be at least 1m, got {window}")
    count = -(-(until - since) // window)
    if count > MAX_WINDOWS:
        raise ShadowError(
            f"--since/--until span {count} windows of {window}; at most {MAX_WINDOWS}: use a longer --window"
        )


def build_accuracy_report(
    *,
    s3: Any,
    log_bucket: str,
    model_info: ModelInfoSource,
    since: datetime,
    until: datetime,
    window: timedelta,
    metric_name: str,
    feedback_until: datetime,
    progress: Callable[[int], None] | None = None,
    business: BusinessMetric | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
    counter: RequestCounter | None = None,
) -> dict[str, Any]:
    """The report's document; `counter`, when given, counts the window's requests found (coverage)."""
    check_windows(since, until, window)
    try:
        aggregator = QualityAggregator(
            since=since, until=until, window=window, metric_name=metric_name, model_info=model_info
        )
    except ValueError as exc:
        raise ShadowError(str(exc)) from None
    stats = JoinStats()
    values: dict[str, BusinessAccumulator] = {}
    started = time.perf_counter()
    with aws_errors(f"reading s3://{log_bucket}", ShadowError):
        for count, (row, feedback) in enumerate(
            joined_rows(
                s3,
                log_bucket,
                since=since,
                until=until,
                feedback_until=feedback_until,
                lookback=lookback,
                stats=stats,
            ),
            start=1,
        ):
            aggregator.add(row, feedback)
            in_window = row.requested_at >= since  # else a label for an earlier prediction
            if counter is not None and in_window:
                counter.add_row(row)
            if business is not None and feedback is not None and in_window:
                values.setdefault(row.model_version, BusinessAccumulator(business)).add(
                    feedback.label, row.predicted, getattr(row, "probabilities", None), feedback.reward
                )
            if progress is not None and count % 10_000 == 0:
                progress(count)
    document = aggregator.document(stats)
    document["business_metric"] = _business(business, values, document)
    document["source"]["bucket"] = log_bucket
    document["source"]["feedback_until"] = feedback_until.isoformat(timespec="seconds")
    document["source"]["read_seconds"] = round(time.perf_counter() - started, 3)
    return document


def _business(
    business: BusinessMetric | None, values: dict[str, BusinessAccumulator], document: dict[str, Any]
) -> dict[str, Any] | None:
    """The business metric over the whole span per model version (each version entry gets its
    `business_value` too), or None without one."""
    if business is None:
        return None
    by_version = {version: accumulator.value() for version, accumulator in sorted(values.items())}
    for entry in document.get("versions", []):
        entry["business_value"] = by_version.get(str(entry.get("model_version")))
    return {**business.to_dict(), "name": business.name, "by_model_version": by_version}
