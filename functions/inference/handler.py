"""Lambda entry point: loads the model and wires the API once per process.

Cold start imports only what serving needs (numpy, onnxruntime, the domain code). Powertools'
Logger is imported on first use (an internal error; shadow mirroring's warnings when the stack
wires a shadow queue). Tracing: the function runs with Lambda active tracing, which records the
invocation without any SDK in the process; Powertools' Tracer (and with it the X-Ray SDK, ~0.4-1 s
of import) is loaded only when TRACER_SDK_SUBSEGMENTS=true asks for its per-invocation subsegment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from common.artifact_source import resolve_model_dir
from common.model import OnnxClassifier
from common.validation import RequestLimits
from inference.api import InferenceApi, create_app
from inference.log_lines import LazyLogger, info_enabled
from inference.service import InferenceService

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


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


def build_api(service: InferenceService, logger: LazyLogger) -> InferenceApi:
    service_name = os.environ.get("POWERTOOLS_SERVICE_NAME") or "service_undefined"
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
    if not namespace:
        raise RuntimeError("environment variable POWERTOOLS_METRICS_NAMESPACE is not set: metrics need it")
    mirror = None
    if os.environ.get("SHADOW_QUEUE_URL"):  # shadow code (and boto3) only where a stack wired it
        from common.mirror.request_mirror import mirror_from_environment

        mirror = mirror_from_environment(log=logger.get())
    return create_app(
        service,
        namespace=namespace,
        service_name=service_name,
        mirror=mirror,
        logger=logger,
        log_enabled=info_enabled(),
        metrics_enabled=os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() != "true",
    )


def traced(handle: Handler) -> Handler:
    """The handler, wrapped in Powertools' Tracer when TRACER_SDK_SUBSEGMENTS=true."""
    if os.environ.get("TRACER_SDK_SUBSEGMENTS", "").strip().lower() != "true":
        return handle
    from aws_lambda_powertools import Tracer

    wrapped: Handler = Tracer().capture_lambda_handler(capture_response=False)(handle)
    return wrapped


service = build_service()
logger = LazyLogger(model_version=service.model_version)
app = build_api(service, logger)
handler: Handler = traced(app.handle)
