"""HTTP routing and response shaping for the inference function (API Gateway REST, payload 1.0)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit

from common.errors import RequestError
from common.shadow_mirror import ShadowMirror
from inference.service import InferenceService

JSON = "application/json"
ROUTES: dict[str, tuple[str, ...]] = {"/predict": ("POST",), "/health": ("GET",)}


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), allow_nan=False)


def create_app(
    service: InferenceService, *, logger: Logger, metrics: Metrics, mirror: ShadowMirror | None = None
) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(serializer=_dumps)

    def version_headers() -> dict[str, str]:
        return {
            "X-Model-Version": service.model_version,
            "X-Function-Version": app.lambda_context.function_version,
        }

    def error_response(status: int, code: str, message: str, **extra: str) -> Response[str]:
        body = {"error": {"code": code, "message": message, **extra}}
        return Response(status_code=status, content_type=JSON, body=_dumps(body), headers=version_headers())

    @app.post("/predict")
    def predict() -> Response[str]:
        event = app.current_event
        result = service.predict(
            body=event.body,
            is_base64=bool(event.is_base64_encoded),
            content_type=event.headers.get("content-type"),
        )
        metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="PredictedRows", unit=MetricUnit.Count, value=result.rows)
        metrics.add_metric(name="InferenceTime", unit=MetricUnit.Milliseconds, value=result.inference_ms)
        if mirror is not None and result.inputs is not None:  # shadow: never fails nor delays the request
            mirror.offer(
                request_id=app.lambda_context.aws_request_id,
                inputs=result.inputs,
                predictions=result.body["predictions"],
                probabilities=result.body["probabilities"],
                model_version=service.model_version,
                function_version=app.lambda_context.function_version,
                inference_ms=result.inference_ms,
            )
            for name, count in mirror.take_counters().items():
                metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
        logger.info("prediction served", extra={"rows": result.rows, "inference_ms": result.inference_ms})
        return Response(
            status_code=200, content_type=JSON, body=_dumps(result.body), headers=version_headers()
        )

    @app.get("/health")
    def health() -> Response[str]:
        metrics.add_metric(name="HealthChecks", unit=MetricUnit.Count, value=1)
        body = service.health(app.lambda_context.function_version)
        return Response(status_code=200, content_type=JSON, body=_dumps(body), headers=version_headers())

    @app.exception_handler(RequestError)  # type: ignore[untyped-decorator]
    def handle_request_error(exc: RequestError) -> Response[str]:
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        logger.info("request rejected", extra={"status": exc.status, "error_code": exc.code})
        return error_response(exc.status, exc.code, exc.message)

    @app.not_found
    def handle_not_found(_: NotFoundError) -> Response[str]:
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        event = app.current_event
        path, method = event.path, event.http_method
        allowed = ROUTES.get(path)
        if allowed:
            response = error_response(
                405, "method_not_allowed", f"{method} is not allowed on {path}; use {', '.join(allowed)}"
            )
            response.headers["Allow"] = ", ".join(allowed)
            return response
        known = ", ".join(f"{m} {p}" for p, methods in ROUTES.items() for m in methods)
        return error_response(404, "not_found", f"no route for {method} {path}; routes are {known}")

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def handle_internal_error(exc: Exception) -> Response[str]:
        request_id = app.lambda_context.aws_request_id
        logger.exception("internal error", extra={"request_id": request_id})
        metrics.add_metric(name="InternalErrors", unit=MetricUnit.Count, value=1)
        return error_response(
            500, "internal_error", "the model could not answer; the error is logged", request_id=request_id
        )

    return app
