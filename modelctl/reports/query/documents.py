"""The accuracy report and the A/B report's arms from the SQL aggregates (`sql.cells_query`,
`sql.drift_query`): the cells are filled into the in-process aggregators' own structures
(`QualityAggregator`'s cells, `VersionArm`s with their sufficient statistics), so the documents are
built and rendered by the same code whichever engine read the log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from common.business_metric import row_cost
from common.observe.label_join import JoinStats
from common.observe.live_quality import REGRESSION, ModelInfoSource, QualityAggregator
from common.observe.regression_metrics import ErrorSums
from modelctl.reports.query.sql import Tables, VersionBaseline, cells_query, drift_query
from release.quality.arms import ArmSummary
from release.quality.join import CostMatrix, Metric, VersionArm


class QueryRunner(Protocol):
    def rows(self, sql: str) -> list[dict[str, str | None]]: ...


def _int(value: str | None) -> int:
    return int(value) if value not in (None, "") else 0


def _float(value: str | None) -> float:
    return float(value) if value not in (None, "") else 0.0


@dataclass(frozen=True)
class Cells:
    """The cell rows of `cells_query` and the join's counts."""

    rows: list[dict[str, str | None]]
    stats: JoinStats


def read_cells(
    runner: QueryRunner,
    tables: Tables,
    *,
    since: datetime,
    until: datetime,
    feedback_until: datetime,
    window: timedelta,
) -> Cells:
    result = runner.rows(
        cells_query(tables, since=since, until=until, feedback_until=feedback_until, window=window)
    )
    cells = [row for row in result if row.get("kind") == "cell"]
    stats = JoinStats()
    stats.log.rows = sum(_int(row["predictions"]) for row in cells)
    stats.log.records = stats.log.rows
    stats.log.duplicate_records = sum(_int(row["duplicates"]) for row in cells)
    for row in result:
        if row.get("kind") == "feedback":  # predictions: distinct labels; labelled: feedback lines
            stats.feedback_labels = _int(row["predictions"])
            stats.feedback_items = _int(row["labelled"])
    stats.feedback_matched = sum(_int(row["labelled"]) for row in cells)
    stats.feedback_duplicates = stats.feedback_items - stats.feedback_labels
    stats.window_rows = stats.log.rows
    # no lookback in this query: every label without a row of the window counts as unknown
    stats.feedback_unknown = stats.feedback_labels - stats.feedback_matched
    return Cells(cells, stats)


def _error_sums(row: dict[str, str | None]) -> ErrorSums:
    return ErrorSums(
        count=_int(row["scored"]),
        error=_float(row["error_sum"]),
        absolute=_float(row["absolute_sum"]),
        squared=_float(row["squared_sum"]),
    )


def accuracy_aggregator(
    runner: QueryRunner,
    tables: Tables,
    *,
    since: datetime,
    until: datetime,
    window: timedelta,
    metric_name: str,
    model_info: ModelInfoSource,
    feedback_until: datetime,
) -> tuple[QualityAggregator, JoinStats]:
    """`QualityAggregator` with its cells filled from the SQL aggregates (quality and drift)."""
    aggregator = QualityAggregator(
        since=since, until=until, window=window, metric_name=metric_name, model_info=model_info
    )
    cells = read_cells(runner, tables, since=since, until=until, feedback_until=feedback_until, window=window)
    for row in cells.rows:
        index, version = _int(row["window_index"]), str(row["model_version"])
        if not 0 <= index < aggregator.window_count:
            continue
        cell = aggregator.cells.get((index, version))
        if cell is None:
            cell = aggregator.cells[(index, version)] = aggregator._new_cell(version)
        cell.predictions += _int(row["predictions"])
        if cell.task is None:
            cell.task = REGRESSION if row["task"] == REGRESSION else "classification"
        if row["task"] == REGRESSION:
            cell.errors.merge(_error_sums(row))
        elif _int(row["labelled"]):
            cell.confusion[(row["label"], row["prediction"])] += _int(row["labelled"])
    _add_drift(runner, tables, aggregator, since=since, until=until, window=window)
    return aggregator, cells.stats


