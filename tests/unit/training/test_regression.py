"""Regressors: task read from the estimator, export, row-wise parity, metrics and metadata."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from sklearn.tree import DecisionTreeRegressor

from common.model.metadata import REQUIRED_FIELDS, read_metadata
from training import export_regression
from training.baseline import BaselineSpec
from training.data import DataError, Dataset, load_builtin
from training.export import ParityError
from training.export_regression import RegressionParityReport, require_parity
from training.pipelines import build_pipeline, default_pipeline
from training.task import REGRESSION, split_holdout, task_of
from training.train import regression_metrics, train_model

REGRESSORS: dict[str, Callable[[], Any]] = {
    "LinearRegression": LinearRegression,
    "Ridge": Ridge,
    "Lasso": Lasso,
    "ElasticNet": ElasticNet,
    "SVR": SVR,
    "KNeighborsRegressor": KNeighborsRegressor,
    "DecisionTreeRegressor": lambda: DecisionTreeRegressor(max_depth=6, random_state=0),
    "RandomForestRegressor": lambda: RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0),
    "ExtraTreesRegressor": lambda: ExtraTreesRegressor(n_estimators=10, max_depth=6, random_state=0),
    "GradientBoostingRegressor": lambda: GradientBoostingRegressor(n_estimators=20, random_state=0),
}


@pytest.fixture(scope="module")
def diabetes() -> Dataset:
    return load_builtin("diabetes")


def holdout_of(data: Dataset, test_size: float = 0.25, seed: int = 0) -> np.ndarray:
    y = data.y.astype(np.float64)
    return split_holdout(data.X, y, task=REGRESSION, test_size=test_size, seed=seed).X_test


def onnx_predict(artifact_dir: Path, X: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(artifact_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    (output,) = session.run(["variable"], {"input": np.ascontiguousarray(X, dtype=np.float32)})
    return np.asarray(output, dtype=np.float64)[:, 0]


@pytest.mark.parametrize("scaled", [False, True], ids=["bare", "scaled"])
@pytest.mark.parametrize("name", list(REGRESSORS))
def test_each_regressor_exports_with_parity_on_the_holdout(
    diabetes: Dataset, tmp_path: Path, name: str, scaled: bool
) -> None:
    """GIVEN a regressor, behind a scaler or not, WHEN trained on diabetes, THEN the written ONNX model
    answers every holdout row within 1e-5 x max(1, |y|) of scikit-learn's predict. (Export only: a
    depth-6 tree does not beat the mean on diabetes, so the baseline policy is warn here.)"""
    regressor = REGRESSORS[name]()
    estimator = make_pipeline(StandardScaler(), regressor) if scaled else regressor
    result = train_model(diabetes, estimator, output_root=tmp_path, baseline=BaselineSpec(policy="warn"))

    assert result.metadata.task == "regression"
    assert result.metadata.parity["max_rel_diff"] <= 1e-5
    X = holdout_of(diabetes).astype(np.float32)
    expected = estimator.predict(X.astype(np.float64))
    got = onnx_predict(result.artifact_dir, X)
    assert np.all(np.abs(got - expected) <= 1e-5 * np.maximum(1.0, np.abs(expected)))
    assert result.metadata.parity["rows"] == len(X)


def test_regression_metadata(diabetes: Dataset, tmp_path: Path) -> None:
    result = train_model(diabetes, build_pipeline("ridge"), output_root=tmp_path)
    metadata = result.metadata
    assert metadata.task == "regression"
    assert metadata.estimator == "StandardScaler -> Ridge"
    assert metadata.class_labels == []
    assert metadata.label_output == "variable"
    assert metadata.probabilities_output == ""
    assert metadata.input_name == "input" and metadata.input_dtype == "float32"
    assert set(metadata.metrics) == {"mae", "rmse", "r2"}
    assert metadata.metrics["r2"] > 0.3 and 0 < metadata.metrics["mae"] <= metadata.metrics["rmse"]
    assert {"rows", "max_abs_diff", "max_rel_diff", "worst_row", "tolerance"} <= set(metadata.parity)
    assert metadata.parity["tolerance"] == 1e-5
    assert metadata.training_data["stratified"] is False
    assert metadata.feature_names == ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    assert len(metadata.sample_rows) == 5 and len(metadata.sample_rows[0]) == 10
    assert set(metadata.feature_baseline["features"]) == set(metadata.feature_names)
    assert read_metadata(result.artifact_dir) == metadata
    session = ort.InferenceSession(str(result.artifact_dir / "model.onnx"))
    assert [(i.name, i.type) for i in session.get_inputs()] == [("input", "tensor(float)")]
    assert [(o.name, o.type) for o in session.get_outputs()] == [("variable", "tensor(float)")]


def test_regression_metrics_on_known_values() -> None:
    metrics = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0]))
    assert metrics["mae"] == pytest.approx(0.5)
    assert metrics["rmse"] == pytest.approx(1.0)
    assert metrics["r2"] == pytest.approx(1 - 4.0 / 5.0)


def test_parity_failure_writes_nothing_and_names_the_worst_row(
    diabetes: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = export_regression.onnx_predictions

    def perturbed(onnx_bytes: bytes, X: np.ndarray) -> np.ndarray:
        y = real(onnx_bytes, X).copy()
        y[7] += 0.5  # over any bound for diabetes' targets (25..346): 1e-5 x 346 < 0.004
        y[3] += 0.001 * max(1.0, abs(y[3]))  # also over, but less: row 7 is the worst
        return y

    monkeypatch.setattr(export_regression, "onnx_predictions", perturbed)
    with pytest.raises(ParityError) as caught:
        train_model(diabetes, build_pipeline("ridge"), output_root=tmp_path)
    message = str(caught.value)
    assert "no artifact was written" in message
    holdout_rows = split_holdout(
        diabetes.X, diabetes.y.astype(np.float64), task=REGRESSION, test_size=0.25, seed=0
    ).test_index
    assert f"holdout row 7 (data row {holdout_rows[7]})" in message
    assert "bound" in message and "1e-05 x max(1, |y_sklearn|)" in message
    assert list(tmp_path.iterdir()) == []


def test_parity_rule_is_relative_to_max_one_and_y() -> None:
    def report(onnx: float, sk: float) -> RegressionParityReport:
        diff = abs(onnx - sk)
        return RegressionParityReport(1, diff, diff / max(1.0, abs(sk)), 0, onnx, sk, 1e-5)

    require_parity(report(1000.009, 1000.0))  # 9e-3 <= 1e-5 x 1000
    require_parity(report(0.5 + 9e-6, 0.5))  # small values: the bound is 1e-5 absolute
    with pytest.raises(ParityError, match=r"ONNX 1000\.02 vs scikit-learn 1000\.0"):
        require_parity(report(1000.02, 1000.0))
    with pytest.raises(ParityError, match="holdout row 0"):
        require_parity(report(0.5 + 2e-5, 0.5))
    with pytest.raises(ParityError):
        require_parity(report(float("nan"), 1.0))


def test_continuous_target_is_not_stratified(
    diabetes: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sklearn.model_selection

    calls: list[Any] = []
    real = sklearn.model_selection.train_test_split

    def spy(*arrays: Any, **options: Any) -> Any:
        calls.append(options.get("stratify"))
        return real(*arrays, **options)

    monkeypatch.setattr(sklearn.model_selection, "train_test_split", spy)
    train_model(diabetes, build_pipeline("ridge"), output_root=tmp_path / "r")
    train_model(load_builtin(), build_pipeline("logistic_regression"), output_root=tmp_path / "c")
    assert calls[0] is None
    assert calls[1] is not None and len(calls[1]) == len(load_builtin().y)


def test_classification_split_is_unchanged_and_stratified() -> None:
    from sklearn.model_selection import train_test_split

    data = load_builtin()
    split = split_holdout(data.X, data.y, task="classification", test_size=0.25, seed=0)
    _, X_test, _, _ = train_test_split(data.X, data.y, test_size=0.25, random_state=0, stratify=data.y)
    assert split.stratified is True
    np.testing.assert_array_equal(split.X_test, X_test)


def test_multi_output_target_is_refused_naming_its_shape(diabetes: Dataset, tmp_path: Path) -> None:
    two_columns = np.column_stack([diabetes.y, diabetes.y * 2])
    data = Dataset(diabetes.X, two_columns, diabetes.feature_names, "two targets")
    with pytest.raises(DataError, match=r"shape \(442, 2\).*multi-output"):
        train_model(data, build_pipeline("ridge"), output_root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_text_target_is_refused_for_a_regressor(tmp_path: Path) -> None:
    data = load_builtin("iris")
    names = np.asarray(["setosa", "versicolor", "virginica"])[data.y]
    with pytest.raises(DataError, match=r"needs a numeric target.*'setosa'"):
        train_model(
            Dataset(data.X, names, data.feature_names, "x"), build_pipeline("ridge"), output_root=tmp_path
        )


def test_classifier_on_a_continuous_target_suggests_a_regressor(diabetes: Dataset, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"has a single row.*choose a regressor pipeline"):
        train_model(diabetes, build_pipeline("random_forest"), output_root=tmp_path)


def test_task_is_read_from_the_final_step(tmp_path: Path) -> None:
    """The issue's example: a Ridge pipeline from a user's file is accepted as a regressor."""
    factory = tmp_path / "my_pipeline.py"
    factory.write_text(
        "from sklearn.linear_model import Ridge\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "def build():\n"
        "    return make_pipeline(StandardScaler(), Ridge())\n"
    )
    assert task_of(build_pipeline(f"{factory}:build")) == "regression"
    assert task_of(build_pipeline("logistic_regression")) == "classification"
    for name in ("ridge", "random_forest_regressor", "gradient_boosting_regressor"):
        assert task_of(build_pipeline(name)) == "regression"


@pytest.mark.parametrize(
    ("y", "expected"),
    [
        (load_builtin("diabetes").y, "ridge"),
        (load_builtin().y, "logistic_regression"),
        (load_builtin("iris").y, "logistic_regression"),
        (np.array([1.5, 2.0, 3.0]), "ridge"),
        (np.arange(21), "ridge"),
        (np.arange(20), "logistic_regression"),
        (np.array([0.0, 1.0, 1.0]), "logistic_regression"),
        (np.array(["a", "b"]), "logistic_regression"),
    ],
)
def test_default_pipeline_follows_the_target(y: np.ndarray, expected: str) -> None:
    assert default_pipeline(y) == expected


def test_required_fields_present_for_a_regressor(diabetes: Dataset, tmp_path: Path) -> None:
    import json

    result = train_model(diabetes, build_pipeline("ridge"), output_root=tmp_path)
    raw = json.loads((result.artifact_dir / "metadata.json").read_text())
    assert set(REQUIRED_FIELDS) <= set(raw)
    assert raw["task"] == "regression"


def test_preprocessing_runs_in_float64_so_trees_behind_a_scaler_keep_parity(diabetes: Dataset) -> None:
    """Why the export casts around the preprocessing: in float32 throughout, scaled values round
    across tree thresholds and the holdout misses parity; as exported, it holds."""
    split = split_holdout(diabetes.X, diabetes.y.astype(np.float64), task=REGRESSION, test_size=0.25, seed=0)
    pipeline = make_pipeline(StandardScaler(), DecisionTreeRegressor(max_depth=6, random_state=0))
    pipeline.fit(split.X_train.astype(np.float32).astype(np.float64), split.y_train)
    float32_throughout = export_regression._convert(pipeline, 10, "x")
    assert export_regression.check_parity(pipeline, float32_throughout, split.X_test).max_rel_diff > 1e-2
    exported = export_regression.to_onnx_bytes(pipeline, 10)
    assert export_regression.check_parity(pipeline, exported, split.X_test).max_rel_diff <= 1e-5


def test_metadata_refuses_an_unknown_task(tmp_path: Path, diabetes: Dataset) -> None:
    import json

    from common.model.metadata import MetadataError

    result = train_model(diabetes, build_pipeline("ridge"), output_root=tmp_path)
    path = result.artifact_dir / "metadata.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "task": "ranking"}))
    with pytest.raises(MetadataError, match="task 'ranking' is not supported"):
        read_metadata(result.artifact_dir)
