"""The Open Inference Protocol (KServe V2, also spoken by Triton and MLServer) over the served model.

What `tritonclient.http` and kserve's `InferenceRESTClient` send and read: server and model
health, model metadata and `infer` with JSON tensors. The model is named by the service
(POWERTOOLS_SERVICE_NAME) and its versions are the Lambda function versions, each of which pins one
model artifact; a request through `/versions/{version}/` is answered by that version (the gateway
invokes it; docs/api.md). The one input is the FP32 matrix `[rows, features]` named as the model's
input; the outputs are `label` and `probabilities` for a classifier, `predictions` for a regressor,
with the values /predict answers. Errors are the protocol's `{"error": "<message>"}` with a 4xx.
The binary tensor extension is not supported: a request that uses it is refused with a 400 naming
`binary_data=False`; an output asked for as binary is answered in JSON, which clients read alike.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from common.http.errors import RequestError
from common.http.request_body import RequestLimits, decode_body
from inference.service import InferenceService, PredictResult

PATH = re.compile(r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<action>/ready|/infer)?/?")
"""A model path: /v2/models/{name}[/versions/{version}][/ready | /infer]."""
SERVER_NAME = "onnx-serverless"
PLATFORM = "onnxruntime_onnx"
INPUT_DATATYPE = "FP32"
_BINARY_HEADER = "inference-header-content-length"


class OipError(RequestError):
    """A client error answered with the protocol's body, `{"error": "<message>"}`."""

    def body(self) -> dict[str, Any]:
        return {"error": self.message}


def _bad(message: str) -> OipError:
    return OipError(400, "invalid_tensor", message)


@dataclass(frozen=True)
class ModelPath:
    """What a model path names: the model, a version if pinned, and the action (metadata, ready, infer)."""

    name: str
    version: str | None
    action: str

    @classmethod
    def parse(cls, path: str) -> ModelPath | None:
        match = PATH.fullmatch(path)
        if match is None:
            return None
        return cls(match["name"], match["version"], (match["action"] or "/metadata")[1:])


def _label_datatype(labels: list[Any]) -> str:
    if labels and isinstance(labels[0], str):
        return "BYTES"
    if labels and isinstance(labels[0], bool):
        return "BOOL"
    return "INT64"


