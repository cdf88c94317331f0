"""Pre-traffic check: invoke the new version directly, before any weight moves.

The version is invoked by number (never through the alias, so users see nothing) with API
Gateway proxy events: GET /health and POST /predict with the sample rows recorded in the model's
metadata. It passes only if both answer 200 from that version with the model it pins, and the
prediction has one label and one probability row per sample row.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from common.model.metadata import ModelMetadata
from release.alias import Routing, VersionInfo
from release.aws import error_code, error_message
from release.errors import PreTrafficError
from release.models import read_published_metadata
from release.record import record_change

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

    from release.context import ReleaseContext
    from release.plan import Plan


@dataclass(frozen=True)
class InvokeResult:
    payload: bytes
    function_error: str | None
    executed_version: str | None


class Invoker(Protocol):
    def invoke(self, function: str, version: str, event: dict[str, Any]) -> InvokeResult: ...


class LambdaInvoker:
    def __init__(self, lambda_client: LambdaClient) -> None:
        self.lambda_ = lambda_client

    def invoke(self, function: str, version: str, event: dict[str, Any]) -> InvokeResult:
        try:
            response = self.lambda_.invoke(
                FunctionName=function, Qualifier=version, Payload=json.dumps(event).encode()
            )
        except ClientError as exc:
            raise PreTrafficError(
                f"pre-traffic check: invoking v{version} failed: {error_code(exc)}: {error_message(exc)}"
            ) from exc
        return InvokeResult(
            payload=response["Payload"].read(),
            function_error=response.get("FunctionError"),
            executed_version=response.get("ExecutedVersion"),
        )


def api_event(method: str, path: str, body: Any = None) -> dict[str, Any]:
    """An API Gateway REST proxy event (payload 1.0), as the deployed API sends it."""
    headers = {"Content-Type": "application/json", "User-Agent": "modelctl-pre-traffic"}
    now = time.time()
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": path,
            "stage": "pre-traffic",
            "requestId": f"pre-traffic-{uuid.uuid4()}",
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers["User-Agent"]},
            "protocol": "HTTP/1.1",
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


@dataclass(frozen=True)
class PreTrafficReport:
    version: str
    model_version: str
    rows: int

    def describe(self) -> str:
        return (
            f"pre-traffic check passed: v{self.version} answered /health and /predict "
            f"({self.rows} sample rows) with model {self.model_version}"
        )


def run_pre_traffic_check(
    invoker: Invoker, function: str, candidate: VersionInfo, metadata: ModelMetadata
) -> PreTrafficReport:
    version = candidate.version
    rows = metadata.sample_rows
    if not rows:
        raise PreTrafficError(
            f"pre-traffic check: model {metadata.version} records no sample_rows to send; "
            "retrain it with `modelctl train` (or pass --skip-pre-traffic-check)"
        )
    health = _call(invoker, function, version, api_event("GET", "/health"), "GET /health")
    if health.get("function_version") != version or health.get("model_version") != metadata.version:
        raise PreTrafficError(
            f"pre-traffic check: v{version} /health reports function {health.get('function_version')!r} "
            f"and model {health.get('model_version')!r}; expected {version!r} and {metadata.version!r}"
        )
    answer = _call(
        invoker, function, version, api_event("POST", "/predict", {"instances": rows}), "POST /predict"
    )
    if not _answers_every_row(answer, len(rows), regression=metadata.task == "regression"):
        raise PreTrafficError(
            f"pre-traffic check: v{version} answered {len(rows)} sample rows with {json.dumps(answer)[:200]}"
        )
    if answer.get("model_version") != metadata.version:
        raise PreTrafficError(
            f"pre-traffic check: v{version} predicted with model {answer.get('model_version')!r}, "
            f"not {metadata.version!r}"
        )
    return PreTrafficReport(version=version, model_version=metadata.version, rows=len(rows))


def _answers_every_row(answer: dict[str, Any], rows: int, *, regression: bool) -> bool:
    """One prediction per row; a classifier also answers probabilities per row, a regressor a
    finite number per row and no probabilities."""
    predictions = answer.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != rows:
        return False
    if regression:
        return "probabilities" not in answer and all(
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            for value in predictions
        )
    probabilities = answer.get("probabilities")
    return isinstance(probabilities, list) and len(probabilities) == rows


def _call(invoker: Invoker, function: str, version: str, event: dict[str, Any], what: str) -> dict[str, Any]:
    result = invoker.invoke(function, version, event)
    if result.function_error:
        raise PreTrafficError(
            f"pre-traffic check: {what} on v{version} failed ({result.function_error}): "
            f"{result.payload.decode(errors='replace')[:300]}"
        )
    if result.executed_version not in (None, version):
        raise PreTrafficError(
            f"pre-traffic check: {what} was served by v{result.executed_version}, not v{version}"
        )
    try:
        response = json.loads(result.payload)
        status = int(response.get("statusCode", 0))
        body = json.loads(response.get("body") or "{}")
    except (ValueError, TypeError, AttributeError) as exc:
        raise PreTrafficError(
            f"pre-traffic check: {what} on v{version} returned no API response: "
            f"{result.payload.decode(errors='replace')[:300]}"
        ) from exc
    if status != 200 or not isinstance(body, dict):
        raise PreTrafficError(
            f"pre-traffic check: {what} on v{version} answered HTTP {status}: {json.dumps(body)[:300]}"
        )
    return body


def check_before_traffic(
    ctx: ReleaseContext,
    plan: Plan,
    candidate: VersionInfo,
    routing: Routing,
    *,
    enabled: bool,
    reason: str,
    skipped_note: str = "",
) -> None:
    """The pre-traffic check of a release's candidate before any weight moves to it: skipped (with
    a warning) when not `enabled`; a failure is recorded as the release's refusal, then raised."""
    if not enabled:
        ctx.reporter.warn(f"pre-traffic check skipped for v{candidate.version}{skipped_note}")
        return
    if not candidate.model_uri:
        raise PreTrafficError(f"v{candidate.version} has no MODEL_URI: it pins no model")
    metadata = read_published_metadata(ctx.s3, candidate.model_uri)
    try:
        report = run_pre_traffic_check(ctx.invoker, ctx.target.function_name, candidate, metadata)
    except PreTrafficError as failure:
        record_change(
            ctx, plan.kind, "refused", reason, routing, routing, None, candidate, detail=str(failure)
        )
        raise
    ctx.reporter.info(report.describe())
