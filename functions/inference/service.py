"""Prediction domain logic: a validated request in, a JSON-ready answer out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from common.http.validation import (
    RequestLimits,
    check_content_type,
    decode_body,
    packed_rows,
    parse_instances,
    parse_json_object,
)
from common.model.onnx_model import OnnxModel


@dataclass(slots=True)
class PredictResult:
    body: dict[str, Any]
    rows: int
    inference_ms: float
    inputs: np.ndarray | None = None
    """The validated float32 rows the model saw (what shadow mirroring sends on)."""


class NonFiniteOutputError(RuntimeError):
    """The model returned a probability that is NaN or infinite (inputs near the float32 limits can
    overflow a pipeline's scaler): an internal error, never an answer."""


_PYTHON_FINITE_CHECK_MAX_ROWS = 16
"""Up to this many rows the finiteness check sums the Python lists (~0.5 us); above, numpy's."""


def _all_finite(probabilities: np.ndarray | None, values: list[list[float]]) -> bool:
    """Whether every probability is a finite number. `probabilities` (the array `values` was
    listed from) is summed by numpy above the Python threshold; None: the lists are summed."""
    if probabilities is None or len(values) <= _PYTHON_FINITE_CHECK_MAX_ROWS:
        total = sum(map(sum, values))
    else:
        total = float(probabilities.sum(dtype=np.float64))
    return total - total == 0.0  # a NaN or an infinity anywhere makes the sum NaN or infinite


def _check_finite(probabilities: np.ndarray, values: list[list[float]]) -> None:
    if not _all_finite(probabilities, values):
        raise NonFiniteOutputError("the model returned a probability that is not a finite number")


class InferenceService:
    def __init__(self, model: OnnxModel, limits: RequestLimits) -> None:
        self.model = model
        self.limits = limits
        self.model_version = model.version
        self._feature_names = list(model.metadata.feature_names)
        self._width = len(self._feature_names)

    def predict(self, *, body: str | None, is_base64: bool, content_type: str | None) -> PredictResult:
        check_content_type(content_type)
        text = decode_body(body, is_base64=is_base64, limits=self.limits)
        document = parse_json_object(text)
        rows = parse_instances(
            document, feature_names=self._feature_names, limits=self.limits, body_text=text
        )
        started = time.perf_counter()
        prediction = self.model.predict(rows)
        inference_ms = (time.perf_counter() - started) * 1000.0
        probabilities: list[list[float]] = prediction.probabilities.tolist()
        _check_finite(prediction.probabilities, probabilities)
        return PredictResult(
            body={
                "predictions": prediction.labels,
                "probabilities": probabilities,
                "model_version": self.model_version,
            },
            rows=len(prediction.labels),
            inference_ms=inference_ms,
            inputs=rows,
        )

    def predict_common(self, text: str, *, with_inputs: bool = False) -> PredictResult | None:
        """`predict` for the common request, or None for any other: the caller then calls
        `predict`, which answers it (or raises its error). `text` is a body the caller checked
        `check_content_type` and `decode_body` pass and return as it is (an ASCII body within the
        size limit, not base64). Common: a JSON object whose only key is "instances", a list of
        up to `max_rows` rows, each a list of the model's number of JSON numbers, with the float32
        values `parse_instances` gives (`packed_rows`). The rows go to the model packed, in its
        bound run when it has one (`OnnxModel.predict_packed`). A failing model, or a
        probability that is not finite, also answers None: `predict` meets the same failure and
        raises it from the general path, so the internal error is logged as it always was.
        `with_inputs`: the result carries the rows as `predict`'s does (a float32 matrix, here a
        read-only view of the packed values), for the shadow mirror."""
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if type(document) is not dict or len(document) != 1:
            return None
        instances = document.get("instances")
        if type(instances) is not list or not 0 < len(instances) <= self.limits.max_rows:
            return None
        packed = packed_rows(instances, self._width, text)
        if packed is None:
            return None
        rows = len(instances)
        inputs = self._matrix(packed, rows) if with_inputs else None
        try:
            started = time.perf_counter()
            answer = self.model.predict_packed(packed, rows)
            if answer is None:
                prediction = self.model.predict(inputs if inputs is not None else self._matrix(packed, rows))
            inference_ms = (time.perf_counter() - started) * 1000.0
            if answer is None:
                array: np.ndarray | None = prediction.probabilities
                answer = prediction.labels, prediction.probabilities.tolist()
            else:
                array = None
        except Exception:  # predict meets it again and the general path logs it
            return None
        labels, probabilities = answer
        if not _all_finite(array, probabilities):
            return None
        return PredictResult(
            body={"predictions": labels, "probabilities": probabilities, "model_version": self.model_version},
            rows=rows,
            inference_ms=inference_ms,
            inputs=inputs,
        )

    def _matrix(self, packed: bytes, rows: int) -> np.ndarray:
        """The packed rows as the float32 matrix `predict` takes (a read-only view, no copy)."""
        return np.frombuffer(packed, dtype=np.float32).reshape(rows, self._width)

    def health(self, function_version: str) -> dict[str, Any]:
        return {
            "status": "ok",
            "model_version": self.model_version,
            "function_version": function_version,
            "features": self._feature_names,
            "class_labels": self.model.metadata.class_labels,
        }