def _add_drift(
    runner: QueryRunner,
    tables: Tables,
    aggregator: QualityAggregator,
    *,
    since: datetime,
    until: datetime,
    window: timedelta,
) -> None:
    baselines: list[VersionBaseline] = []
    for version in sorted({version for _, version in aggregator.cells}):
        info = aggregator._info_for(version)
        if info is None or not info.baseline.usable:
            continue
        edges = {i: bins.edges for i, bins in enumerate(info.baseline.bins) if bins is not None}
        baselines.append(VersionBaseline(version, len(info.baseline.bins), edges))
    if not any(b.edges for b in baselines):
        return
    for row in runner.rows(drift_query(tables, baselines, since=since, until=until, window=window)):
        cell = aggregator.cells.get((_int(row["window_index"]), str(row["model_version"])))
        if cell is None or cell.drift is None:
            continue
        cell.drift.counts[_int(row["feature"])][_int(row["bin"])] += _int(row["rows"])
    for cell in aggregator.cells.values():
        if cell.drift is not None:
            binned = next((counts for counts in cell.drift.counts if counts), [])
            cell.drift.rows = sum(binned)


# -- the A/B report's arms ----------------------------------------------------------------------------


@dataclass
class AggregatedArm(VersionArm):
    """A version's arm from SQL aggregates: its summary is the sufficient statistics themselves."""

    aggregated: ArmSummary = field(default_factory=ArmSummary.empty)

    @property
    def summary(self) -> ArmSummary:
        return self.aggregated


def _summary(metric: Metric, successes: int, n: int, total: float, squares: float) -> ArmSummary:
    if metric.binary:
        return ArmSummary.of_counts(successes, n)
    if n == 0:
        return ArmSummary.empty(binary=False)
    mean = total / n
    return ArmSummary(n=n, mean=mean, m2=max(squares - n * mean * mean, 0.0), binary=False)


def _order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)


def arms_from_cells(
    rows: Sequence[dict[str, str | None]],
    *,
    metric: Metric,
    versions: Iterable[str] | None = None,
    cost_matrix: CostMatrix | None = None,
) -> dict[str, VersionArm]:
    """One arm per function version (only `versions` when given, each present even without rows)."""
    wanted = frozenset(versions) if versions is not None else None
    sums: dict[str, dict[str, Any]] = {}
    for row in rows:
        version = str(row["function_version"])
        if wanted is not None and version not in wanted:
            continue
        total = sums.setdefault(
            version,
            {
                "models": set(),
                "predictions": 0,
                "labelled": 0,
                "scored": 0,
                "hits": 0,
                "absolute": 0.0,
                "squared": 0.0,
                "cost": 0.0,
            },
        )
        labelled = _int(row["labelled"])
        total["models"].add(str(row["model_version"]))
        total["predictions"] += _int(row["predictions"])
        total["labelled"] += labelled
        if row["task"] == REGRESSION:
            total["scored"] += _int(row["scored"])
            total["absolute"] += _float(row["absolute_sum"])
            total["squared"] += _float(row["squared_sum"])
        elif labelled:
            total["scored"] += labelled
            total["hits"] += labelled if row["label"] == row["prediction"] else 0
            if cost_matrix is not None:
                total["cost"] += labelled * row_cost(cost_matrix, row["label"], row["prediction"])
    arms: dict[str, VersionArm] = {}
    for version in sorted(set(sums) | set(wanted or ()), key=_order):
        found = sums.get(version)
        if found is None:
            arms[version] = AggregatedArm(version, metric, aggregated=ArmSummary.empty(metric.binary))
            continue
        total = found
        n = total["scored"] if not metric.binary else total["labelled"]
        arm = AggregatedArm(
            version,
            metric,
            model_versions=total["models"],
            predictions=total["predictions"],
            labelled=total["labelled"],
            unscorable=total["labelled"] - n,
            cost_total=total["cost"],
            aggregated=_summary(metric, total["hits"], n, total["absolute"], total["squared"]),
        )
        arms[version] = arm
    return arms


def task_of_cells(rows: Sequence[dict[str, str | None]]) -> str | None:
    """The task the log rows name (of the first labelled row's version, in version order)."""
    labelled = sorted(
        (row for row in rows if _int(row["labelled"])), key=lambda row: _order(str(row["function_version"]))
    )
    return str(labelled[0]["task"]) if labelled and labelled[0]["task"] else None
