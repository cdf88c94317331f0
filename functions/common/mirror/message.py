"""The message the recorder function forwards to the shadow queue: one live request, or part of one.

The wire format is compact JSON (a message in the dead-letter queue can be read by a person):

    {"schema_version": 1, "request_id": "...", "part": 0, "parts": 1, "row_offset": 0,
     "timestamp": "2026-01-02T13:04:05.678Z", "candidate_model_version": "m-...",
     "inputs": {"dtype": "float32", "shape": [1, 30], "data": "<base64 of little-endian float32>"},
     "live": {"model_version": "m-...", "function_version": "3", "predictions": [0],
              "probabilities": [[0.99, 0.01]], "inference_ms": 0.08}}

A regressor's message carries one number per row in `predictions` and `"probabilities": []` (it has
none); a classifier's always has a probability row per input row, so the empty list tells them apart.

The inputs are the exact float32 matrix the live model saw, as raw bytes, as the inference function
wrote them in its log line (inference.record_line): the shadow function renders them as text when
it writes the record. A request too large for one message is split by rows into `parts` messages
(`row_offset` says where each part starts); the recorder forwards each part of a log line as one.

`candidate_model_version` is null in a *live-only* message (an earlier sender's; the recorder forwards
only requests the shadow's sample drew): the shadow function writes it as a record without a shadow
result, under `predictions/` instead of `records/`.
`parse_message` checks everything and raises `MalformedMessageError` with the reason; it never
raises anything else.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

SCHEMA_VERSION = 1
# SQS's classic message limit is 256 KiB; stay below it whatever the queue's MaximumMessageSize is.
DEFAULT_MAX_MESSAGE_BYTES = 250_000
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FUNCTION_VERSION_RE = re.compile(r"^(\$LATEST|[0-9]{1,10})$")
_MAX_ID_LENGTH = 200
FLOAT32_MAX = float(np.finfo(np.float32).max)


class MalformedMessageError(ValueError):
    """A message that can never be scored: retrying it cannot help, the DLQ is where it belongs."""


class MessageTooLargeError(ValueError):
    """A single row does not fit in one message (never happens with float32 feature rows)."""


@dataclass(frozen=True)
class ModelResult:
    """One model version's answer for a message's rows: the live function's (`LiveResult`) or the
    shadow's (`common.mirror.record.ShadowResult`); both are written in this shape."""

    model_version: str
    function_version: str
    predictions: list[Any]
    probabilities: list[list[float]]
    inference_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "function_version": self.function_version,
            "predictions": self.predictions,
            "probabilities": self.probabilities,
            "inference_ms": self.inference_ms,
        }


LiveResult = ModelResult


@dataclass(frozen=True, eq=False)
class MirrorMessage:
    request_id: str
    part: int
    parts: int
    row_offset: int
    timestamp: str
    candidate_model_version: str | None
    """None: a live-only message (the prediction log), nothing to score."""
    inputs: np.ndarray
    """float32, shape (rows, features)."""
    live: LiveResult

    @property
    def record_id(self) -> str:
        """Identifies the record this message becomes: the same on every redelivery."""
        return f"{self.request_id}#{self.part}"

    @property
    def rows(self) -> int:
        return int(self.inputs.shape[0])


