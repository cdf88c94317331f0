"""Lambda entry point of the recorder: settings read once from the environment, the S3 and SQS
clients, logger and metrics built once per process; `recorder.recorder` does the work.

The inference function's log group subscribes it to its "prediction served" lines
(infra/constructs/recorder.py; docs/prediction-log.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from common.environment import required
from recorder.recorder import Recorder


@dataclass(frozen=True)
class Settings:
    log_bucket: str
    shadow_queue_url: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            log_bucket=required(environ, "LOG_BUCKET", "the bucket the prediction log is written to"),
            shadow_queue_url=environ.get("SHADOW_QUEUE_URL") or None,
        )


def build(settings: Settings, *, logger: Logger, metrics: Metrics) -> Recorder:
    import boto3  # provided by the Lambda runtime

    return Recorder(
        s3=boto3.client("s3"),
        bucket=settings.log_bucket,
        sqs=boto3.client("sqs") if settings.shadow_queue_url else None,
        queue_url=settings.shadow_queue_url,
        logger=logger,
        metrics=metrics,
    )


logger = Logger()
metrics = Metrics()
recorder = build(Settings.from_env(os.environ), logger=logger, metrics=metrics)


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> None:
    logger.set_correlation_id(context.aws_request_id)
    recorder.handle(event)
