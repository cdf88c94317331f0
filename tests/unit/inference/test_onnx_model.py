"""OnnxModel on a regressor's artifact: it loads, and `predict` answers one float32 value per row
with no probabilities, the same through the bound run and the session's run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from common.http.request_body import parse_json_object
from common.model.metadata import ModelMetadata
from common.model.onnx_model import BOUND_BATCH_MAX, ModelLoadError, OnnxModel
from common.model.prediction import RegressionPrediction
from tests.unit.inference.support import RegressionReference, within_parity


@pytest.mark.parametrize("rows", [1, 2, BOUND_BATCH_MAX, BOUND_BATCH_MAX + 1, 64])
def test_a_regressor_predicts_one_value_per_row(ridge_model: RegressionReference, rows: int) -> None:
    model = OnnxModel.load(ridge_model.artifact_dir)
    X = np.ascontiguousarray(ridge_model.X_holdout[:rows])
    prediction = model.predict(X)
    assert isinstance(prediction, RegressionPrediction)
    (values,) = model.session.run(["variable"], {"input": X})
    assert prediction.outputs() == {"predictions": values.reshape(-1).tolist()}
    assert prediction.outputs() == model._session_predict(X).outputs()
    assert within_parity(prediction.labels, ridge_model.expected(X))
    assert prediction.probabilities.shape == (rows, 0)  # what batch consumers read: no classes
    assert prediction.finite() and prediction.unscorable_rows() == []
    assert (model._bound.get(rows) is not None) is (rows <= BOUND_BATCH_MAX)


def test_rows_whose_value_overflows_are_named(ridge_model: RegressionReference) -> None:
    model = OnnxModel.load(ridge_model.artifact_dir)
    width = ridge_model.metadata.n_features
    X = np.ascontiguousarray(np.vstack([ridge_model.X_holdout[:2], np.full((1, width), 3.4e38)]), np.float32)
    for rows in (X, np.ascontiguousarray(np.tile(X, (10, 1)))):  # the bound run, then the session's
        prediction = model.predict(rows)
        assert not prediction.finite()
        assert prediction.unscorable_rows() == list(range(2, len(rows), 3))


def test_a_regression_artifact_naming_an_output_the_model_lacks_is_refused(
    ridge_model: RegressionReference, tmp_path: Path
) -> None:
    import shutil

    artifact = tmp_path / "artifact"
    shutil.copytree(ridge_model.artifact_dir, artifact)
    metadata = json.loads((artifact / "metadata.json").read_text())
    metadata["label_output"] = "missing"
    (artifact / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ModelLoadError, match="no outputs named"):
        OnnxModel.load(artifact)


@pytest.mark.parametrize("digits", [4300, 4301, 5000, 20000])
@pytest.mark.parametrize("sign", ["", "-"])
def test_a_json_integer_of_any_length_parses(digits: int, sign: str) -> None:
    """Python refuses to convert an integer text of more than 4300 digits to an int; the parser
    gives such an integer its float (an infinity), which validation refuses as out of range."""
    text = sign + "9" * digits
    value = parse_json_object('{"x": ' + text + ', "u": "\\ud800"}')["x"]  # the lone surrogate: not orjson
    if digits <= 4300:
        assert value == int(text)
    else:
        assert value == float(text) and abs(value) == float("inf")


def test_a_model_that_fails_on_the_probe_rows_still_predicts_through_the_session(
    trained_model: tuple[Path, ModelMetadata], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The demo's flawed model raises for rows whose first feature is negative, as the bound run's
    probe rows are: it gets no bound run (and onnxruntime logs nothing about the probe), and rows
    it can score are still answered."""
    from demo.models import poison

    source, metadata = trained_model
    model = OnnxModel.load(poison(source, metadata, tmp_path))
    rows = np.ascontiguousarray(np.asarray(metadata.sample_rows[:2], dtype=np.float32))
    prediction = model.predict(rows)
    assert model._bound[2] is None
    assert "Gather" not in capfd.readouterr().err
    assert prediction.outputs() == OnnxModel.load(source).predict(rows).outputs()
