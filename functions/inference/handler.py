"""Lambda entry point: settings from the environment once, collaborators built once, a thin handler.

Cold start imports only what serving needs (numpy, onnxruntime, the domain code). Powertools'
Logger is imported on first use (an internal error; shadow mirroring's warnings when the stack
wires a shadow queue). Tracing: the function runs with Lambda active tracing, which records the
invocation without any SDK in the process; Powertools' Tracer (and with it the X-Ray SDK, a slow
import) is loaded only when TRACER_SDK_SUBSEGMENTS=true asks for its per-invocation subsegment.
Sticky routing (`inference.sticky`) wraps the API's handler when ROUTING_KEY_HEADER is set, and
the SnapStart hooks (`inference.snapstart`) are registered with the runtime.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from common.http.validation import RequestLimits
from common.model.artifact_source import resolve_model_dir
from common.model.onnx_model import OnnxModel
from inference.api import InferenceApi, create_app
from inference.log_lines import LazyLogger, info_enabled
from inference.service import InferenceService
from inference.snapstart import register_runtime_hooks
from inference.sticky import emf_counter, sticky_from_environment

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _int_env(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise RuntimeError(f"environment variable {name}={raw!r} is not an integer") from exc
    if value <= 0:
        raise RuntimeError(f"environment variable {name} must be positive, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """What the function reads from its environment (infra/constructs/inference_service.py sets it)."""

    model_uri: str
    limits: RequestLimits
    namespace: str
    service_name: str
    shadow_wired: bool
    log_enabled: bool
    metrics_enabled: bool
    sdk_tracer: bool

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        model_uri = environ.get("MODEL_URI")
        if not model_uri:
            raise RuntimeError(
                "environment variable MODEL_URI is not set: it names the model artifact to serve"
            )
        limits = RequestLimits(
            max_rows=_int_env(environ, "MAX_ROWS", RequestLimits.max_rows),
            max_body_bytes=_int_env(environ, "MAX_BODY_BYTES", RequestLimits.max_body_bytes),
        )
        namespace = environ.get("POWERTOOLS_METRICS_NAMESPACE")
        if not namespace:
            raise RuntimeError(
                "environment variable POWERTOOLS_METRICS_NAMESPACE is not set: metrics need it"
            )
        return cls(
            model_uri=model_uri,
            limits=limits,
            namespace=namespace,
            service_name=environ.get("POWERTOOLS_SERVICE_NAME") or "service_undefined",
            shadow_wired=bool(environ.get("SHADOW_QUEUE_URL")),
            log_enabled=info_enabled(environ),
            metrics_enabled=environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() != "true",
            sdk_tracer=environ.get("TRACER_SDK_SUBSEGMENTS", "").strip().lower() == "true",
        )


def build(settings: Settings) -> tuple[InferenceApi, LazyLogger]:
    """The API with its model, decoder, service, logger and (where a stack wired one) shadow mirror."""
    model = OnnxModel.load(resolve_model_dir(settings.model_uri))
    service = InferenceService(model)
    logger = LazyLogger(model_version=service.model_version)
    mirror = None
    if settings.shadow_wired:  # shadow code (and boto3) only where a stack wired it
        from common.mirror.request_mirror import mirror_from_environment

        mirror = mirror_from_environment(log=logger.get())
    api = create_app(
        service,
        limits=settings.limits,
        namespace=settings.namespace,
        service_name=settings.service_name,
        mirror=mirror,
        logger=logger,
        log_enabled=settings.log_enabled,
        metrics_enabled=settings.metrics_enabled,
    )
    return api, logger


def traced(handle: Handler, settings: Settings) -> Handler:
    """The handler, wrapped in Powertools' Tracer when TRACER_SDK_SUBSEGMENTS=true."""
    if not settings.sdk_tracer:
        return handle
    from aws_lambda_powertools import Tracer

    wrapped: Handler = Tracer().capture_lambda_handler(capture_response=False)(handle)
    return wrapped


settings = Settings.from_env(os.environ)
app, logger = build(settings)
service = app.service
routed = sticky_from_environment(
    app.handle, os.environ, count=emf_counter(settings.namespace, settings.service_name)
)
handler: Handler = traced(routed, settings)
snapstart_hooks = register_runtime_hooks(app, routed)
