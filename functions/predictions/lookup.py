"""GET /predictions/{id}: the served version's precomputed prediction, as an API Gateway response."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from common.precompute.table import IdError, PredictionTable, check_id

JSON_HEADERS = {"Content-Type": "application/json"}


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def error_response(status: int, code: str, message: str, request_id: str) -> dict[str, Any]:
    return _response(status, {"error": {"code": code, "message": message, "request_id": request_id}})


def lookup_response(event: dict[str, Any], table: PredictionTable, request_id: str) -> dict[str, Any]:
    raw = (event.get("pathParameters") or {}).get("id")
    if event.get("httpMethod", "GET") != "GET":
        return error_response(
            405, "method_not_allowed", "only GET is supported on /predictions/{id}", request_id
        )
    try:
        id_ = check_id(unquote(raw or ""))
    except IdError as exc:
        return error_response(400, "invalid_id", f"{exc}: use GET /predictions/<id>", request_id)
    pointer, prediction = table.lookup(id_)
    if pointer is None:
        return error_response(
            404,
            "no_predictions",
            "no precomputed predictions are served yet: run `modelctl precompute`",
            request_id,
        )
    if prediction is None:
        return _response(
            404,
            {
                "error": {
                    "code": "unknown_id",
                    "message": f"no precomputed prediction for id {id_!r} in model version "
                    f"{pointer.model_version}",
                    "request_id": request_id,
                }
            },
            {"X-Model-Version": pointer.model_version},
        )
    return _response(200, prediction.to_json(), {"X-Model-Version": prediction.model_version})
