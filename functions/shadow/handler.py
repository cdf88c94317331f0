"""Lambda entry point of the shadow function: wires the model cache, the writer, logger and metrics once
per process; `shadow.consumer` does the work."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from common.environment import required
from shadow.consumer import ShadowConsumer
from shadow.models import ModelCache
from shadow.writer import RecordWriter


def build_consumer(environ: Mapping[str, str], *, logger: Logger, metrics: Metrics) -> ShadowConsumer:
    import boto3  # provided by the Lambda runtime

    s3 = boto3.client("s3")
    models = ModelCache(model_bucket=required(environ, "MODEL_BUCKET", "the model store bucket"), s3=s3)
    writer = RecordWriter(s3, required(environ, "LOG_BUCKET", "the shadow log bucket"))
    return ShadowConsumer(models=models, writer=writer, logger=logger, metrics=metrics)


logger = Logger()
metrics = Metrics()
tracer = Tracer()
consumer = build_consumer(os.environ, logger=logger, metrics=metrics)


@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.set_correlation_id(context.aws_request_id)
    return consumer.handle(event, context)
