"""Reading the inference function's "prediction served" lines out of a CloudWatch Logs delivery.

A subscription filter delivers `{"awslogs": {"data": base64(gzip(json))}}` (Powertools'
`CloudWatchLogsEvent` decodes it); each log event's message is one line that
inference.record_line wrote: the served request's log members plus its outcome record (`output`,
and for the sampled share `inputs` and `shadow_candidate`), one line per part of a large request.
`parse_line` turns one into a `LoggedPart`, or raises `UnreadableLineError` saying why.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.mirror.message import matrix_json

SERVED_MESSAGE = "prediction served"


class UnreadableLineError(ValueError):
    """A delivered line that holds no readable record (no retry can change it)."""


@dataclass(frozen=True, eq=False)
class LoggedPart:
    """The record of one request's rows as one served line carries it."""

    request_id: str
    part: int
    parts: int
    row_offset: int
    requested_at: str
    """ISO 8601 UTC with milliseconds and a Z (the line's timestamp)."""
    model_version: str
    function_version: str
    inference_ms: float
    predictions: list[Any]
    probabilities: list[list[float]] | None
    """None for a regressor's rows."""
    inputs: np.ndarray | None
    """The float32 rows the model saw (the sampled share), else None."""
    shadow_candidate: str | None

    @property
    def record_id(self) -> str:
        """The same for the same line on every delivery."""
        return f"{self.request_id}#{self.part}"

    @property
    def rows(self) -> int:
        return len(self.predictions)

    @property
    def task(self) -> str:
        return "regression" if self.probabilities is None else "classification"

    @property
    def inputs_json(self) -> str:
        """The inputs in the shadow message's wire form."""
        if self.inputs is None:
            raise ValueError(f"the record of {self.record_id} carries no inputs")
        return matrix_json(self.inputs)


def iso_timestamp(logged: str) -> str:
    """`2026-12-07 16:20:01,123+0000` (the line's, Powertools' format) -> `2026-12-07T16:20:01.123Z`."""
    if len(logged) != 28 or logged[10] != " " or logged[19] != "," or not logged.endswith("+0000"):
        raise UnreadableLineError(f"timestamp {logged!r} is not YYYY-MM-DD HH:MM:SS,mmm+0000")
    return f"{logged[:10]}T{logged[11:19]}.{logged[20:23]}Z"


def _text(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise UnreadableLineError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _count(document: dict[str, Any], name: str, default: int, low: int) -> int:
    value = document.get(name, default)
    if type(value) is not int or value < low:
        raise UnreadableLineError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _inputs(value: Any, rows: int) -> np.ndarray | None:
    if value is None:
        return None
    from base64 import b64decode

    try:
        shape = value["shape"]
        matrix = np.frombuffer(b64decode(value["data"], validate=True), dtype="<f4")
        matrix = matrix.reshape(int(shape[0]), int(shape[1])).astype(np.float32)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise UnreadableLineError(f"inputs are not a float32 matrix: {exc}") from exc
    if value.get("dtype") != "float32" or matrix.shape[0] != rows:
        raise UnreadableLineError(f"inputs hold {matrix.shape[0]} float32 rows, not {rows}")
    return matrix


def _outputs(output: Any) -> tuple[list[Any], list[list[float]] | None]:
    if not isinstance(output, dict) or not isinstance(output.get("predictions"), list):
        raise UnreadableLineError("output must be the answered body, with its predictions")
    predictions: list[Any] = output["predictions"]
    probabilities = output.get("probabilities")
    if probabilities is None:
        return predictions, None
    if not isinstance(probabilities, list) or len(probabilities) != len(predictions):
        raise UnreadableLineError("output.probabilities must hold one row per prediction")
    return predictions, probabilities


def parse_line(message: str) -> LoggedPart:
    """One delivered log message -> the record it carries."""
    try:
        document = json.loads(message)
    except ValueError as exc:
        raise UnreadableLineError(f"the line is not JSON: {str(exc)[:120]}") from exc
    if not isinstance(document, dict) or document.get("message") != SERVED_MESSAGE:
        raise UnreadableLineError(f"the line is not a {SERVED_MESSAGE!r} line")
    if "output" not in document:
        raise UnreadableLineError("the line carries no record (written before records were logged)")
    predictions, probabilities = _outputs(document["output"])
    parts = _count(document, "parts", 1, 1)
    part = _count(document, "part", 0, 0)
    if part >= parts:
        raise UnreadableLineError(f"part {part} is not below parts {parts}")
    inference_ms = document.get("inference_ms", 0.0)
    if type(inference_ms) not in (int, float) or not math.isfinite(inference_ms):
        raise UnreadableLineError(f"inference_ms must be a number, got {inference_ms!r}")
    candidate = document.get("shadow_candidate")
    if candidate is not None and (not isinstance(candidate, str) or not candidate):
        raise UnreadableLineError(f"shadow_candidate must be a model version, got {candidate!r}")
    return LoggedPart(
        request_id=_text(document, "correlation_id"),
        part=part,
        parts=parts,
        row_offset=_count(document, "row_offset", 0, 0),
        requested_at=iso_timestamp(_text(document, "timestamp")),
        model_version=_text(document, "model_version"),
        function_version=_text(document, "function_version"),
        inference_ms=float(inference_ms),
        predictions=predictions,
        probabilities=probabilities,
        inputs=_inputs(document.get("inputs"), len(predictions)),
        shadow_candidate=candidate,
    )
