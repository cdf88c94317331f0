"""The business metric per function version, as CloudWatch metrics: `BusinessMetric` (the value
over the window's labelled rows of that version: common.business_metric) and `BusinessMetricRows`
(the rows it counts), dimensions `FunctionVersion`, `service`, `kind`. Published by the monitor's
scheduled run when the stack configures a business metric (`BUSINESS_METRIC`, the JSON of
`BusinessMetric.to_dict()`); without one, nothing is read or put."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.business_metric import BusinessAccumulator, BusinessMetric
from common.observe.label_join import joined_rows

BUSINESS_METRIC_ENV = "BUSINESS_METRIC"
VALUE_METRIC, ROWS_METRIC = "BusinessMetric", "BusinessMetricRows"


@dataclass
class BusinessPublisher:
    s3: Any
    cloudwatch: Any
    log_bucket: str
    namespace: str
    service: str
    window: timedelta
    metric: BusinessMetric | None
    clock: Callable[[], datetime] = lambda: datetime.now(tz=UTC)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BusinessPublisher:
        """From the monitor's environment; the AWS clients are made only with a metric configured."""
        text = environ.get(BUSINESS_METRIC_ENV, "")
        metric = BusinessMetric.from_dict(json.loads(text)) if text else None
        s3 = cloudwatch = None
        if metric is not None:
            import boto3  # provided by the Lambda runtime

            s3, cloudwatch = boto3.client("s3"), boto3.client("cloudwatch")
        return cls(
            s3=s3,
            cloudwatch=cloudwatch,
            log_bucket=environ.get("LOG_BUCKET", ""),
            namespace=environ.get("METRICS_NAMESPACE", ""),
            service=environ.get("SERVICE_NAME", ""),
            window=timedelta(hours=int(environ.get("WINDOW_HOURS", "24") or 24)),
            metric=metric,
        )

    def run(self) -> dict[str, float | None]:
        """The value per function version over the window (published), {} without a metric."""
        if self.metric is None:
            return {}
        until = self.clock()
        by_version: dict[str, BusinessAccumulator] = {}
        for row, feedback in joined_rows(self.s3, self.log_bucket, since=until - self.window, until=until):
            if feedback is None:
                continue
            accumulator = by_version.setdefault(row.function_version, BusinessAccumulator(self.metric))
            accumulator.add(
                feedback.label, row.predicted, getattr(row, "probabilities", None), feedback.reward
            )
        values = {version: accumulator.value() for version, accumulator in sorted(by_version.items())}
        data = []
        for version, accumulator in sorted(by_version.items()):
            dimensions = [
                {"Name": "FunctionVersion", "Value": version},
                {"Name": "service", "Value": self.service},
                {"Name": "kind", "Value": self.metric.kind},
            ]
            value = values[version]
            if value is not None:
                data.append(
                    {"MetricName": VALUE_METRIC, "Dimensions": dimensions, "Value": value, "Timestamp": until}
                )
            rows = len(accumulator.values())
            data.append({"MetricName": ROWS_METRIC, "Dimensions": dimensions, "Value": rows, "Unit": "Count",
                         "Timestamp": until})  # fmt: skip
        for start in range(0, len(data), 1000):
            self.cloudwatch.put_metric_data(Namespace=self.namespace, MetricData=data[start : start + 1000])
        return values
