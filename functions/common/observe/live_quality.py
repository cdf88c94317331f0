"""Live model quality per time window and model version: accuracy, a configured metric and feature
drift (PSI against the training baseline), from logged predictions joined with feedback.

A regressor's cells (its metadata says task "regression"; without metadata, its float predictions
do) sum the errors prediction - truth instead of counting a confusion matrix: their summaries add
`mae`, `rmse` and `mean_error`, have no accuracy, and their "metric" is the configured metric when it
is a regression metric, else RMSE (`regression_metrics.metric_in_force`). Classifiers' summaries are
unchanged.

One pass over the joined rows (`common.observe.label_join.joined_rows`): each row goes to the cell of its
window (windows of equal length aligned to `since`) and its model version; a labelled row adds to
the cell's confusion counts, every row that carries its inputs (the log's sampled share) adds to its
drift counts. A labelled row predicted before `since` (the join's lookback: a label received in the
report for an earlier prediction) goes to its version's `before_window` cell, shown beside the
windows and never in them. Memory is one
small cell per window and version. `QualityAggregator.document()` is the JSON document the report
renders and the monitor publishes from (`schema_version` 1).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from common.layout import metadata_key
from common.observe import regression_metrics
from common.observe.classification_metrics import METRICS, accuracy, metric
from common.observe.drift import MAJOR, Baseline, DriftCounter
from common.observe.feedback import Feedback
from common.observe.label_join import JoinStats
from common.observe.prediction_log import PredictionRow
from common.observe.regression_metrics import ErrorSums, metric_in_force

DOCUMENT_SCHEMA_VERSION = 1
CLASSIFICATION, REGRESSION = "classification", "regression"
REGRESSION_TRAINING_METRICS = ("mae", "rmse", "r2")
_BEFORE_WINDOW_KEYS = ("labelled", "accuracy", "metric", "mae", "rmse", "mean_error")


@dataclass(frozen=True)
class ModelInfo:
    """What the report needs from a model's metadata."""

    version: str
    baseline: Baseline
    training_metrics: dict[str, float]
    task: str = CLASSIFICATION


ModelInfoSource = Callable[[str], ModelInfo | None]


