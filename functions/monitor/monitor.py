"""The monitor function's domain: accuracy and drift over the last window, as CloudWatch metrics.

Each run joins the window's logged predictions with the feedback received so far
(`common.observe.label_join`), aggregates them (`common.observe.live_quality`, the code
`modelctl report accuracy` uses) and puts, in the configured namespace:

- `LiveAccuracy` and `LiveQuality` (the configured metric), dimensions `service`: over every model
  version's labelled rows of the window, only when at least `min_labelled` rows are labelled (fewer
  would make the alarm on it fire on noise). The retraining workflow's early-start alarm reads
  `LiveAccuracy` with exactly the `service` dimension.
- `LabelledPredictions`, `LoggedPredictions`, `FeedbackWithoutPrediction`, dimensions `service`.
- `FeatureDrift` (PSI) per feature, dimensions `service`, `feature`: for the model version that served
  most logged rows of the window, against its training baseline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.observe.classification_metrics import accuracy, metric
from common.observe.label_join import JoinStats, joined_rows
from common.observe.live_quality import ModelInfoSource, QualityAggregator

MAX_DATUMS_PER_CALL = 1000  # PutMetricData's limit


@dataclass(frozen=True)
class MonitorSettings:
    log_bucket: str
    namespace: str
    service: str
    window: timedelta
    metric_name: str
    min_labelled: int


@dataclass(frozen=True)
class MonitorResult:
    since: datetime
    until: datetime
    logged: int
    labelled: int
    accuracy: float | None
    quality: float | None
    published_accuracy: bool
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
        for row, feedback in joined_rows(self.s3, settings.log_bucket, since=since, until=until, stats=stats):
            aggregator.add(row, feedback)
        cells = aggregator.last_window()
        confusion: Counter[tuple[Hashable, Hashable]] = Counter()
        for cell in cells.values():
            confusion.update(cell.confusion)
        labelled = sum(confusion.values())
        logged = sum(cell.predictions for cell in cells.values())
        overall_accuracy = accuracy(confusion)
        quality = metric(settings.metric_name, confusion)
        drift_version = max(cells, key=lambda v: cells[v].predictions) if cells else None
        drift_cell = cells.get(drift_version) if drift_version is not None else None
        drift = drift_cell.drift.psi() if drift_cell is not None and drift_cell.drift is not None else {}
        publish_accuracy = labelled >= settings.min_labelled and overall_accuracy is not None
        self._put(
            until,
            logged=logged,
            labelled=labelled,
            unmatched=stats.feedback_unmatched,
            accuracy=overall_accuracy if publish_accuracy else None,
            quality=quality if publish_accuracy else None,
            drift=drift,
        )
        return MonitorResult(
            since=since,
            until=until,
            logged=logged,
            labelled=labelled,
            accuracy=overall_accuracy,
            quality=quality,
            published_accuracy=publish_accuracy,
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
