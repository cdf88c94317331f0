"""Lambda entry point of the feedback function: wires the class labels, the store, logger, metrics and
router once per process (no model session: the function only needs the live model's class labels)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from common.environment import positive_int, required
from common.http.request_body import RequestLimits
from feedback.api import create_app
from feedback.service import FeedbackService, FeedbackStore, read_class_labels


def build_service(environ: Mapping[str, str]) -> FeedbackService:
    import boto3  # provided by the Lambda runtime

    s3 = boto3.client("s3")
    model_version, labels = read_class_labels(s3, required(environ, "MODEL_URI", "the live model artifact"))
    return FeedbackService(
        store=FeedbackStore(s3, required(environ, "LOG_BUCKET", "the prediction log bucket")),
        class_labels=labels,
        model_version=model_version,
        limits=RequestLimits(
            max_body_bytes=positive_int(environ, "MAX_BODY_BYTES", RequestLimits.max_body_bytes)
        ),
        max_items=positive_int(environ, "FEEDBACK_MAX_ITEMS", 1000),
    )


logger = Logger()
metrics = Metrics()
tracer = Tracer()
service = build_service(os.environ)
app = create_app(service, logger=logger, metrics=metrics)


@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.set_correlation_id(context.aws_request_id)
    return app.resolve(event, context)
