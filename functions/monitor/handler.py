"""Lambda entry point of the live monitor (EventBridge schedule): settings read once from the
environment, then S3, CloudWatch and the model store built once per process; `monitor.monitor` does
the work."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from common.environment import positive_int, required
from common.observe.label_join import DEFAULT_LOOKBACK
from common.observe.live_quality import S3ModelInfo
from monitor.business import BusinessPublisher
from monitor.monitor import Monitor, MonitorSettings


@dataclass(frozen=True)
class Settings:
    model_bucket: str
    monitor: MonitorSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        monitor = MonitorSettings(
            log_bucket=required(environ, "LOG_BUCKET", "the prediction log bucket"),
            namespace=required(environ, "METRICS_NAMESPACE", "the CloudWatch namespace to publish in"),
            service=required(environ, "SERVICE_NAME", "the service dimension of the metrics"),
            window=timedelta(hours=positive_int(environ, "WINDOW_HOURS", 24)),
            metric_name=environ.get("QUALITY_METRIC", "") or "f1_macro",
            min_labelled=positive_int(environ, "MIN_LABELLED", 20),
            lookback=timedelta(
                hours=positive_int(environ, "LOOKBACK_HOURS", int(DEFAULT_LOOKBACK.total_seconds()) // 3600)
            ),
        )
        return cls(model_bucket=required(environ, "MODEL_BUCKET", "the model store bucket"), monitor=monitor)


def build(settings: Settings) -> Monitor:
    import boto3  # provided by the Lambda runtime

    s3 = boto3.client("s3")
    return Monitor(
        s3=s3,
        cloudwatch=boto3.client("cloudwatch"),
        model_info=S3ModelInfo(s3, settings.model_bucket),
        settings=settings.monitor,
    )


logger = Logger()
tracer = Tracer()
monitor = build(Settings.from_env(os.environ))
business = BusinessPublisher.from_env(os.environ)


@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.set_correlation_id(context.aws_request_id)
    result = monitor.run()
    summary = {
        "since": result.since.isoformat(),
        "until": result.until.isoformat(),
        "logged": result.logged,
        "labelled": result.labelled,
        "feedback_unknown": result.feedback_unknown,
        "accuracy": result.accuracy,
        "quality": result.quality,
        "quality_metric": result.quality_metric,
        "published_accuracy": result.published_accuracy,
        "drift_version": result.drift_version,
        "max_psi": max((v for v in result.drift.values() if v is not None), default=None),
        "business_metric": business.run(),
    }
    logger.info("monitor run", extra=summary)
    return summary
