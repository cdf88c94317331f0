"""Inputs that reach the model: numbers beyond float32 however they are written get the 400 of
any out-of-range value, through the fast and the general decoder; rows of large but finite values
get, from every model type the template trains, a 200 with finite outputs or a 422 naming the rows
whose output is not finite. Never a 500."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.http.validation import FLOAT32_MAX, RequestLimits
from common.model.onnx_model import OnnxModel
from inference.api import InferenceApi, create_app
from inference.service import InferenceService
from localcloud.events import rest_proxy_event
from tests.helpers import FakeLambdaContext, json_body
from tests.unit.inference.support import Invoke

BEYOND_FLOAT32 = {
    "1e39": "1e39",
    "1E+39": "1E+39",
    "-1E+39": "-1E+39",
    "-1e400": "-1e400",
    "exponent of 20 digits": "1e99999999999999999999",
    "first integer rounding to infinity": "340282356779733661637539395458142568448",
    "longer integer": "340282356779733661637539395458142568448" + "0" * 60,
    "just above the float32 maximum": "340282350000000000000000000000000000001",
    "5000-digit integer": "9" * 5000,
    "negative 5000-digit integer": "-" + "9" * 5000,
    "5000-digit power of ten": "1" + "0" * 5000,
    "5000-digit decimal fraction": "4" * 39 + "." + "1" * 5000,
    "5000-digit decimal fraction with exponent": "0." + "4" * 5000 + "e39",
    "integer with a 5000-digit zero fraction": "340282356779733661637539395458142568448." + "0" * 5000,
}
WITHIN_FLOAT32 = {
    "float32 maximum written out": "340282346638528859811704183484516925440",
    "negative float32 maximum": "-3.4028234663852886e38",
    "5000-digit fraction of one": "1." + "0" * 5000,
    "5000-digit tiny fraction": "0." + "0" * 4999 + "1",
    "tiny exponent": "1e-99999999999999999999",
    "integer of 38 digits": "9" * 38,
}


def _body(number: str, width: int, *, by_name: list[str] | None = None) -> str:
    if by_name is not None:
        values = [number, *["1.0"] * (width - 1)]
        members = ", ".join(f'"{name}": {value}' for name, value in zip(by_name, values, strict=True))
        return '{"instances": [{' + members + "}]}"
    return '{"instances": [[' + number + ", 1.0" * (width - 1) + "]]}"


@pytest.fixture(params=[True, False], ids=["fast decoder", "general decoder"])
def decoding(request: pytest.FixtureRequest, handler_module: ModuleType) -> bool:
    handler_module.app.decoder.fast = request.param
    fast: bool = request.param
    return fast


@pytest.mark.parametrize("by_name", [False, True], ids=["by position", "by name"])
@pytest.mark.parametrize("case", list(BEYOND_FLOAT32))
def test_a_number_beyond_float32_in_any_notation_is_out_of_range(
    invoke: Invoke, handler_module: ModuleType, decoding: bool, case: str, by_name: bool
) -> None:
    names = handler_module.service.feature_names
    response = invoke(raw=_body(BEYOND_FLOAT32[case], len(names), by_name=names if by_name else None))
    assert response["statusCode"] == 400
    error = json_body(response)["error"]
    assert error["code"] == "invalid_number"
    assert error["message"] == f"instances[0] feature {names[0]!r} is out of float32 range"


@pytest.mark.parametrize("case", list(WITHIN_FLOAT32))
def test_a_long_number_within_float32_is_its_float32_value(
    invoke: Invoke, handler_module: ModuleType, decoding: bool, case: str
) -> None:
    width = len(handler_module.service.feature_names)
    response = invoke(raw=_body(WITHIN_FLOAT32[case], width))
    row = [float(WITHIN_FLOAT32[case]), *[1.0] * (width - 1)]
    assert response["statusCode"] == 200
    assert json_body(response) == json_body(invoke(body={"instances": [row]}))


_integer_part = st.one_of(
    st.just("0"),
    st.integers(1, 9).flatmap(
        lambda first: st.text("0123456789", min_size=0, max_size=5000).map(lambda rest: f"{first}{rest}")
    ),
)
number_texts = st.tuples(
    st.sampled_from(["", "-"]),
    _integer_part,
    st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=5000).map(lambda d: "." + d)),
    st.one_of(
        st.just(""),
        st.tuples(st.sampled_from("eE"), st.sampled_from(["", "+", "-"]), st.integers(0, 10**25)).map(
            lambda e: f"{e[0]}{e[1]}{e[2]}"
        ),
    ),
).map("".join)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=number_texts)
def test_any_json_number_is_served_or_out_of_range(
    invoke: Invoke, handler_module: ModuleType, decoding: bool, number: str
) -> None:
    """Whatever its length and notation, a number is served as the float32 of its double when that
    double is within float32's range, and refused as out of range otherwise."""
    response = invoke(raw=_body(number, len(handler_module.service.feature_names)))
    value = float(number)
    if abs(value) <= FLOAT32_MAX:
        assert response["statusCode"] == 200, number[:80]
    else:
        assert response["statusCode"] == 400, number[:80]
        assert json_body(response)["error"]["code"] == "invalid_number"