def format_timestamp(epoch_seconds: float) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`, e.g. 2026-01-02T13:04:05.678Z."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"timestamp {text!r} is not ISO 8601 UTC ending in Z")
    moment = datetime.fromisoformat(text[:-1] + "+00:00")
    return moment.astimezone(UTC)


# -- encoding (the recorder function) ---------------------------------------------


def float32_rows_text(inputs: np.ndarray) -> str:
    """A float32 matrix as JSON text, numbers in numpy's shortest float32 form (an exact round trip;
    for records, written by the shadow function, off the live path)."""
    return (
        "["
        + ",".join("[" + ",".join(row) + "]" for row in np.asarray(inputs, dtype=np.float32).astype(str))
        + "]"
    )


def matrix_json(matrix: np.ndarray) -> str:
    """A float32 matrix as `{"dtype":"float32","shape":[r,c],"data":"<base64>"}` (the wire form)."""
    data = base64.b64encode(np.ascontiguousarray(matrix, dtype="<f4").tobytes()).decode("ascii")
    return f'{{"dtype":"float32","shape":[{matrix.shape[0]},{matrix.shape[1]}],"data":"{data}"}}'


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def encode_part(
    *,
    request_id: str,
    part: int,
    parts: int,
    row_offset: int,
    timestamp: str,
    candidate_model_version: str | None,
    inputs_json: str,
    live: LiveResult,
) -> str:
    """One message body from a part of a request, the inputs already in their wire form
    (`matrix_json`): the recorder copies them from the log line, not decoded and encoded again."""
    head = _dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "request_id": request_id,
            "part": part,
            "parts": parts,
            "row_offset": row_offset,
            "timestamp": timestamp,
            "candidate_model_version": candidate_model_version,
        }
    )
    return f'{head[:-1]},"inputs":{inputs_json},"live":{_dumps(live.to_dict())}}}'


def encode_messages(
    *,
    request_id: str,
    timestamp: str,
    candidate_model_version: str | None,
    inputs: np.ndarray,
    live: LiveResult,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> list[str]:
    """The message bodies for one live request: one, or several parts split by rows."""
    matrix = np.asarray(inputs, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"inputs must be a 2-d matrix, got shape {matrix.shape}")
    rows = matrix.shape[0]
    if rows != len(live.predictions) or (live.probabilities and rows != len(live.probabilities)):
        raise ValueError(
            f"{rows} input rows but {len(live.predictions)} predictions and "
            f"{len(live.probabilities)} probability rows"
        )
    common: dict[str, Any] = {
        "request_id": request_id,
        "timestamp": timestamp,
        "candidate_model_version": candidate_model_version,
    }
    whole = encode_part(**common, part=0, parts=1, row_offset=0, inputs_json=matrix_json(matrix), live=live)
    if len(whole) <= max_bytes:  # ASCII only: characters are bytes
        return [whole]
    return _split(matrix, live, common, max_bytes)


def _split(matrix: np.ndarray, live: LiveResult, common: dict[str, Any], max_bytes: int) -> list[str]:
    row_bytes = math.ceil(matrix.shape[1] * 16 / 3)  # base64 of one row's float32 bytes, rounded up
    probabilities = live.probabilities or [[]] * len(live.predictions)  # a regressor has none
    sizes = [
        row_bytes + len(_dumps(label)) + len(_dumps(probs)) + 3
        for label, probs in zip(live.predictions, probabilities, strict=True)
    ]
    overhead = 620 + len(_dumps(common)) + len(live.model_version) + len(live.function_version)
    budget = max_bytes - overhead
    ranges: list[tuple[int, int]] = []
    start, used = 0, 0
    for index, size in enumerate(sizes):
        if size > budget:
            raise MessageTooLargeError(f"row {index} alone needs {size} bytes; the limit is {max_bytes}")
        if used + size > budget:
            ranges.append((start, index))
            start, used = index, 0
        used += size
    ranges.append((start, matrix.shape[0]))
    parts = len(ranges)
    messages = []
    for part, (begin, end) in enumerate(ranges):
        piece = LiveResult(
            model_version=live.model_version,
            function_version=live.function_version,
            predictions=live.predictions[begin:end],
            probabilities=live.probabilities[begin:end] if live.probabilities else [],
            inference_ms=live.inference_ms,
        )
        text = encode_part(
            **common,
            part=part,
            parts=parts,
            row_offset=begin,
            inputs_json=matrix_json(matrix[begin:end]),
            live=piece,
        )
        if len(text) > max_bytes:  # the estimate is conservative; this is a safety net
            raise MessageTooLargeError(f"part {part} is {len(text)} bytes; the limit is {max_bytes}")
        messages.append(text)
    return messages


# -- parsing (the shadow function) -----------------------------------------------------------------


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise MalformedMessageError(reason)


def _int_field(document: dict[str, Any], name: str, low: int) -> int:
    value = document.get(name)
    _require(type(value) is int and value >= low, f"{name} must be an integer >= {low}, got {value!r}")
    assert isinstance(value, int)
    return value


def _str_field(document: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = document.get(name)
    _require(
        isinstance(value, str) and 0 < len(value) <= _MAX_ID_LENGTH,
        f"{name} must be a non-empty string, got {type(value).__name__}",
    )
    assert isinstance(value, str)
    if pattern is not None:
        _require(pattern.fullmatch(value) is not None, f"{name} {value!r} is not a valid version")
    return value


def _finite_number(value: Any) -> bool:
    """A JSON number (not a boolean) within float32's range: what a float32 model input can hold."""
    if type(value) is int:
        return abs(value) <= FLOAT32_MAX  # compares without converting, whatever the int's size
    return type(value) is float and math.isfinite(value) and abs(value) <= FLOAT32_MAX


def _number_rows(value: Any, name: str) -> list[list[float]]:
    _require(isinstance(value, list) and len(value) > 0, f"{name} must be a non-empty array of rows")
    width = None
    for index, row in enumerate(value):
        _require(isinstance(row, list) and len(row) > 0, f"{name}[{index}] must be a non-empty array")
        _require(width is None or len(row) == width, f"{name}[{index}] has {len(row)} values, not {width}")
        width = len(row)
        _require(
            all(_finite_number(v) for v in row), f"{name}[{index}] holds a value that is not a finite number"
        )
    return [[float(v) for v in row] for row in value]


def _matrix(value: Any) -> np.ndarray:
    _require(isinstance(value, dict), "inputs must be an object {dtype, shape, data}")
    _require(value.get("dtype") == "float32", f"inputs.dtype must be float32, got {value.get('dtype')!r}")
    shape = value.get("shape")
    _require(
        isinstance(shape, list)
        and len(shape) == 2
        and all(type(n) is int and 0 < n <= 1_000_000 for n in shape),
        f"inputs.shape must be [rows, features], got {shape!r}",
    )
    data = value.get("data")
    _require(isinstance(data, str), "inputs.data must be base64 text")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedMessageError("inputs.data is not valid base64") from exc
    rows, features = shape
    _require(
        len(raw) == rows * features * 4,
        f"inputs.data holds {len(raw)} bytes, not {rows} x {features} float32",
    )
    matrix = np.frombuffer(raw, dtype="<f4").reshape(rows, features).astype(np.float32)
    _require(bool(np.isfinite(matrix).all()), "inputs hold a value that is not a finite number")
    return matrix


def _label(value: Any) -> bool:
    return (type(value) is int) or isinstance(value, str)


def _regression_value(value: Any) -> bool:
    """A regressor's prediction: the JSON text of a float32 value, always a float (never a boolean,
    never an integer, which is a class label), and finite."""
    return type(value) is float and math.isfinite(value)


def _live(value: Any, rows: int) -> LiveResult:
    _require(isinstance(value, dict), "live must be an object")
    predictions = value.get("predictions")
    raw_probabilities = value.get("probabilities")
    probabilities: list[list[float]] = []
    if raw_probabilities is None or raw_probabilities == []:  # a regressor: one number per row
        _require(
            isinstance(predictions, list)
            and len(predictions) == rows
            and all(_regression_value(p) for p in predictions),
            f"live.predictions must be {rows} labels (integers or strings) with probabilities, "
            f"or {rows} finite numbers (a regressor's) without",
        )
    else:
        _require(
            isinstance(predictions, list)
            and len(predictions) == rows
            and all(_label(p) for p in predictions),
            f"live.predictions must be {rows} labels (integers or strings)",
        )
        probabilities = _number_rows(raw_probabilities, "live.probabilities")
        _require(len(probabilities) == rows, f"live.probabilities must have {rows} rows")
    assert isinstance(predictions, list)
    inference_ms = value.get("inference_ms")
    _require(
        _finite_number(inference_ms) and inference_ms >= 0, "live.inference_ms must be a non-negative number"
    )
    return LiveResult(
        model_version=_str_field(value, "model_version", _VERSION_RE),
        function_version=_str_field(value, "function_version", _FUNCTION_VERSION_RE),
        predictions=list(predictions),
        probabilities=probabilities,
        inference_ms=float(inference_ms),
    )


def parse_message(body: Any) -> MirrorMessage:
    """A message body -> MirrorMessage, or MalformedMessageError naming what is wrong."""
    _require(isinstance(body, str), f"the body must be text, got {type(body).__name__}")
    try:
        document = json.loads(body, parse_constant=lambda name: _require(False, f"{name} is not a number"))
    except MalformedMessageError:
        raise
    except (ValueError, RecursionError) as exc:
        raise MalformedMessageError(f"the body is not JSON: {str(exc)[:120]}") from exc
    _require(isinstance(document, dict), "the body must be a JSON object")
    _require(
        document.get("schema_version") == SCHEMA_VERSION,
        f"schema_version must be {SCHEMA_VERSION}, got {document.get('schema_version')!r}",
    )
    parts = _int_field(document, "parts", 1)
    part = _int_field(document, "part", 0)
    _require(part < parts, f"part {part} is not below parts {parts}")
    timestamp = _str_field(document, "timestamp")
    try:
        parse_timestamp(timestamp)
    except ValueError as exc:
        raise MalformedMessageError(f"timestamp {timestamp!r} is not ISO 8601 UTC") from exc
    inputs = _matrix(document.get("inputs"))
    return MirrorMessage(
        request_id=_str_field(document, "request_id"),
        part=part,
        parts=parts,
        row_offset=_int_field(document, "row_offset", 0),
        timestamp=timestamp,
        candidate_model_version=(
            None
            if document.get("candidate_model_version", "") is None
            else _str_field(document, "candidate_model_version", _VERSION_RE)
        ),
        inputs=inputs,
        live=_live(document.get("live"), int(inputs.shape[0])),
    )
