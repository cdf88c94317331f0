"""The accuracy report and the A/B report's arms read through Athena: the same documents as the
in-process path (`modelctl.reports.accuracy.build`, `release.quality.join.window_arms`), with the
queries' cost in the document's source."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from common.observe.label_join import JoinStats
from common.observe.live_quality import ModelInfoSource
from common.observe.prediction_log import PredictionRow
from modelctl.reports.accuracy.build import check_windows
from modelctl.reports.query.athena import AthenaRunner
from modelctl.reports.query.documents import accuracy_aggregator, arms_from_cells, read_cells, task_of_cells
from modelctl.reports.query.sql import Tables
from release.errors import ShadowError
from release.quality.join import CostMatrix, Metric, VersionArm


def accuracy_report(
    runner: AthenaRunner,
    tables: Tables,
    *,
    log_bucket: str,
    model_info: ModelInfoSource,
    since: datetime,
    until: datetime,
    window: timedelta,
    metric_name: str,
    feedback_until: datetime,
) -> dict[str, Any]:
    check_windows(since, until, window)
    started = time.perf_counter()
    try:
        aggregator, stats = accuracy_aggregator(
            runner,
            tables,
            since=since,
            until=until,
            window=window,
            metric_name=metric_name,
            model_info=model_info,
            feedback_until=feedback_until,
        )
    except ValueError as exc:
        raise ShadowError(str(exc)) from None
    document = aggregator.document(stats)
    document["source"].update(
        bucket=log_bucket,
        feedback_until=feedback_until.isoformat(timespec="seconds"),
        read_seconds=round(time.perf_counter() - started, 3),
        engine="athena",
        athena=runner.stats.to_dict(),
    )
    return document


def accuracy_builder(
    athena: tuple[AthenaRunner, Tables] | None, local: Callable[..., dict[str, Any]]
) -> Callable[..., dict[str, Any]]:
    """`build_accuracy_report`'s signature: `local` (the in-process build) when `athena` is None,
    else `accuracy_report` on that runner and tables."""
    if athena is None:
        return local
    runner, tables = athena

    def build(*, s3: Any, business: Any = None, **options: Any) -> dict[str, Any]:
        if business is not None:
            raise ShadowError("a business metric needs every labelled row: use --engine local")
        return accuracy_report(runner, tables, **options)

    return build


def arms_reader(
    runner: AthenaRunner, tables: Tables, task_of: Callable[[str], str | None]
) -> Callable[..., tuple[dict[str, VersionArm], JoinStats]]:
    """`release.quality.join.window_arms`'s signature, answered from Athena."""

    def read(
        _s3: Any,
        _log_bucket: str,
        *,
        since: datetime,
        until: datetime,
        metric: Metric | Callable[[PredictionRow], Metric],
        versions: Iterable[str] | None = None,
        feedback_until: datetime | None = None,
        cost_matrix: CostMatrix | None = None,
    ) -> tuple[dict[str, VersionArm], JoinStats]:
        cells = read_cells(
            runner,
            tables,
            since=since,
            until=until,
            feedback_until=feedback_until or until,
            window=until - since,
        )
        if isinstance(metric, Metric):
            chosen = metric
        else:
            labelled = sorted(
                {str(r["model_version"]) for r in cells.rows if r["labelled"] not in (None, "0")}
            )
            task = next((t for t in map(task_of, labelled) if t is not None), None) or task_of_cells(
                cells.rows
            )
            chosen = Metric.for_task(task or "classification")
        arms = arms_from_cells(cells.rows, metric=chosen, versions=versions, cost_matrix=cost_matrix)
        return arms, cells.stats

    return read
