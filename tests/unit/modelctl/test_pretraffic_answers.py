"""The pre-traffic check reads a classifier's and a regressor's /predict answers as each should look."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from common.model.metadata import ModelMetadata
from release.alias import VersionInfo
from release.errors import PreTrafficError
from release.pretraffic import InvokeResult, run_pre_traffic_check

VERSION = VersionInfo(
    version="7",
    role="arn:aws:iam::123456789012:role/fn",
    state="Active",
    environment={},
    dead_letter_target="",
    description="",
    code_sha256="abc",
)


class FakeFunction:
    """Answers /health with its versions and /predict with the given body."""

    def __init__(self, model_version: str, predict_body: dict[str, Any]) -> None:
        self.model_version = model_version
        self.predict_body = predict_body

    def invoke(self, function: str, version: str, event: dict[str, Any]) -> InvokeResult:
        if event["path"] == "/health":
            body: dict[str, Any] = {"function_version": version, "model_version": self.model_version}
        else:
            body = self.predict_body
        payload = json.dumps({"statusCode": 200, "body": json.dumps(body)}).encode()
        return InvokeResult(payload=payload, function_error=None, executed_version=version)


def regression_metadata(metadata: ModelMetadata) -> ModelMetadata:
    return replace(metadata, task="regression", class_labels=[], probabilities_output="")


def test_a_classifier_s_answer_with_probabilities_passes(trained_model: tuple[Any, ModelMetadata]) -> None:
    metadata = trained_model[1]
    rows = len(metadata.sample_rows)
    body = {
        "predictions": [0] * rows,
        "probabilities": [[0.5, 0.5]] * rows,
        "model_version": metadata.version,
    }
    report = run_pre_traffic_check(FakeFunction(metadata.version, body), "fn", VERSION, metadata)
    assert report.rows == rows


def test_a_regressor_s_answer_of_numbers_passes(trained_model: tuple[Any, ModelMetadata]) -> None:
    metadata = regression_metadata(trained_model[1])
    rows = len(metadata.sample_rows)
    body = {"predictions": [151.25] * rows, "model_version": metadata.version}
    report = run_pre_traffic_check(FakeFunction(metadata.version, body), "fn", VERSION, metadata)
    assert report.rows == rows


@pytest.mark.parametrize(
    "predictions",
    [["151.25"], [True], [float("nan")], []],
    ids=["text", "boolean", "nan", "too-few"],
)
def test_a_regressor_s_answer_that_is_not_one_finite_number_per_row_fails(
    trained_model: tuple[Any, ModelMetadata], predictions: list[Any]
) -> None:
    metadata = regression_metadata(trained_model[1])
    rows = len(metadata.sample_rows)
    values = predictions * rows if predictions else []
    body = {"predictions": values, "model_version": metadata.version}
    with pytest.raises(PreTrafficError, match="sample rows with"):
        run_pre_traffic_check(FakeFunction(metadata.version, body), "fn", VERSION, metadata)


def test_a_classifier_s_answer_without_probabilities_fails(trained_model: tuple[Any, ModelMetadata]) -> None:
    metadata = trained_model[1]
    body = {"predictions": [0] * len(metadata.sample_rows), "model_version": metadata.version}
    with pytest.raises(PreTrafficError, match="sample rows with"):
        run_pre_traffic_check(FakeFunction(metadata.version, body), "fn", VERSION, metadata)
