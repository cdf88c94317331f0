"""Prediction domain logic: the request's rows in, a JSON-ready answer out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from common.http.errors import RequestError
from common.model.onnx_model import OnnxModel
from common.model.prediction import Answer


@dataclass(slots=True)
class PredictResult:
    prediction: Answer
    model_version: str
    rows: int
    inference_ms: float
    inputs: np.ndarray | None = None
    """The validated float32 rows the model saw (what shadow mirroring sends on)."""

    @property
    def body(self) -> dict[str, Any]:
        """The answer as the response body carries it, in Python lists: the model's outputs, then
        the model version (what an Open Inference answer and a record split by rows read)."""
        body = self.prediction.outputs()
        body["model_version"] = self.model_version
        return body

    def body_json(self) -> str:
        """`body` as compact JSON, the text orjson writes for it, written from the model's output
        arrays where they are still arrays: without a Python float per probability, which at 100
        rows and more is most of the cost of the response (docs/performance.md)."""
        document = self.prediction.array_outputs()
        document["model_version"] = self.model_version
        return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY).decode()


UNSCORABLE_ROWS_SHOWN = 20
"""At most this many row numbers are named in an unscorable input's message."""


class UnscorableInputError(RequestError):
    """Rows for which the model's output is NaN or infinite (finite inputs near the float32 limits
    can overflow a linear model or a pipeline's scaler): the client's input, answered with a 422
    that names the rows. Never an answer, and not an internal error (which a canary gate counts)."""

    def __init__(self, rows: list[int]) -> None:
        shown = ", ".join(map(str, rows[:UNSCORABLE_ROWS_SHOWN]))
        more = f" and {len(rows) - UNSCORABLE_ROWS_SHOWN} more" if len(rows) > UNSCORABLE_ROWS_SHOWN else ""
        super().__init__(
            422,
            "unscorable_input",
            f"the model cannot give a finite answer for rows [{shown}]{more}: their values overflow "
            "its arithmetic; send values on the scale the model was trained on",
        )
        self.rows = rows


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
            raise UnscorableInputError(prediction.unscorable_rows())
        return PredictResult(prediction, self.model_version, len(rows), inference_ms, rows)

    def health(self, function_version: str) -> dict[str, Any]:
        return {
            "status": "ok",
            "model_version": self.model_version,
            "function_version": function_version,
            "features": self.feature_names,
            "class_labels": self.model.metadata.class_labels,
            "task": self.model.metadata.task,
        }
