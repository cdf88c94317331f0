"""HTTP routing and response shaping for the inference function (API Gateway REST, payload 1.0).

Two routes, dispatched by hand on the proxy event: Powertools' APIGatewayRestResolver cost ~125 us
per request here (event wrappers, header dictionaries, middleware) for the same result. Matching
follows the resolver it replaces: the method compared upper-cased, trailing slashes on the path
ignored; 404/405 answers, error bodies and response shape (multiValueHeaders) are unchanged.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from common.errors import RequestError
from inference.fast_path import JSON, common_predict_body
from inference.log_lines import (
    EmfMetrics,
    LazyLogger,
    LineWriter,
    Metric,
    PredictionLines,
    RequestLog,
    prediction_metrics,
)
from inference.service import InferenceService, PredictResult

if TYPE_CHECKING:
    from common.mirror.request_mirror import RequestMirror

ROUTES: dict[str, tuple[str, ...]] = {"/predict": ("POST",), "/health": ("GET",)}
_KNOWN_ROUTES = ", ".join(f"{m} {p}" for p, methods in ROUTES.items() for m in methods)
_INTERNAL_ERROR = "the model could not answer; the error is logged"


def _dumps(document: Any) -> str:
    """Compact JSON (orjson: ~20x the standard library's encoder on a prediction). Non-ASCII text
    is written as UTF-8, not escaped. orjson writes NaN and infinities as null: the service refuses
    a non-finite probability before it gets here (a 500, as the standard encoder's error gave)."""
    return orjson.dumps(document).decode()


def _content_type(headers: dict[str, str] | None) -> str | None:
    """The Content-Type header, in any case."""
    if not headers:
        return None
    found = headers.get("Content-Type")
    if found is None:
        found = headers.get("content-type")
    if found is None:
        for name, value in headers.items():
            if name.lower() == "content-type":
                found = value
    return found


class InferenceApi:
    """Turns one API Gateway proxy event into one proxy response, and writes the invocation's log
    line and metrics line with one write to `stream` (the stdout seen at init, like Powertools)."""

    def __init__(
        self,
        service: InferenceService,
        *,
        request_log: RequestLog,
        metrics: EmfMetrics,
        logger: LazyLogger,
        mirror: RequestMirror | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.service = service
        self.request_log = request_log
        self.metrics = metrics
        self.logger = logger
        self.mirror = mirror
        self._writer = LineWriter(stream if stream is not None else sys.stdout)
        self.lines = PredictionLines(request_log, metrics)
        self.fast_path = True
        """Whether common requests take the fast path (inference.fast_path); tests turn it off
        to compare the two paths' answers."""
        self._function_version: str | None = None

    @property
    def stream(self) -> TextIO:
        """Where the invocation's lines go; assignable (tests and the bench point it elsewhere)."""
        return self._writer.stream

    @stream.setter
    def stream(self, stream: TextIO) -> None:
        self._writer = LineWriter(stream)

    def _bind(self, function_version: str) -> None:
        # One process serves one version (which pins one model): key logs and metrics by it, so
        # release gates can scope model metrics (InternalErrors, InferenceTime) to a version.
        self.request_log.bind_function_version(function_version)
        self.metrics.bind_function_version(function_version)
        self.logger.append_keys(function_version=function_version)
        self._function_version = function_version

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        function_version: str = context.function_version
        if function_version != self._function_version:
            self._bind(function_version)
        request_id: str = context.aws_request_id
        if self.fast_path:
            answer = self._fast_predict(event, request_id, function_version)
            if answer is not None:
                return answer
        metrics: list[Metric] = []
        log = ""
        allow: str | None = None
        try:
            method: str = event["httpMethod"]
            path: str = event["path"]
            route = path.rstrip("/")
            verb = method.upper()
            if route == "/predict" and verb == "POST":
                body, log = self._predict(event, request_id, function_version)
                status = 200
            elif route == "/health" and verb == "GET":
                metrics.append(("HealthChecks", "Count", 1.0))
                status, body = 200, _dumps(self.service.health(function_version))
            else:
                metrics.append(("InvalidRequests", "Count", 1.0))
                allow, status, body = _not_found(method, path)
        except RequestError as exc:
            metrics.append(("InvalidRequests", "Count", 1.0))
            log = self.request_log.rejected(request_id, exc.status, exc.code)
            status, body = exc.status, _dumps(exc.body())
        except Exception:
            logger = self.logger.get()
            logger.set_correlation_id(request_id)
            logger.exception("internal error", extra={"request_id": request_id})
            metrics.append(("InternalErrors", "Count", 1.0))
            document = {"code": "internal_error", "message": _INTERNAL_ERROR, "request_id": request_id}
            status, body = 500, _dumps({"error": document})
        return self._answer(
            log + self.metrics.render(metrics), status, body, request_id, function_version, allow
        )

    def _answer(
        self,
        text: str,
        status: int,
        body: str,
        request_id: str,
        function_version: str,
        allow: str | None = None,
    ) -> dict[str, Any]:
        """Writes the invocation's lines (`text`, at once: `LineWriter`) and shapes the response."""
        if text:
            self._writer.write(text)
        headers = {
            "X-Model-Version": [self.service.model_version],
            "X-Function-Version": [function_version],
            # The id the prediction is logged under: what POST /feedback names (docs/monitoring.md).
            "X-Request-Id": [request_id],
            "Content-Type": [JSON],
        }
        if allow is not None:
            headers["Allow"] = [allow]
        return {"statusCode": status, "body": body, "isBase64Encoded": False, "multiValueHeaders": headers}

    def _fast_predict(
        self, event: dict[str, Any], request_id: str, function_version: str
    ) -> dict[str, Any] | None:
        """The answer to a common request (inference.fast_path), or None: the general path then
        answers, with the same response and lines."""
        text = common_predict_body(event, self.service.limits.max_body_bytes)
        if text is None:
            return None
        mirror = self.mirror
        result = self.service.predict_common(text, with_inputs=mirror is not None)
        if result is None:
            return None
        if mirror is None:
            lines = self.lines.render(request_id, result.rows, result.inference_ms)
        else:
            lines = self._mirror(mirror, result, request_id, function_version)
        return self._answer(lines, 200, _dumps(result.body), request_id, function_version)

    def _predict(self, event: dict[str, Any], request_id: str, function_version: str) -> tuple[str, str]:
        """(response body, the invocation's log line and metrics line)."""
        result = self.service.predict(
            body=event.get("body"),
            is_base64=bool(event.get("isBase64Encoded")),
            content_type=_content_type(event.get("headers")),
        )
        mirror = self.mirror
        if mirror is None:
            return _dumps(result.body), self.lines.render(request_id, result.rows, result.inference_ms)
        return _dumps(result.body), self._mirror(mirror, result, request_id, function_version)

    def _mirror(
        self, mirror: RequestMirror, result: PredictResult, request_id: str, function_version: str
    ) -> str:
        """Offers a served request to the shadow mirror (which never fails nor delays it) and
        returns the invocation's lines, the mirror's counters among the metrics."""
        if result.inputs is not None:
            mirror.offer(
                request_id=request_id,
                inputs=result.inputs,
                predictions=result.body["predictions"],
                probabilities=result.body["probabilities"],
                model_version=self.service.model_version,
                function_version=function_version,
                inference_ms=result.inference_ms,
            )
        counters = mirror.take_counters()
        if not counters:
            return self.lines.render(request_id, result.rows, result.inference_ms)
        metrics = prediction_metrics(result.rows, result.inference_ms)
        for name, count in counters.items():
            metrics.append((name, "Count", float(count)))
        log = self.request_log.served(request_id, result.rows, result.inference_ms)
        return log + self.metrics.render(metrics)


def create_app(
    service: InferenceService,
    *,
    namespace: str,
    service_name: str,
    mirror: RequestMirror | None = None,
    logger: LazyLogger | None = None,
    log_enabled: bool = True,
    metrics_enabled: bool = True,
    stream: TextIO | None = None,
) -> InferenceApi:
    """The API with its request log and EMF writers for a metrics namespace and service name."""
    return InferenceApi(
        service,
        request_log=RequestLog(
            service=service_name, model_version=service.model_version, enabled=log_enabled
        ),
        metrics=EmfMetrics(namespace=namespace, service=service_name, enabled=metrics_enabled),
        logger=logger or LazyLogger(model_version=service.model_version),
        mirror=mirror,
        stream=stream,
    )


def _not_found(method: str, path: str) -> tuple[str | None, int, str]:
    """(Allow header or None, status, body) for a request no route takes."""
    allowed = ROUTES.get(path)
    if allowed:
        allow = ", ".join(allowed)
        message = f"{method} is not allowed on {path}; use {allow}"
        return allow, 405, _dumps({"error": {"code": "method_not_allowed", "message": message}})
    message = f"no route for {method} {path}; routes are {_KNOWN_ROUTES}"
    return None, 404, _dumps({"error": {"code": "not_found", "message": message}})
