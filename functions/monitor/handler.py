"""Lambda entry point of the monitor function (EventBridge schedule): wires S3, CloudWatch and the
model store once per process; `monitor.monitor` does the work."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from common.environment import positive_int, required
from common.observe.live_quality import S3ModelInfo
from monitor.monitor import Monitor, MonitorSettings


def build_monitor(environ: Mapping[str, str]) -> Monitor:
    import boto3  # provided by the Lambda runtime

    s3 = boto3.client("s3")
    settings = MonitorSettings(
        log_bucket=required(environ, "LOG_BUCKET", "the prediction log bucket"),
        namespace=required(environ, "METRICS_NAMESPACE", "the CloudWatch namespace to publish in"),
        service=required(environ, "SERVICE_NAME", "the service dimension of the metrics"),
        window=timedelta(hours=positive_int(environ, "WINDOW_HOURS", 24)),
        metric_name=environ.get("QUALITY_METRIC", "") or "f1_macro",
        min_labelled=positive_int(environ, "MIN_LABELLED", 20),
    )
    model_info = S3ModelInfo(s3, required(environ, "MODEL_BUCKET", "the model store bucket"))
    return Monitor(s3=s3, cloudwatch=boto3.client("cloudwatch"), model_info=model_info, settings=settings)


logger = Logger()
tracer = Tracer()
monitor = build_monitor(os.environ)


@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.set_correlation_id(context.aws_request_id)
    result = monitor.run()
    summary = {
        "since": result.since.isoformat(),
        "until": result.until.isoformat(),
        "logged": result.logged,
        "labelled": result.labelled,
        "accuracy": result.accuracy,
        "quality": result.quality,
        "published_accuracy": result.published_accuracy,
        "drift_version": result.drift_version,
        "max_psi": max((v for v in result.drift.values() if v is not None), default=None),
    }
    logger.info("monitor run", extra=summary)
    return summary
