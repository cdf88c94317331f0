"""A regressor in the retraining evaluate step and in the benchmark's baseline rebuild."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.model import load_bench_model
from common.model.onnx_model import OnnxModel
from retrain.evaluate import score
from training.data import Dataset, load_builtin
from training.pipelines import build_pipeline
from training.train import TrainResult, regression_metrics, train_model


@pytest.fixture(scope="module")
def ridge(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train_model(
        load_builtin("diabetes"), build_pipeline("ridge"), output_root=tmp_path_factory.mktemp("ridge")
    )


def test_evaluate_scores_a_regressor_with_its_metrics_in_onnxruntime(ridge: TrainResult) -> None:
    bench = load_bench_model(ridge.artifact_dir)
    truth = np.asarray(bench.estimator.predict(bench.sklearn_input(len(bench.X_holdout))))  # stands in for y
    holdout = Dataset(
        X=bench.X_holdout, y=truth + 10.0, feature_names=ridge.metadata.feature_names, source="t"
    )
    result = score(OnnxModel.load(ridge.artifact_dir), holdout)
    assert result["task"] == "regression" and result["finite"] is True
    assert result["rows"] == len(truth) and "predicted_shares" not in result
    # the ONNX model answers as scikit-learn within parity, so its metrics are scikit-learn's
    expected = regression_metrics(holdout.y, truth)
    assert result["metrics"] == pytest.approx(expected, rel=1e-5)
    assert result["metrics"]["mae"] == pytest.approx(10.0, rel=1e-5)
    assert result["prediction_mean"] == pytest.approx(float(truth.mean()), rel=1e-5)


def test_the_benchmark_rebuilds_a_regressor_identically_on_its_unstratified_holdout(
    ridge: TrainResult,
) -> None:
    bench = load_bench_model(ridge.artifact_dir)
    assert bench.identical is True
    assert len(bench.X_holdout) == ridge.metadata.training_data["holdout_rows"]
    assert ridge.metadata.training_data["stratified"] is False
    sample = np.asarray(ridge.metadata.sample_rows, dtype=np.float32)
    assert np.array_equal(bench.onnx_input(len(sample)), sample)


def test_the_benchmark_still_rebuilds_a_classifier(tmp_path: Path) -> None:
    result = train_model(load_builtin(), build_pipeline("logistic_regression"), output_root=tmp_path)
    assert load_bench_model(result.artifact_dir).identical is True
