"""The response body written from the model's output arrays is the text written from Python lists.

`PredictResult.body_json` hands orjson the probabilities (or a regressor's values) as a float64
array; the body has always been orjson's text for the Python floats of the float32 outputs
(`tolist`). These tests hold the two to the same bytes over every kind of float32 value.
"""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from common.model.prediction import Answer, Prediction, RegressionPrediction, float64_view
from inference.service import PredictResult


def _float32_values(seed: int, count: int) -> np.ndarray:
    """Finite float32 values of every kind: random bit patterns (every exponent, subnormals
    included), both zeros, the extremes, and values near 0, 0.5 and 1 (probabilities)."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, size=count, dtype=np.uint64).astype(np.uint32)
    random = bits.view(np.float32)
    random = random[np.isfinite(random)]
    info = np.finfo(np.float32)
    special = np.array(
        [0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 1 / 3, info.max, -info.max, info.tiny, info.smallest_subnormal],
        dtype=np.float32,
    )
    near = rng.random(count).astype(np.float32)
    return np.concatenate([special, random, near, np.float32(1.0) - near])


def _list_text(document: dict[str, object]) -> bytes:
    return orjson.dumps(document)


def _array_text(document: dict[str, object]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)


@pytest.mark.parametrize("seed", range(4))
def test_a_classifier_s_array_outputs_are_written_as_its_lists(seed: int) -> None:
    values = _float32_values(seed, 60_000)
    values = values[: len(values) // 3 * 3].reshape(-1, 3)
    labels = list(range(len(values)))
    from_arrays = Prediction(labels, values)
    from_lists = Prediction(labels, values.copy())
    assert _array_text(from_arrays.array_outputs()) == _list_text(from_lists.outputs())


@pytest.mark.parametrize("seed", range(4))
def test_a_regressor_s_array_outputs_are_written_as_its_list(seed: int) -> None:
    values = _float32_values(seed, 60_000)
    assert _array_text(RegressionPrediction(values).array_outputs()) == _list_text(
        RegressionPrediction(values.copy()).outputs()
    )


def test_outputs_already_in_lists_are_written_from_the_lists() -> None:
    bound = Prediction([1, 0], None, [[0.25, 0.75], [0.5, 0.5]])
    assert bound.array_outputs()["probabilities"] is bound.probability_lists()
    regression = RegressionPrediction(None, [1.5, -2.25])
    assert regression.array_outputs()["predictions"] is regression.value_list()


def test_the_float64_view_is_contiguous_float64_of_the_same_values() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]  # not contiguous
    view = float64_view(values)
    assert view.dtype == np.float64 and view.flags.c_contiguous
    assert view.tolist() == values.tolist()


@pytest.mark.parametrize(
    "prediction",
    [
        Prediction(["setosa", "virginica"], np.array([[0.1, 0.9], [0.7, 0.3]], dtype=np.float32)),
        Prediction([0, 1], None, [[0.1, 0.9], [0.7, 0.3]]),
        RegressionPrediction(np.array([3.14159, -0.1], dtype=np.float32)),
    ],
    ids=["classifier-arrays", "classifier-lists", "regressor"],
)
def test_the_response_body_is_orjson_s_text_of_the_body(prediction: Answer) -> None:
    result = PredictResult(prediction, "m-0123456789ab", 2, 0.05)
    assert result.body_json() == orjson.dumps(result.body).decode()
    assert list(result.body)[-1] == "model_version"
