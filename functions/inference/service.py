"""Prediction domain logic: a validated request in, a JSON-ready answer out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.model import OnnxClassifier
from common.validation import (
    RequestLimits,
    check_content_type,
    decode_body,
    parse_instances,
    parse_json_object,
)


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


def _check_finite(probabilities: np.ndarray, values: list[list[float]]) -> None:
    if len(values) <= _PYTHON_FINITE_CHECK_MAX_ROWS:
        total = sum(map(sum, values))
    else:
        total = float(probabilities.sum(dtype=np.float64))
    if total - total != 0.0:  # a NaN or an infinity anywhere makes the sum NaN or infinite
        raise NonFiniteOutputError("the model returned a probability that is not a finite number")


class InferenceService:
    def __init__(self, model: OnnxClassifier, limits: RequestLimits) -> None:
        self.model = model
        self.limits = limits
        self.model_version = model.version
        self._feature_names = list(model.metadata.feature_names)

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

    def health(self, function_version: str) -> dict[str, Any]:
        return {
            "status": "ok",
            "model_version": self.model_version,
            "function_version": function_version,
            "features": self._feature_names,
            "class_labels": self.model.metadata.class_labels,
        }
