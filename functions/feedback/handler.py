"""Lambda entry point of the feedback function: settings read once from the environment, then the
class labels, the store, logger, metrics and router built once per process (no model session: the
function only needs the live model's class labels)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from common.environment import positive_int, required
from common.http.request_body import RequestLimits
from feedback.api import create_app
from feedback.service import FeedbackService, FeedbackStore, read_class_labels

DEFAULT_MAX_ITEMS = 1000


@dataclass(frozen=True)
class Settings:
    model_uri: str
    log_bucket: str
    max_body_bytes: int
    max_items: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            model_uri=required(environ, "MODEL_URI", "the live model artifact"),
            log_bucket=required(environ, "LOG_BUCKET", "the prediction log bucket"),
            max_body_bytes=positive_int(environ, "MAX_BODY_BYTES", RequestLimits.max_body_bytes),
            max_items=positive_int(environ, "FEEDBACK_MAX_ITEMS", DEFAULT_MAX_ITEMS),
        )


def build(settings: Settings) -> FeedbackService:
    import boto3  # provided by the Lambda runtime

    s3 = boto3.client("s3")
    model_version, labels = read_class_labels(s3, settings.model_uri)
    return FeedbackService(
        store=FeedbackStore(s3, settings.log_bucket),
        class_labels=labels,
        model_version=model_version,
        limits=RequestLimits(max_body_bytes=settings.max_body_bytes),
        max_items=settings.max_items,
    )


logger = Logger()
metrics = Metrics()
tracer = Tracer()
service = build(Settings.from_env(os.environ))
app = create_app(service, logger=logger, metrics=metrics)


@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.set_correlation_id(context.aws_request_id)
    return app.resolve(event, context)
