"""A regressor served through the handler: its answers are scikit-learn's predict on the holdout,
for rows by position and by feature name, with no probabilities; /health names the task."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from common.mirror.config import ShadowConfig, ShadowConfigCache, ShadowConfigStore
from common.mirror.request_mirror import MirrorSettings, RequestMirror
from common.model.metadata import ModelMetadata
from recorder.lines import parse_line
from tests.helpers import FakeLambdaContext, json_body
from tests.unit.inference.support import Invoke, RegressionReference, split_lines, within_parity
from tests.unit.mirror.test_config import FakeS3

REGRESSORS = ["regressor", "tree_regressor"]
"""A ridge pipeline and a random forest, both trained on diabetes (the `served_model` fixture)."""


@pytest.fixture()
def reference(
    served_model: tuple[Path, ModelMetadata], request: pytest.FixtureRequest
) -> RegressionReference:
    found: RegressionReference = next(
        request.getfixturevalue(name)
        for name in ("ridge_model", "forest_regressor_model")
        if request.getfixturevalue(name).artifact_dir == served_model[0]
    )
    return found


@pytest.mark.parametrize("served_model", REGRESSORS, indirect=True)
def test_rows_by_position_get_scikit_learns_predictions(
    invoke: Invoke, reference: RegressionReference
) -> None:
    X = reference.X_holdout
    served: list[float] = []
    for start in range(0, len(X), 50):  # the whole holdout, MAX_ROWS at a time
        response = invoke(body={"instances": X[start : start + 50].tolist()})
        assert response["statusCode"] == 200
        body = json_body(response)
        assert set(body) == {"predictions", "model_version"}  # no probabilities
        assert body["model_version"] == reference.metadata.version
        assert all(type(value) is float for value in body["predictions"])
        served += body["predictions"]
    assert within_parity(served, reference.expected(X))


@pytest.mark.parametrize("served_model", REGRESSORS, indirect=True)
def test_rows_by_feature_name_in_any_order_get_the_same_predictions(
    invoke: Invoke, reference: RegressionReference
) -> None:
    X = reference.X_holdout[:20]
    names = reference.metadata.feature_names
    rows = [dict(reversed(list(zip(names, map(float, row), strict=True)))) for row in X]
    by_name = json_body(invoke(body={"instances": rows}))
    by_position = json_body(invoke(body={"instances": X.tolist()}))
    assert by_name == by_position
    assert within_parity(by_name["predictions"], reference.expected(X))


@pytest.mark.parametrize("served_model", REGRESSORS, indirect=True)
@pytest.mark.parametrize("rows", [1, 3, 17])
def test_predictions_are_the_float32_outputs_as_python_floats(
    invoke: Invoke, handler_module: ModuleType, reference: RegressionReference, rows: int
) -> None:
    """Each prediction is written as the Python float of the model's float32 value (as classifiers'
    probabilities are), whether the batch took the bound run (up to 16 rows) or the session's."""
    X = np.ascontiguousarray(reference.X_holdout[:rows])
    model = handler_module.service.model
    (values,) = model.session.run(model._outputs, {model._input_name: X})
    response = invoke(body={"instances": X.tolist()})
    text = response["body"]
    assert json.loads(text)["predictions"] == [float(v) for v in values.reshape(-1)]
    assert text.startswith('{"predictions":[' + ",".join(repr(float(v)) for v in values.reshape(-1)))


@pytest.mark.parametrize("served_model", REGRESSORS, indirect=True)
def test_headers_are_the_classifiers(invoke: Invoke, reference: RegressionReference) -> None:
    context = FakeLambdaContext(function_version="12")
    response = invoke(body={"instances": reference.X_holdout[:1].tolist()}, context=context)
    headers = {k: v[0] for k, v in response["multiValueHeaders"].items()}
    assert headers == {
        "X-Model-Version": reference.metadata.version,
        "X-Function-Version": "12",
        "X-Request-Id": context.aws_request_id,
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize("served_model", REGRESSORS, indirect=True)
def test_health_says_the_model_is_a_regressor(invoke: Invoke, reference: RegressionReference) -> None:
    response = invoke("GET", "/health", context=FakeLambdaContext(function_version="3"))
    assert response["statusCode"] == 200
    assert json_body(response) == {
        "status": "ok",
        "model_version": reference.metadata.version,
        "function_version": "3",
        "features": reference.metadata.feature_names,
        "class_labels": [],
        "task": "regression",
    }


@pytest.mark.parametrize("served_model", ["regressor"], indirect=True)
def test_rows_that_overflow_the_linear_model_get_a_422_naming_them(
    invoke: Invoke, reference: RegressionReference, log_stream: io.StringIO
) -> None:
    """GIVEN a ridge pipeline WHEN rows of finite values near the float32 limit reach it THEN its
    output for them is not finite, and the answer is a 422 naming those rows, counted apart."""
    width = reference.metadata.n_features
    huge = [3.4e38] * width
    rows = [reference.X_holdout[0].tolist(), huge, reference.X_holdout[1].tolist(), [-3.4e38] * width]
    response = invoke(body={"instances": rows})
    assert response["statusCode"] == 422
    error = json_body(response)["error"]
    assert error["code"] == "unscorable_input"
    assert "rows [1, 3]" in error["message"]
    _, metric_lines = split_lines(log_stream)
    assert metric_lines[-1]["UnscorableRequests"] == [1.0]
    assert "InternalErrors" not in metric_lines[-1]


def shadow_sampler(percent: float) -> RequestMirror:
    """A mirror whose shadow draws `percent` of requests for the candidate "m-cand"."""
    store = ShadowConfigStore(FakeS3(), "logs")
    store.save(ShadowConfig(active=True, sample_percent=percent, candidate_model_version="m-cand"))
    cache = ShadowConfigCache(store, ttl_s=3600.0)
    cache.refresh()
    return RequestMirror(config=cache, settings=MirrorSettings(), rng=random.Random(1))


@pytest.mark.parametrize("served_model", ["regressor"], indirect=True)
def test_the_record_line_carries_the_numeric_predictions_no_probabilities_and_the_inputs(
    invoke: Invoke, handler_module: ModuleType, reference: RegressionReference, log_stream: io.StringIO
) -> None:
    """GIVEN a regressor with the shadow drawing every request WHEN rows are answered THEN the served
    line's record (what the recorder reads) has the answered numbers, no probabilities, the exact
    float32 inputs and the candidate."""
    handler_module.app.mirror = shadow_sampler(100.0)
    X = reference.X_holdout[:3]
    body = json_body(invoke(body={"instances": X.tolist()}))
    (line,) = [line for line in log_stream.getvalue().splitlines() if '"message":"prediction served"' in line]
    part = parse_line(line)
    assert part.predictions == body["predictions"]
    assert not part.probabilities
    assert part.shadow_candidate == "m-cand"
    assert part.inputs is not None
    np.testing.assert_array_equal(np.asarray(part.inputs, dtype=np.float32), X.astype(np.float32))
