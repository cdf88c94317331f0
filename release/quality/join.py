"""Per-version labelled arms: from a window's prediction rows joined with feedback
(`common.observe.label_join.joined_rows`), one `ArmSummary` per function version for a per-row metric.

The arm of a row is the *function version* that answered it (the alias routes between function
versions; each pins one model). A row's metric is:

- `accuracy` (classifiers): 1 when the label equals the prediction, else 0; higher is better.
- `absolute_error` (regressors): |label - prediction|; lower is better.

A labelled row whose label and prediction cannot be compared under the metric (a string label for
a regressor) is counted as `unscorable`, never guessed. An optional cost matrix (classifiers) adds
the mean cost per labelled row: `cost[str(truth)][str(predicted)]`, missing entries costing 0.

The quality gate and the A/B report call `version_arms(rows, metric=...)`, or `window_arms(...)`
to read the window from the log bucket as well.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from common.business_metric import finite_number, row_cost
from common.observe.feedback import Feedback
from common.observe.label_join import DEFAULT_LOOKBACK, JoinStats, joined_rows
from common.observe.prediction_log import PredictionRow
from release.quality.arms import ArmSummary, Direction

CostMatrix = Mapping[str, Mapping[str, float]]


class Metric(StrEnum):
    ACCURACY = "accuracy"
    ABSOLUTE_ERROR = "absolute_error"

    @property
    def direction(self) -> Direction:
        return Direction.HIGHER_IS_BETTER if self is Metric.ACCURACY else Direction.LOWER_IS_BETTER

    @property
    def binary(self) -> bool:
        return self is Metric.ACCURACY

    @classmethod
    def for_task(cls, task: str) -> Metric:
        """The default metric of a model's `task` (metadata.json): accuracy unless regression."""
        return cls.ABSOLUTE_ERROR if task == "regression" else cls.ACCURACY


def row_metric(metric: Metric, label: Any, predicted: Any) -> float | None:
    """One labelled row's metric value; None when the label and prediction cannot be compared."""
    if metric is Metric.ACCURACY:
        if isinstance(predicted, (list, dict)) or isinstance(label, (list, dict)):
            return None
        return 1.0 if label == predicted else 0.0
    truth, guess = finite_number(label), finite_number(predicted)
    if truth is None or guess is None:
        return None
    return abs(truth - guess)


@dataclass
class VersionArm:
    """One function version's rows in the window."""

    function_version: str
    metric: Metric
    model_versions: set[str] = field(default_factory=set)
    predictions: int = 0
    labelled: int = 0
    unscorable: int = 0
    values: array[float] = field(default_factory=lambda: array("d"))
    cost_total: float = 0.0

    @property
    def summary(self) -> ArmSummary:
        """The metric's summary over the scorable labelled rows."""
        if self.metric.binary:
            return ArmSummary.of_counts(round(sum(self.values)), len(self.values))
        return ArmSummary.of(self.values, binary=False)

    @property
    def mean_cost(self) -> float | None:
        """Mean business cost per labelled row (with a cost matrix), None without labelled rows."""
        return self.cost_total / self.labelled if self.labelled else None


@dataclass
class ArmBuilder:
    """Adds joined rows one by one. `metric` may be a function of the first labelled row (e.g. the
    task in its model's metadata) when it is not known before reading."""

    metric: Metric | Callable[[PredictionRow], Metric]
    versions: frozenset[str] | None = None
    cost_matrix: CostMatrix | None = None
    arms: dict[str, VersionArm] = field(default_factory=dict)
    _chosen: Metric | None = None

    def metric_for(self, row: PredictionRow) -> Metric:
        if self._chosen is None:
            self._chosen = self.metric if isinstance(self.metric, Metric) else self.metric(row)
        return self._chosen

    @property
    def chosen_metric(self) -> Metric | None:
        return (
            self._chosen
            if self._chosen is not None
            else (self.metric if isinstance(self.metric, Metric) else None)
        )

    def add(self, row: PredictionRow, feedback: Feedback | None) -> None:
        version = row.function_version
        if self.versions is not None and version not in self.versions:
            return
        arm = self.arms.get(version)
        if arm is None:
            arm = self.arms[version] = VersionArm(version, self.chosen_metric or Metric.ACCURACY)
        arm.predictions += 1
        arm.model_versions.add(row.model_version)
        if feedback is None:
            return
        metric = self.metric_for(row)
        arm.metric = metric
        arm.labelled += 1
        value = row_metric(metric, feedback.label, row.predicted)
        if value is None:
            arm.unscorable += 1
        else:
            arm.values.append(value)
        if self.cost_matrix is not None:
            arm.cost_total += row_cost(self.cost_matrix, feedback.label, row.predicted)

    def result(self) -> dict[str, VersionArm]:
        """The arms, every named version present (empty when it logged nothing), in version order."""
        metric = self.chosen_metric or Metric.ACCURACY
        for version in self.versions or ():
            self.arms.setdefault(version, VersionArm(version, metric))
        for arm in self.arms.values():
            arm.metric = metric
        return dict(sorted(self.arms.items(), key=lambda item: _version_order(item[0])))


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)


def version_arms(
    rows: Iterable[tuple[PredictionRow, Feedback | None]],
    *,
    metric: Metric | Callable[[PredictionRow], Metric],
    versions: Iterable[str] | None = None,
    cost_matrix: CostMatrix | None = None,
) -> dict[str, VersionArm]:
    """One arm per function version (only `versions` when given, each present even without rows)
    from joined rows (prediction row, its feedback or None)."""
    builder = ArmBuilder(
        metric=metric,
        versions=frozenset(versions) if versions is not None else None,
        cost_matrix=cost_matrix,
    )
    for row, feedback in rows:
        builder.add(row, feedback)
    return builder.result()


def window_only(
    rows: Iterable[tuple[PredictionRow, Feedback | None]],
    since: datetime,
    on_row: Callable[[PredictionRow], None] | None = None,
) -> Iterator[tuple[PredictionRow, Feedback | None]]:
    """The joined rows of the window: without the lookback's rows (labels received in the window for
    predictions made before it), each passed to `on_row` first when given."""
    for row, item in rows:
        if row.requested_at >= since:
            if on_row is not None:
                on_row(row)
            yield row, item


def window_arms(
    s3: Any,
    log_bucket: str,
    *,
    since: datetime,
    until: datetime,
    metric: Metric | Callable[[PredictionRow], Metric],
    versions: Iterable[str] | None = None,
    feedback_until: datetime | None = None,
    cost_matrix: CostMatrix | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
    on_row: Callable[[PredictionRow], None] | None = None,
) -> tuple[dict[str, VersionArm], JoinStats]:
    """The arms of the predictions logged in [since, until) joined with the feedback received until
    `feedback_until`, and the join's counts (what was logged, received, joined and not). Labels for
    predictions made before `since` are recognised through the `lookback` (counted as
    `feedback_before_window`, not as unknown ids) but stay out of the arms: an arm is the window's
    traffic. `on_row` sees every row of the window (a report counting what it found)."""
    stats = JoinStats()
    rows = joined_rows(
        s3,
        log_bucket,
        since=since,
        until=until,
        feedback_until=feedback_until,
        lookback=lookback,
        stats=stats,
    )
    arms = version_arms(
        window_only(rows, since, on_row), metric=metric, versions=versions, cost_matrix=cost_matrix
    )
    return arms, stats
