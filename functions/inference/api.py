"""HTTP routing and response shaping for the inference function.

One route table, dispatched by hand on the proxy event (no web framework on the hot path;
docs/performance.md): /predict and /health, and the Open Inference Protocol's /v2 routes
(`inference.oip`), whose model paths are templates ({name}, {version}). A route matches with the
method compared upper-cased and trailing slashes on the path ignored; other requests get 404 or 405
with the routes named. Events come from a REST API (payload 1.0; the answer's headers as
multiValueHeaders) or from an HTTP API or a function URL (payload 2.0; the answer's headers as
headers): docs/api.md. /predict's event becomes rows in `inference.decode`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from common.http.errors import RequestError
from common.http.validation import RequestLimits
from inference.decode import JSON, Decoder
from inference.log_lines import (
    EmfMetrics,
    LazyLogger,
    LineWriter,
    Metric,
    PredictionLines,
    RequestLog,
    prediction_metrics,
)
from inference.oip import ModelPath, OpenInference
from inference.record_line import MAX_LINE_BYTES, NOT_SAMPLED, SAMPLED, record_lines, record_members
from inference.service import InferenceService, PredictResult, UnscorableInputError

if TYPE_CHECKING:
    from common.mirror.request_mirror import RequestMirror, Sample

_INTERNAL_ERROR = "the model could not answer; the error is logged"
UNSCORABLE_METRIC = "UnscorableRequests"
"""Requests answered 422 because the model's output for some rows is not finite (a client's
input, in no release gate; `InternalErrors` counts 500s and gates a canary)."""


def _dumps(document: Any) -> str:
    """Compact JSON; non-ASCII text is written as UTF-8, not escaped. orjson writes NaN and
    infinities as null: the service refuses a non-finite output before it gets here (a 422)."""
    return orjson.dumps(document).decode()


class InferenceApi:
    """Turns one API Gateway proxy event into one proxy response, and writes the invocation's log
    line and metrics line with one write to `stream` (the stdout seen at init, like Powertools)."""

    def __init__(
        self,
        service: InferenceService,
        decoder: Decoder,
        *,
        request_log: RequestLog,
        metrics: EmfMetrics,
        logger: LazyLogger,
        mirror: RequestMirror | None = None,
        stream: TextIO | None = None,
        model_name: str = "inference",
    ) -> None:
        self.service = service
        self.decoder = decoder
        self.oip = OpenInference(service, decoder.limits, model_name=model_name)
        self.request_log = request_log
        self.metrics = metrics
        self.logger = logger
        self.mirror = mirror
        self._writer = LineWriter(stream if stream is not None else sys.stdout)
        self.lines = PredictionLines(request_log, metrics)
        self._function_version: str | None = None
        self._routes: dict[tuple[str, str], Route] = {
            route: getattr(self, f"_{name}") for route, name in ROUTES.items()
        }

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
        metrics: list[Metric] = []
        allow: str | None = None
        try:
            method = event.get("httpMethod")  # a REST API's event; else payload 2.0's
            path = event["path"] if method is not None else event["rawPath"]
            if method is None:
                method = event["requestContext"]["http"]["method"]
            route = self._routes.get((path, method))
            if route is None:
                route = self._routes.get((_template(path.rstrip("/")), method.upper()))
            if route is not None:
                body, lines = route(event, request_id, function_version, metrics)
                status = 200
            else:
                metrics.append(("InvalidRequests", "Count", 1.0))
                allow, status, body = _not_found(method, path)
                lines = ""
        except UnscorableInputError as exc:  # counted apart from invalid requests and internal errors
            metrics.append((UNSCORABLE_METRIC, "Count", 1.0))
            lines = self.request_log.rejected(request_id, exc.status, exc.code)
            status, body = exc.status, _dumps(exc.body())
        except RequestError as exc:
            metrics.append(("InvalidRequests", "Count", 1.0))
            lines = self.request_log.rejected(request_id, exc.status, exc.code)
            status, body = exc.status, _dumps(exc.body())
        except Exception:
            logger = self.logger.get()
            logger.set_correlation_id(request_id)
            logger.exception("internal error", extra={"request_id": request_id})
            metrics.append(("InternalErrors", "Count", 1.0))
            document = {"code": "internal_error", "message": _INTERNAL_ERROR, "request_id": request_id}
            status, body, lines = 500, _dumps({"error": document}), ""
        if metrics:
            lines += self.metrics.render(metrics)
        answer = self._answer(lines, status, body, request_id, function_version, allow)
        if event.get("version") == "2.0":  # an HTTP API's or a function URL's event: single-value headers
            headers = answer.pop("multiValueHeaders")
            answer["headers"] = {name: ", ".join(values) for name, values in headers.items()}
        return answer

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

    def _predict(
        self, event: dict[str, Any], request_id: str, function_version: str, metrics: list[Metric]
    ) -> tuple[str, str]:
        """POST /predict: (response body, the invocation's lines: the served line carrying the
        request's outcome record (inference.record_line), and the metrics line)."""
        result = self.service.predict(self.decoder.rows(event))
        body = result.body_json()
        return body, self._served(result, body, request_id)

    def _served(self, result: PredictResult, outputs: str, request_id: str) -> str:
        """The lines of a served request (/predict or an Open Inference infer): the served line with
        its outcome record (`outputs`: the answer as /predict's body gives it), and the metrics line."""
        mirror = self.mirror
        if mirror is None:  # no recorder wired: the record is a log line like the others
            record = f',"output":{outputs}' if self.request_log.enabled else ""
            lines = self.lines.render(request_id, result.rows, result.inference_ms, record)
            if len(lines) <= MAX_LINE_BYTES:
                return lines
            return self._recorded(result, outputs, request_id, NOT_SAMPLED, {})
        return self._recorded(result, outputs, request_id, mirror.draw(), mirror.take_counters())

    def _health(
        self, event: dict[str, Any], request_id: str, function_version: str, metrics: list[Metric]
    ) -> tuple[str, str]:
        """GET /health: the served model's description; counted, not logged."""
        metrics.append(("HealthChecks", "Count", 1.0))
        return _dumps(self.service.health(function_version)), ""

    def _oip_server(
        self, event: dict[str, Any], request_id: str, function_version: str, metrics: list[Metric]
    ) -> tuple[str, str]:
        """GET /v2: the server's metadata."""
        return _dumps(self.oip.server_metadata()), ""

    def _oip_live(
        self, event: dict[str, Any], request_id: str, function_version: str, metrics: list[Metric]
    ) -> tuple[str, str]:
        """GET /v2/health/live and /v2/health/ready: the process answers with its model loaded."""
        metrics.append(("HealthChecks", "Count", 1.0))
        return '{"live":true,"ready":true}', ""

    def _oip_model(
        self, event: dict[str, Any], request_id: str, function_version: str, metrics: list[Metric]
    ) -> tuple[str, str]:
        """GET /v2/models/{name}[/versions/{version}][/ready]: the model's metadata or readiness."""
        path = _model_path(event)
        self.oip.check_model(path, function_version)
        if path.action == "ready":
            metrics.append(("HealthChecks", "Count", 1.0))
            return _dumps({"name": path.name, "ready": True}), ""
        return _dumps(self.oip.model_metadata(function_version)), ""

    def _oip_infer(
        self, event: dict[str, Any], request_id: str, function_version: str, metrics: list[Metric]
    ) -> tuple[str, str]:
        """POST /v2/models/{name}[/versions/{version}]/infer: /predict's answer as output tensors."""
        self.oip.check_model(_model_path(event), function_version)
        rows, wanted, client_id = self.oip.rows(event)
        result = self.service.predict(rows)
        body = self.oip.answer(
            result, wanted, request_id=client_id or request_id, function_version=function_version
        )
        return _dumps(body), self._served(result, result.body_json(), request_id)

    def _recorded(
        self, result: PredictResult, body: str, request_id: str, sample: Sample, counters: dict[str, int]
    ) -> str:
        """The served line(s) with the request's record (what `sample` adds to it: its inputs, the
        shadow's candidate), then the metrics line, `ShadowSampled` and `counters` among them."""
        rows, inference_ms = result.rows, result.inference_ms
        if not counters and sample.candidate_model_version is None:
            members = record_members(body, result.inputs, sample)
            lines = self.lines.render(request_id, rows, inference_ms, members)
            if len(lines) <= MAX_LINE_BYTES:
                return lines
        metrics = prediction_metrics(rows, inference_ms)
        if sample.candidate_model_version is not None:
            metrics.append((SAMPLED, "Count", 1.0))
        for name, count in counters.items():
            metrics.append((name, "Count", float(count)))

        def served(members: str) -> str:
            return self.request_log.served(request_id, rows, inference_ms, members)

        lines = record_lines(
            served,
            body=body,
            outputs=lambda: result.body,
            inputs=result.inputs,
            sample=sample,
            dumps=_dumps,
            max_line_bytes=MAX_LINE_BYTES,
        )
        return lines + self.metrics.render(metrics)


Route = Callable[[dict[str, Any], str, str, list[Metric]], tuple[str, str]]
"""A route's handler: (event, request id, function version, metrics to add) -> (body, lines)."""
_MODEL = "/v2/models/{name}"
_PINNED = _MODEL + "/versions/{version}"
ROUTES: dict[tuple[str, str], str] = {
    ("/predict", "POST"): "predict",
    ("/health", "GET"): "health",
    ("/v2", "GET"): "oip_server",
    ("/v2/health/live", "GET"): "oip_live",
    ("/v2/health/ready", "GET"): "oip_live",
    **{(base, "GET"): "oip_model" for base in (_MODEL, _PINNED)},
    **{(base + "/ready", "GET"): "oip_model" for base in (_MODEL, _PINNED)},
    **{(base + "/infer", "POST"): "oip_infer" for base in (_MODEL, _PINNED)},
}
"""The route table: (path or path template, method) -> the `InferenceApi` method (`_<name>`, a
`Route`) answering it. infra/constructs/api_routes.py declares the same routes on API Gateway."""
_KNOWN_ROUTES = ", ".join(f"{method} {path}" for path, method in ROUTES)


def _path(event: dict[str, Any]) -> str:
    """The request's path, from a REST API's event or a payload 2.0 event (`handle` reads the
    method and the path the same way, inline: it runs on every request)."""
    path: str = event["path"] if event.get("httpMethod") is not None else event["rawPath"]
    return path


def _template(path: str) -> str:
    """The route template of an Open Inference model path; any other path unchanged."""
    if not path.startswith("/v2/models/"):
        return path
    parsed = ModelPath.parse(path)
    if parsed is None:
        return path
    template = _MODEL if parsed.version is None else _PINNED
    return template if parsed.action == "metadata" else f"{template}/{parsed.action}"


def _model_path(event: dict[str, Any]) -> ModelPath:
    path = ModelPath.parse(_path(event))
    assert path is not None  # the route matched its template
    return path


def create_app(
    service: InferenceService,
    *,
    limits: RequestLimits | None = None,
    namespace: str,
    service_name: str,
    mirror: RequestMirror | None = None,
    logger: LazyLogger | None = None,
    log_enabled: bool = True,
    metrics_enabled: bool = True,
    stream: TextIO | None = None,
) -> InferenceApi:
    """The API with its decoder (for requests within `limits`, by default `RequestLimits()`) and
    its request log and EMF writers for a metrics namespace and service name."""
    return InferenceApi(
        service,
        Decoder(service.feature_names, limits if limits is not None else RequestLimits()),
        request_log=RequestLog(
            service=service_name, model_version=service.model_version, enabled=log_enabled
        ),
        metrics=EmfMetrics(namespace=namespace, service=service_name, enabled=metrics_enabled),
        logger=logger or LazyLogger(model_version=service.model_version),
        mirror=mirror,
        stream=stream,
        model_name=service_name,
    )


def _not_found(method: str, path: str) -> tuple[str | None, int, str]:
    """(Allow header or None, status, body) for a request no route takes."""
    template = _template(path)
    allowed = [verb for route, verb in ROUTES if route == template]
    if allowed:
        allow = ", ".join(allowed)
        message = f"{method} is not allowed on {path}; use {allow}"
        return allow, 405, _dumps({"error": {"code": "method_not_allowed", "message": message}})
    message = f"no route for {method} {path}; routes are {_KNOWN_ROUTES}"
    return None, 404, _dumps({"error": {"code": "not_found", "message": message}})