class OpenInference:
    """The protocol's documents for one served model: metadata, readiness, infer decoding and answers."""

    def __init__(self, service: InferenceService, limits: RequestLimits, *, model_name: str) -> None:
        self.service = service
        self.limits = limits
        self.model_name = model_name
        metadata = service.model.metadata
        self.input_name = metadata.input_name
        self.width = len(service.feature_names)
        self.regression = metadata.task == "regression"
        self.class_labels = list(metadata.class_labels)

    # -- documents ------------------------------------------------------------------------------

    def server_metadata(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": "2", "extensions": []}

    def model_metadata(self, function_version: str) -> dict[str, Any]:
        """The model's tensors (KServe V2 model metadata) and the artifact it is."""
        if self.regression:
            outputs = [{"name": "predictions", "datatype": "FP32", "shape": [-1]}]
        else:
            outputs = [
                {"name": "label", "datatype": _label_datatype(self.class_labels), "shape": [-1]},
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(self.class_labels)]},
            ]
        return {
            "name": self.model_name,
            "versions": [function_version],
            "platform": PLATFORM,
            "inputs": [{"name": self.input_name, "datatype": INPUT_DATATYPE, "shape": [-1, self.width]}],
            "outputs": outputs,
            "parameters": {
                "model_version": self.service.model_version,
                "task": self.service.model.metadata.task,
                "features": self.service.feature_names,
                "class_labels": self.class_labels,
            },
        }

    def check_model(self, path: ModelPath, function_version: str) -> None:
        """A 404 for another model's name, or for a version this process does not serve (the
        gateway sends a pinned request to its version, so this only meets a misrouted one)."""
        if path.name != self.model_name:
            raise OipError(
                404, "not_found", f"no model named {path.name!r}; this API serves {self.model_name!r}"
            )
        if path.version is not None and path.version != function_version:
            raise OipError(
                404,
                "not_found",
                f"version {path.version!r} of {self.model_name!r} is not the one answering "
                f"(version {function_version})",
            )

    # -- infer ----------------------------------------------------------------------------------

    def rows(self, event: dict[str, Any]) -> tuple[np.ndarray, list[str] | None, str | None]:
        """(the float32 rows of the request's one input tensor, the outputs asked for or None for
        all, the request's id if it gave one), or the 400 naming what is wrong."""
        headers = event.get("headers") or {}
        if any(name.lower() == _BINARY_HEADER for name in headers):
            raise _bad("the binary tensor extension is not supported: send JSON tensors (binary_data=False)")
        try:
            text = decode_body(
                event.get("body"), is_base64=bool(event.get("isBase64Encoded")), limits=self.limits
            )
            document = orjson.loads(text)
        except RequestError as exc:
            raise OipError(exc.status, exc.code, exc.message) from exc
        except orjson.JSONDecodeError as exc:
            raise _bad(f"the body is not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise _bad("the body must be a JSON object with an 'inputs' array")
        inputs = document.get("inputs")
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            raise _bad(f"'inputs' must hold exactly one tensor, {self.input_name!r}")
        request_id = document.get("id")
        return (
            self._tensor(inputs[0]),
            self._outputs(document.get("outputs")),
            (request_id if isinstance(request_id, str) else None),
        )

    def _tensor(self, tensor: dict[str, Any]) -> np.ndarray:
        name, datatype, shape, data = (tensor.get(k) for k in ("name", "datatype", "shape", "data"))
        if name != self.input_name:
            raise _bad(f"unknown input {name!r}: the model's input is {self.input_name!r}")
        if datatype != INPUT_DATATYPE:
            raise _bad(f"input {name!r} has datatype {datatype!r}; the model takes {INPUT_DATATYPE}")
        parameters = tensor.get("parameters")
        if isinstance(parameters, dict) and "binary_data_size" in parameters:
            raise _bad("the binary tensor extension is not supported: send JSON tensors (binary_data=False)")
        if (
            not isinstance(shape, list)
            or len(shape) != 2
            or not all(type(n) is int for n in shape)
            or shape[1] != self.width
            or not 1 <= shape[0] <= self.limits.max_rows
        ):
            raise _bad(
                f"input {name!r} has shape {shape!r}; the model takes [rows, {self.width}] with "
                f"1 to {self.limits.max_rows} rows"
            )
        rows = int(shape[0])
        if not isinstance(data, list):
            raise _bad(f"input {name!r} needs 'data', an array of {rows * self.width} numbers")
        flat = _flatten(data)
        if len(flat) != rows * self.width:
            raise _bad(
                f"input {name!r} has {len(flat)} values in 'data'; "
                f"its shape {shape} needs {rows * self.width}"
            )
        for index, value in enumerate(flat):
            if type(value) not in (int, float) or not math.isfinite(value):
                raise _bad(f"input {name!r} value {index} ({value!r}) is not a finite number")
        with np.errstate(over="ignore"):
            matrix = np.asarray(flat, dtype=np.float64).astype(np.float32).reshape(rows, self.width)
        if not np.isfinite(matrix).all():
            raise _bad(f"input {name!r} holds values beyond the FP32 range")
        return matrix

    def _outputs(self, requested: Any) -> list[str] | None:
        if requested is None:
            return None
        known = self.output_names()
        if not isinstance(requested, list) or not all(isinstance(o, dict) for o in requested):
            raise _bad("'outputs' must be an array of objects with a 'name'")
        names = [o.get("name") for o in requested]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise _bad(f"unknown outputs {unknown}: the model has {known}")
        return [str(n) for n in names]

    def output_names(self) -> list[str]:
        return ["predictions"] if self.regression else ["label", "probabilities"]

    def answer(
        self,
        result: PredictResult,
        wanted: list[str] | None,
        *,
        request_id: str,
        function_version: str,
    ) -> dict[str, Any]:
        """The infer response: /predict's answer for the rows as the protocol's output tensors."""
        body = result.body
        rows = result.rows
        tensors: dict[str, dict[str, Any]] = {}
        if self.regression:
            tensors["predictions"] = {"datatype": "FP32", "shape": [rows], "data": body["predictions"]}
        else:
            labels = body["predictions"]
            probabilities = body["probabilities"]
            width = len(probabilities[0]) if probabilities else len(self.class_labels)
            tensors["label"] = {"datatype": _label_datatype(labels), "shape": [rows], "data": labels}
            tensors["probabilities"] = {
                "datatype": "FP32",
                "shape": [rows, width],
                "data": [value for row in probabilities for value in row],
            }
        return {
            "model_name": self.model_name,
            "model_version": function_version,
            "id": request_id,
            "parameters": {"model_version": self.service.model_version},
            "outputs": [{"name": name, **tensors[name]} for name in (wanted or self.output_names())],
        }


def _flatten(data: list[Any]) -> list[Any]:
    """The values of a flat or row-major nested `data` array, in order."""
    if not any(isinstance(item, list) for item in data):
        return data
    flat: list[Any] = []
    for item in data:
        if isinstance(item, list):
            flat.extend(_flatten(item))
        else:
            flat.append(item)
    return flat
