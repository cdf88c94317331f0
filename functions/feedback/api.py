"""HTTP routing and response shaping for the feedback function (API Gateway REST, payload 1.0)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit

from common.http.errors import RequestError
from feedback.service import FeedbackService, StorageError

JSON = "application/json"
ROUTES: dict[str, tuple[str, ...]] = {"/feedback": ("POST",)}


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), allow_nan=False)


def create_app(service: FeedbackService, *, logger: Logger, metrics: Metrics) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(serializer=_dumps)

    def error_response(status: int, code: str, message: str, **extra: str) -> Response[str]:
        body = {"error": {"code": code, "message": message, **extra}}
        return Response(status_code=status, content_type=JSON, body=_dumps(body))

    @app.post("/feedback")
    def feedback() -> Response[str]:
        event = app.current_event
        accepted = service.accept(
            body=event.body,
            is_base64=bool(event.is_base64_encoded),
            content_type=event.headers.get("content-type"),
        )
        metrics.add_metric(name="FeedbackLabels", unit=MetricUnit.Count, value=accepted.count)
        logger.info("feedback stored", extra={"labels": accepted.count, "key": accepted.key})
        body = {"accepted": accepted.count, "model_version": service.model_version}
        return Response(status_code=202, content_type=JSON, body=_dumps(body))

    @app.exception_handler(RequestError)  # type: ignore[untyped-decorator]
    def handle_request_error(exc: RequestError) -> Response[str]:
        metrics.add_metric(name="InvalidFeedback", unit=MetricUnit.Count, value=1)
        logger.info("feedback rejected", extra={"status": exc.status, "error_code": exc.code})
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(StorageError)  # type: ignore[untyped-decorator]
    def handle_storage_error(exc: StorageError) -> Response[str]:
        request_id = app.lambda_context.aws_request_id
        logger.exception("feedback not stored", extra={"request_id": request_id})
        metrics.add_metric(name="FeedbackStorageErrors", unit=MetricUnit.Count, value=1)
        response = error_response(
            503, "storage_unavailable", "the feedback was not stored; retry", request_id=request_id
        )
        response.headers["Retry-After"] = "1"
        return response

    @app.not_found
    def handle_not_found(_: NotFoundError) -> Response[str]:
        metrics.add_metric(name="InvalidFeedback", unit=MetricUnit.Count, value=1)
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
            500, "internal_error", "the feedback could not be handled", request_id=request_id
        )

    return app