# -- rows of large but finite values through every model type the template trains ---------------

MODEL_TYPES = {
    "logistic_regression": "breast_cancer",
    "random_forest": "breast_cancer",
    "gradient_boosting": "breast_cancer",
    "ridge": "diabetes",
    "random_forest_regressor": "diabetes",
    "gradient_boosting_regressor": "diabetes",
}


@pytest.fixture(scope="module")
def served_apps(model_root: Path) -> Iterator[dict[str, InferenceApi]]:
    """One API per model type, each trained on its built-in data set, logging to a buffer."""
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    apps = {}
    for pipeline, dataset in MODEL_TYPES.items():
        result = train_model(load_builtin(dataset), build_pipeline(pipeline), output_root=model_root)
        service = InferenceService(OnnxModel.load(result.artifact_dir))
        apps[pipeline] = create_app(
            service,
            limits=RequestLimits(max_rows=50),
            namespace="Extreme",
            service_name="inference",
            stream=io.StringIO(),
        )
    yield apps


_NEAR_MAX = float(np.float32(3.4e38))
_HUGE = float(np.float32(1e30))
_TINY = float(np.float32(1e-30))
extreme_values = st.one_of(
    st.sampled_from([FLOAT32_MAX, -FLOAT32_MAX, _NEAR_MAX, -_NEAR_MAX, 1e38, -1e38, 1e-45, -1e-45, 0.0]),
    st.floats(min_value=_HUGE, max_value=FLOAT32_MAX, width=32).flatmap(lambda v: st.sampled_from([v, -v])),
    st.floats(min_value=-_TINY, max_value=_TINY, width=32),
    st.floats(width=32, allow_nan=False, allow_infinity=False),
)


def extreme_rows(width: int) -> st.SearchStrategy[list[list[float]]]:
    row = st.one_of(
        st.lists(extreme_values, min_size=width, max_size=width),
        st.sampled_from([[FLOAT32_MAX] * width, [-FLOAT32_MAX] * width]),
        st.lists(st.sampled_from([FLOAT32_MAX, -FLOAT32_MAX, 1e-45]), min_size=width, max_size=width),
    )
    return st.lists(row, min_size=1, max_size=20)


@pytest.mark.parametrize("pipeline", list(MODEL_TYPES))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_extreme_rows_get_finite_answers_or_a_422_naming_the_rows(
    served_apps: dict[str, InferenceApi], pipeline: str, data: st.DataObject
) -> None:
    api = served_apps[pipeline]
    rows = data.draw(extreme_rows(len(api.service.feature_names)))
    event = rest_proxy_event(
        "POST", "/predict", body=json.dumps({"instances": rows}), headers={"Content-Type": "application/json"}
    )
    response = api.handle(event, FakeLambdaContext())
    body: dict[str, Any] = json_body(response)
    expected = api.service.model.predict(np.asarray(rows, dtype=np.float32))
    if response["statusCode"] == 200:
        outputs = np.asarray(body["predictions"] if api.service.model.regression else body["probabilities"])
        assert np.isfinite(outputs.astype(np.float64)).all()
        assert body == {**expected.outputs(), "model_version": api.service.model_version}
    else:
        assert response["statusCode"] == 422, body
        assert body["error"]["code"] == "unscorable_input"
        assert f"rows {expected.unscorable_rows()[:20]}".replace("'", "") in body["error"]["message"]
