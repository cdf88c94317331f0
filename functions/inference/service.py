"""Prediction domain logic: the request's rows in, a JSON-ready answer out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.model.onnx_model import OnnxModel


@dataclass(slots=True)
class PredictResult:
    body: dict[str, Any]
    rows: int
    inference_ms: float
    inputs: np.ndarray | None = None
    """The validated float32 rows the model saw (what shadow mirroring sends on)."""


class NonFiniteOutputError(RuntimeError):
    """The model returned a number that is NaN or infinite (inputs near the float32 limits can
    overflow a pipeline's scaler): an internal error, never an answer."""


class InferenceService:
    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self.model_version = model.version
        self.feature_names = list(model.metadata.feature_names)

    def predict(self, rows: np.ndarray) -> PredictResult:
        """The model's answer for the rows (`inference.decode`): its outputs, then the model
        version. Whatever kind of model it is, its `Prediction` names the outputs."""
        started = time.perf_counter()
        prediction = self.model.predict(rows)
        inference_ms = (time.perf_counter() - started) * 1000.0
        if not prediction.finite():
            raise NonFiniteOutputError("the model returned a probability that is not a finite number")
        body = prediction.outputs()
        body["model_version"] = self.model_version
        return PredictResult(body=body, rows=len(rows), inference_ms=inference_ms, inputs=rows)

    def health(self, function_version: str) -> dict[str, Any]:
        return {
            "status": "ok",
            "model_version": self.model_version,
            "function_version": function_version,
            "features": self.feature_names,
            "class_labels": self.model.metadata.class_labels,
        }