def model_info_from_metadata(document: dict[str, Any]) -> ModelInfo:
    names = document.get("feature_names") or []
    metrics = document.get("metrics") or {}
    return ModelInfo(
        version=str(document.get("version", "")),
        baseline=Baseline.from_metadata([str(n) for n in names], document.get("feature_baseline") or {}),
        training_metrics={k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
        task=REGRESSION if document.get("task") == REGRESSION else CLASSIFICATION,
    )


class S3ModelInfo:
    """Model metadata from the model store (`models/<version>/metadata.json`), read once per version;
    a version that cannot be read gives None (the report then shows no baseline for it)."""

    def __init__(self, s3: Any, model_bucket: str) -> None:
        self.s3 = s3
        self.model_bucket = model_bucket
        self._cache: dict[str, ModelInfo | None] = {}
        self.errors: dict[str, str] = {}

    def __call__(self, version: str) -> ModelInfo | None:
        if version not in self._cache:
            try:
                body = self.s3.get_object(Bucket=self.model_bucket, Key=metadata_key(version))
                document = json.loads(body["Body"].read())
                self._cache[version] = (
                    model_info_from_metadata(document) if isinstance(document, dict) else None
                )
            except Exception as exc:  # a missing or unreadable model is reported, not fatal
                self.errors[version] = f"{type(exc).__name__}: {exc}"[:300]
                self._cache[version] = None
        return self._cache[version]


@dataclass
class Cell:
    predictions: int = 0
    confusion: Counter[tuple[Hashable, Hashable]] = field(default_factory=Counter)
    drift: DriftCounter | None = None
    task: str | None = None
    """CLASSIFICATION or REGRESSION; None until known (no metadata: the first prediction tells)."""
    errors: ErrorSums = field(default_factory=ErrorSums)

    @property
    def labelled(self) -> int:
        return sum(self.confusion.values()) + self.errors.count

    def add(self, row: PredictionRow, label: Any | None) -> None:
        self.predictions += 1
        if self.task is None:  # no metadata: the record's task, else its prediction's type tells
            if row.task in (REGRESSION, CLASSIFICATION):
                self.task = row.task
            else:
                self.task = REGRESSION if type(row.predicted) is float else CLASSIFICATION
        if label is not None:
            if self.task == REGRESSION:
                if regression_metrics.is_number(label) and regression_metrics.is_number(row.predicted):
                    self.errors.add(row.predicted, label)
            else:
                self.confusion[(_hashable(label), _hashable(row.predicted))] += 1
        if self.drift is not None and row.features is not None:
            self.drift.add(row.features)

    def merge(self, other: Cell) -> None:
        self.predictions += other.predictions
        self.confusion.update(other.confusion)
        self.errors.merge(other.errors)
        if self.task is None:
            self.task = other.task
        if self.drift is not None and other.drift is not None:
            self.drift.merge(other.drift)

    def summary(self, metric_name: str) -> dict[str, Any]:
        drift = self.drift.psi() if self.drift is not None and self.drift.rows else {}
        known = {name: value for name, value in drift.items() if value is not None}
        top = max(known, key=lambda name: known[name]) if known else None
        regression = self.task == REGRESSION
        quality: dict[str, Any] = (
            {
                "accuracy": None,
                "metric": _round(self.errors.metric(metric_in_force(metric_name))),
                "mae": _round(self.errors.mae()),
                "rmse": _round(self.errors.rmse()),
                "mean_error": _round(self.errors.mean_error()),
            }
            if regression
            else {
                "accuracy": _round(accuracy(self.confusion)),
                "metric": _round(metric(metric_name, self.confusion)),
            }
        )
        return {
            "predictions": self.predictions,
            "labelled": self.labelled,
            **quality,
            "psi": {name: _round(value) for name, value in drift.items()},
            "max_psi": _round(known[top]) if top is not None else None,
            "max_psi_feature": top,
            "drifted_features": sorted(name for name, value in known.items() if value > MAJOR),
        }


def _hashable(value: Any) -> Hashable:
    return value if isinstance(value, (int, str, float, bool)) or value is None else json.dumps(value)


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class QualityAggregator:
    def __init__(
        self,
        *,
        since: datetime,
        until: datetime,
        window: timedelta,
        metric_name: str,
        model_info: ModelInfoSource,
    ) -> None:
        if window <= timedelta(0):
            raise ValueError("the window must be positive")
        if until <= since:
            raise ValueError("until must be after since")
        if metric_name not in METRICS + regression_metrics.METRICS:
            raise ValueError(
                f"unknown metric {metric_name!r}; choose one of "
                f"{', '.join(METRICS + regression_metrics.METRICS)}"
            )
        self.since, self.until, self.window = since, until, window
        self.metric_name = metric_name
        self.model_info = model_info
        self.cells: dict[tuple[int, str], Cell] = {}
        self.earlier: dict[str, Cell] = {}
        """Per model version: labelled rows predicted before `since` (labels received in the report)."""
        self._info: dict[str, ModelInfo | None] = {}

    @property
    def window_count(self) -> int:
        return -(-(self.until - self.since) // self.window)

    def window_bounds(self, index: int) -> tuple[datetime, datetime]:
        start = self.since + index * self.window
        return start, min(start + self.window, self.until)

    def _info_for(self, version: str) -> ModelInfo | None:
        if version not in self._info:
            self._info[version] = self.model_info(version)
        return self._info[version]

    def _new_cell(self, version: str) -> Cell:
        info = self._info_for(version)
        usable = info is not None and info.baseline.usable
        return Cell(
            drift=DriftCounter(info.baseline) if usable and info is not None else None,
            task=info.task if info is not None else None,
        )

    def add(self, row: PredictionRow, feedback: Feedback | None) -> None:
        if row.requested_at < self.since:
            if feedback is not None:
                cell = self.earlier.get(row.model_version)
                if cell is None:
                    info = self._info_for(row.model_version)
                    cell = self.earlier[row.model_version] = Cell(task=info.task if info else None)
                cell.add(row, feedback.label)
            return
        index = (row.requested_at - self.since) // self.window
        if not 0 <= index < self.window_count:
            return
        key = (index, row.model_version)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = self._new_cell(row.model_version)
        cell.add(row, feedback.label if feedback is not None else None)

    def version_totals(self) -> dict[str, Cell]:
        """Per model version, its window cells merged (empty for a version with labels for earlier
        predictions only)."""
        totals: dict[str, Cell] = {}
        for (_, version), cell in sorted(self.cells.items()):
            total = totals.get(version)
            if total is None:
                total = totals[version] = self._new_cell(version)
            total.merge(cell)
        for version in sorted(self.earlier):
            if version not in totals:
                totals[version] = self._new_cell(version)
                totals[version].task = self.earlier[version].task
        return totals

    def last_window(self) -> dict[str, Cell]:
        """The cells of the last window, per model version."""
        last = self.window_count - 1
        return {version: cell for (index, version), cell in self.cells.items() if index == last}

    def document(self, stats: JoinStats | None = None) -> dict[str, Any]:
        versions = []
        for version, total in self.version_totals().items():
            info = self._info_for(version)
            regression = total.task == REGRESSION
            training_names = REGRESSION_TRAINING_METRICS if regression else ("accuracy", self.metric_name)
            entry: dict[str, Any] = {"model_version": version}
            if regression:
                entry.update(task=REGRESSION, metric_name=metric_in_force(self.metric_name))
            earlier = self.earlier.get(version)
            before = earlier.summary(self.metric_name) if earlier is not None else None
            versions.append(
                {
                    **entry,
                    **total.summary(self.metric_name),
                    "before_window": (
                        {k: v for k, v in before.items() if k in _BEFORE_WINDOW_KEYS}
                        if before is not None
                        else None
                    ),
                    "baseline": info is not None and info.baseline.usable,
                    "training": {name: info.training_metrics.get(name) for name in training_names}
                    if info is not None
                    else None,
                    "windows": [
                        {
                            "start": _text(self.window_bounds(index)[0]),
                            "end": _text(self.window_bounds(index)[1]),
                            **(
                                self.cells[(index, version)].summary(self.metric_name)
                                if (index, version) in self.cells
                                else Cell(task=total.task).summary(self.metric_name)
                            ),
                        }
                        for index in range(self.window_count)
                    ],
                }
            )
        feature_names: list[str] = []
        for version in self.version_totals():
            info = self._info_for(version)
            if info is not None:
                feature_names.extend(n for n in info.baseline.feature_names if n not in feature_names)
        document: dict[str, Any] = {
            "schema_version": DOCUMENT_SCHEMA_VERSION,
            "since": _text(self.since),
            "until": _text(self.until),
            "window_seconds": int(self.window.total_seconds()),
            "windows": self.window_count,
            "metric": self.metric_name,
            "features": feature_names,
            "versions": versions,
        }
        if stats is not None:
            document["source"] = {
                "prediction_rows": stats.window_rows,
                "prediction_rows_with_features": stats.log.rows_with_features,
                "prediction_records": stats.log.records,
                "duplicate_records": stats.log.duplicate_records,
                "invalid_records": stats.log.invalid_records,
                "objects": stats.log.read.objects
                + stats.lookback_log.read.objects
                + stats.feedback_read.objects,
                "unreadable_objects": stats.log.read.unreadable_objects
                + stats.lookback_log.read.unreadable_objects
                + stats.feedback_read.unreadable_objects,
                **stats.document(),
                "feedback_without_prediction": stats.feedback_unmatched,
            }
        return document
