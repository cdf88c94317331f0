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
        rows = parse_instances(document, feature_names=self._feature_names, limits=self.limits)
        started = time.perf_counter()
        prediction = self.model.predict(rows)
        inference_ms = (time.perf_counter() - started) * 1000.0
        return PredictResult(
            body={
                "predictions": prediction.labels,
                "probabilities": prediction.probabilities.tolist(),
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
