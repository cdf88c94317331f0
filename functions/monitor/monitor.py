"""The monitor function's domain: accuracy and drift over the last window, as CloudWatch metrics.

Each run joins the window's logged predictions with the feedback received so far, and the labels
received in the window for predictions made before it (the join's lookback, `LOOKBACK_HOURS`,
default 7 days; `common.observe.label_join`), aggregates them (`common.observe.live_quality`, the code
`modelctl report accuracy` uses) and puts, in the configured namespace:

- `LiveAccuracy` and `LiveQuality` (the configured metric), dimensions `service`: over every model
  version's labelled rows of the window and the labels received in it for earlier predictions,
  only when at least `min_labelled` rows are labelled (fewer
  would make the alarm on it fire on noise). The retraining workflow's early-start alarm reads
  `LiveAccuracy` with exactly the `service` dimension. For a regressor there is no accuracy:
  `LiveQuality` is the configured metric when it is a regression one (mae, rmse, mean_error),
  else RMSE, over the window's labelled regression rows.
- `LabelledPredictions`, `LoggedPredictions`, `FeedbackWithoutPrediction` (labels whose request id
  and row match no record of the window or the lookback), dimensions `service`.
- `FeatureDrift` (PSI) per feature, dimensions `service`, `feature`: for the model version that served
  most logged rows of the window, against its training baseline, over the rows that carry their
  inputs (the log's sampled share; every logged row counts for quality).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.observe.classification_metrics import accuracy, metric
from common.observe.label_join import DEFAULT_LOOKBACK, JoinStats, joined_rows
from common.observe.live_quality import REGRESSION, ModelInfoSource, QualityAggregator
from common.observe.regression_metrics import ErrorSums, metric_in_force

MAX_DATUMS_PER_CALL = 1000  # PutMetricData's limit


@dataclass(frozen=True)
class MonitorSettings:
    log_bucket: str
    namespace: str
    service: str
    window: timedelta
    metric_name: str
    min_labelled: int
    lookback: timedelta = DEFAULT_LOOKBACK


@dataclass(frozen=True)
class MonitorResult:
    since: datetime
    until: datetime
    logged: int
    labelled: int
    feedback_unknown: int
    accuracy: float | None
    quality: float | None
    published_accuracy: bool
    quality_metric: str
    drift_version: str | None
    drift: dict[str, float | None]


class Monitor:
    def __init__(
        self,
        *,
        s3: Any,
        cloudwatch: Any,
        model_info: ModelInfoSource,
        settings: MonitorSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
    ) -> None:
        self.s3 = s3
        self.cloudwatch = cloudwatch
        self.model_info = model_info
        self.settings = settings
        self._clock = clock

    def run(self) -> MonitorResult:
        settings = self.settings
        until = self._clock()
        since = until - settings.window
        aggregator = QualityAggregator(
            since=since,
            until=until,
            window=settings.window,
            metric_name=settings.metric_name,
            model_info=self.model_info,
        )
        stats = JoinStats()
        rows = joined_rows(
            self.s3, settings.log_bucket, since=since, until=until, lookback=settings.lookback, stats=stats
        )
        for row, feedback in rows:
            aggregator.add(row, feedback)
        cells = aggregator.last_window()
        confusion: Counter[tuple[Hashable, Hashable]] = Counter()
        errors = ErrorSums()
        for cell in [*cells.values(), *aggregator.earlier.values()]:
            confusion.update(cell.confusion)
            errors.merge(cell.errors)
        labelled = sum(confusion.values()) + errors.count
        logged = sum(cell.predictions for cell in cells.values())
        regression = errors.count > 0 or any(
            cell.task == REGRESSION for cell in [*cells.values(), *aggregator.earlier.values()]
        )
        if regression:  # a regressor: no accuracy; the regression metric in force
            quality_metric = metric_in_force(settings.metric_name)
            overall_accuracy = None
            quality = errors.metric(quality_metric)
        else:
            quality_metric = settings.metric_name
            overall_accuracy = accuracy(confusion)
            quality = metric(settings.metric_name, confusion)
        drift_version = max(cells, key=lambda v: cells[v].predictions) if cells else None
        drift_cell = cells.get(drift_version) if drift_version is not None else None
        drift = drift_cell.drift.psi() if drift_cell is not None and drift_cell.drift is not None else {}
        publish_accuracy = labelled >= settings.min_labelled and overall_accuracy is not None
        publish_quality = publish_accuracy or (regression and labelled >= settings.min_labelled)
        self._put(
            until,
            logged=logged,
            labelled=labelled,
            unmatched=stats.feedback_unmatched,
            accuracy=overall_accuracy if publish_accuracy else None,
            quality=quality if publish_quality else None,
            drift=drift,
        )
        return MonitorResult(
            since=since,
            until=until,
            logged=logged,
            labelled=labelled,
            feedback_unknown=stats.feedback_unmatched,
            accuracy=overall_accuracy,
            quality=quality,
            published_accuracy=publish_accuracy,
            quality_metric=quality_metric,
            drift_version=drift_version,
            drift=drift,
        )

    def _put(
        self,
        at: datetime,
        *,
        logged: int,
        labelled: int,
        unmatched: int,
        accuracy: float | None,
        quality: float | None,
        drift: dict[str, float | None],
    ) -> None:
        service = [{"Name": "service", "Value": self.settings.service}]
        data: list[dict[str, Any]] = [
            {"MetricName": "LoggedPredictions", "Dimensions": service, "Value": logged, "Unit": "Count"},
            {"MetricName": "LabelledPredictions", "Dimensions": service, "Value": labelled, "Unit": "Count"},
            {
                "MetricName": "FeedbackWithoutPrediction",
                "Dimensions": service,
                "Value": unmatched,
                "Unit": "Count",
            },
        ]
        if accuracy is not None:
            data.append(
                {"MetricName": "LiveAccuracy", "Dimensions": service, "Value": accuracy, "Unit": "None"}
            )
        if quality is not None:
            data.append(
                {"MetricName": "LiveQuality", "Dimensions": service, "Value": quality, "Unit": "None"}
            )
        for feature, value in sorted(drift.items()):
            if value is not None:
                dimensions = [*service, {"Name": "feature", "Value": feature[:255]}]
                data.append(
                    {"MetricName": "FeatureDrift", "Dimensions": dimensions, "Value": value, "Unit": "None"}
                )
        for datum in data:
            datum["Timestamp"] = at
        for start in range(0, len(data), MAX_DATUMS_PER_CALL):
            self.cloudwatch.put_metric_data(
                Namespace=self.settings.namespace, MetricData=data[start : start + MAX_DATUMS_PER_CALL]
            )
