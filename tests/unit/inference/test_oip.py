"""The Open Inference Protocol routes of the inference handler: metadata, readiness, infer with
answers equal to /predict's, the protocol's 400s for bad tensors, and payload 2.0 events."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from common.model.metadata import ModelMetadata
from tests.helpers import FakeLambdaContext
from tests.unit.inference.support import Invoke

MODEL = "/v2/models/inference"


def _rows(metadata: ModelMetadata, count: int = 3) -> list[list[float]]:
    return [list(map(float, row)) for row in metadata.sample_rows[:count]]


def _tensor(metadata: ModelMetadata, rows: list[list[float]], **changes: Any) -> dict[str, Any]:
    tensor = {
        "name": metadata.input_name,
        "datatype": "FP32",
        "shape": [len(rows), len(rows[0])],
        "data": [value for row in rows for value in row],
    }
    return {"inputs": [{**tensor, **changes}]}


def _body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


@pytest.mark.parametrize("served_model", ["classifier", "regressor"], indirect=True)
def test_infer_answers_what_predict_answers(invoke: Invoke, served_model: tuple[Any, ModelMetadata]) -> None:
    _, metadata = served_model
    rows = _rows(metadata)
    predicted = _body(invoke(body={"instances": rows}))
    answer = invoke(path=f"{MODEL}/infer", body=_tensor(metadata, rows))
    assert answer["statusCode"] == 200, answer["body"]
    body = _body(answer)
    outputs = {o["name"]: o for o in body["outputs"]}
    assert body["model_name"] == "inference"
    assert body["model_version"] == "7"
    assert body["parameters"]["model_version"] == predicted["model_version"]
    if metadata.task == "regression":
        assert outputs["predictions"]["data"] == predicted["predictions"]
        assert outputs["predictions"]["shape"] == [3]
    else:
        assert outputs["label"]["data"] == predicted["predictions"]
        probabilities = np.asarray(outputs["probabilities"]["data"]).reshape(
            outputs["probabilities"]["shape"]
        )
        assert probabilities.tolist() == predicted["probabilities"]


def test_metadata_names_the_input_and_outputs(
    invoke: Invoke, served_model: tuple[Any, ModelMetadata]
) -> None:
    _, metadata = served_model
    body = _body(invoke("GET", MODEL))
    assert body["inputs"] == [
        {"name": metadata.input_name, "datatype": "FP32", "shape": [-1, len(metadata.feature_names)]}
    ]
    assert [o["name"] for o in body["outputs"]] == ["label", "probabilities"]
    assert body["versions"] == ["7"]
    assert invoke("GET", f"{MODEL}/ready")["statusCode"] == 200
    assert invoke("GET", "/v2/health/live")["statusCode"] == 200
    assert invoke("GET", "/v2/health/ready")["statusCode"] == 200


def test_pinned_version_paths_answer_for_their_version(
    invoke: Invoke, served_model: tuple[Any, ModelMetadata]
) -> None:
    _, metadata = served_model
    answer = invoke(path=f"{MODEL}/versions/7/infer", body=_tensor(metadata, _rows(metadata, 1)))
    assert answer["statusCode"] == 200
    assert _body(answer)["model_version"] == "7"
    assert answer["multiValueHeaders"]["X-Function-Version"] == ["7"]
    misrouted = invoke(path=f"{MODEL}/versions/3/infer", body=_tensor(metadata, _rows(metadata, 1)))
    assert misrouted["statusCode"] == 404
    assert "version '3'" in _body(misrouted)["error"]
    assert invoke("GET", f"{MODEL}/versions/7/ready")["statusCode"] == 200


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"shape": [3, 5]}, "shape"),
        ({"shape": [2, 30]}, "values in 'data'"),
        ({"datatype": "FP64"}, "datatype"),
        ({"name": "x"}, "unknown input"),
        ({"data": "abc"}, "'data'"),
        ({"shape": [3]}, "shape"),
        ({"parameters": {"binary_data_size": 12}}, "binary"),
    ],
)
def test_bad_tensors_get_the_protocols_400(
    invoke: Invoke, served_model: tuple[Any, ModelMetadata], changes: dict[str, Any], named: str
) -> None:
    _, metadata = served_model
    answer = invoke(path=f"{MODEL}/infer", body=_tensor(metadata, _rows(metadata), **changes))
    assert answer["statusCode"] == 400
    error = _body(answer)["error"]
    assert isinstance(error, str) and named in error


def test_a_string_value_and_unknown_model_and_output(
    invoke: Invoke, served_model: tuple[Any, ModelMetadata]
) -> None:
    _, metadata = served_model
    body = _tensor(metadata, _rows(metadata, 1))
    body["inputs"][0]["data"][4] = "7"
    assert "value 4" in _body(invoke(path=f"{MODEL}/infer", body=body))["error"]
    good = _tensor(metadata, _rows(metadata, 1))
    assert invoke(path="/v2/models/other/infer", body=good)["statusCode"] == 404
    wrong_output = {**good, "outputs": [{"name": "logits"}]}
    assert "logits" in _body(invoke(path=f"{MODEL}/infer", body=wrong_output))["error"]
    only_label = {**good, "outputs": [{"name": "label", "parameters": {"binary_data": True}}]}
    assert [o["name"] for o in _body(invoke(path=f"{MODEL}/infer", body=only_label))["outputs"]] == ["label"]
    assert invoke("GET", f"{MODEL}/infer")["statusCode"] == 405


def test_payload_v2_events_are_answered_with_single_value_headers(
    handler_module: Any, served_model: tuple[Any, ModelMetadata]
) -> None:
    _, metadata = served_model
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": f"{MODEL}/infer",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": f"{MODEL}/infer"}},
        "body": json.dumps(_tensor(metadata, _rows(metadata, 2))),
        "isBase64Encoded": False,
    }
    answer = handler_module.handler(event, FakeLambdaContext())
    assert answer["statusCode"] == 200
    assert answer["headers"]["X-Function-Version"] == "7"
    assert "multiValueHeaders" not in answer
    predict = {**event, "rawPath": "/predict", "body": json.dumps({"instances": _rows(metadata, 2)})}
    assert len(json.loads(handler_module.handler(predict, FakeLambdaContext())["body"])["predictions"]) == 2
