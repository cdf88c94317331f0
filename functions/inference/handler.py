"""Lambda entry point: wires the model, logger, metrics and router once per process."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from common.artifact_source import resolve_model_dir
from common.model import OnnxClassifier
from common.shadow_mirror import mirror_from_environment
from common.validation import RequestLimits
from inference.api import create_app
from inference.service import InferenceService


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise RuntimeError(f"environment variable {name}={raw!r} is not an integer") from exc
    if value <= 0:
        raise RuntimeError(f"environment variable {name} must be positive, got {value}")
    return value


def build_service() -> InferenceService:
    model_uri = os.environ.get("MODEL_URI")
    if not model_uri:
        raise RuntimeError("environment variable MODEL_URI is not set: it names the model artifact to serve")
    model = OnnxClassifier.load(resolve_model_dir(model_uri))
    limits = RequestLimits(
        max_rows=_int_env("MAX_ROWS", RequestLimits.max_rows),
        max_body_bytes=_int_env("MAX_BODY_BYTES", RequestLimits.max_body_bytes),
    )
    return InferenceService(model, limits)


logger = Logger()
metrics = Metrics()
tracer = Tracer()
service = build_service()
logger.append_keys(model_version=service.model_version)
mirror = mirror_from_environment(log=logger)  # None unless the stack wired a shadow queue
app = create_app(service, logger=logger, metrics=metrics, mirror=mirror)
_function_version_keyed = False


@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _function_version_keyed
    if not _function_version_keyed:
        # One process serves one version (which pins one model): key logs and metrics by it once,
        # so release gates can scope model metrics (InternalErrors, InferenceTime) to a version.
        logger.append_keys(function_version=context.function_version)
        metrics.set_default_dimensions(FunctionVersion=context.function_version)
        _function_version_keyed = True
    logger.set_correlation_id(context.aws_request_id)
    return app.resolve(event, context)
