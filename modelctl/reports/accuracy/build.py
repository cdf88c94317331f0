"""Building the accuracy report's document: join the window's logged predictions with feedback and
aggregate them per window and model version (`common.observe.live_quality`, the code the monitor runs)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

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
            if counter is not None and row.requested_at >= since:
                counter.add_row(row)
            if progress is not None and count % 10_000 == 0:
                progress(count)
    document = aggregator.document(stats)
    document["source"]["bucket"] = log_bucket
    document["source"]["feedback_until"] = feedback_until.isoformat(timespec="seconds")
    document["source"]["read_seconds"] = round(time.perf_counter() - started, 3)
    return document
