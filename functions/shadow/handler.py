"""Lambda entry point of the shadow scorer: settings read once from the environment, then the model
cache, the record writer, logger and metrics built once per process; `shadow.consumer` does the work."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from common.environment import required
from shadow.consumer import ShadowConsumer
from shadow.models import ModelCache
from shadow.writer import RecordWriter


@dataclass(frozen=True)
class Settings:
    model_bucket: str
    log_bucket: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            model_bucket=required(environ, "MODEL_BUCKET", "the model store bucket"),
            log_bucket=required(environ, "LOG_BUCKET", "the shadow log bucket"),
        )


def build(settings: Settings, *, logger: Logger, metrics: Metrics) -> ShadowConsumer:
    import boto3  # provided by the Lambda runtime

    s3 = boto3.client("s3")
    return ShadowConsumer(
        models=ModelCache(model_bucket=settings.model_bucket, s3=s3),
        writer=RecordWriter(s3, settings.log_bucket),
        logger=logger,
        metrics=metrics,
    )


logger = Logger()
metrics = Metrics()
tracer = Tracer()
consumer = build(Settings.from_env(os.environ), logger=logger, metrics=metrics)


@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.set_correlation_id(context.aws_request_id)
    return consumer.handle(event, context)
