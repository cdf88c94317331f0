"""`modelctl train` for regressors and classifiers, through Typer's test runner, and CSV targets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from modelctl.cli import app
from tests.unit.training.csv_files import write_csv
from training.data import load_builtin, load_csv


@pytest.fixture(scope="module")
def prices_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's regression CSV: a float target named `price` between the features."""
    data = load_builtin("diabetes")
    rows = [
        [*row[:3], f"{price * 1000.25:.2f}", *row[3:]]
        for row, price in zip(data.X.tolist(), data.y.tolist(), strict=True)
    ]
    header = [*data.feature_names[:3], "price", *data.feature_names[3:]]
    return write_csv(tmp_path_factory.mktemp("csv") / "prices.csv", header, rows)


def invoke(*argv: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(argv), catch_exceptions=False)
    return result.exit_code, result.output


def only_artifact(root: Path) -> dict[str, object]:
    (artifact,) = [p for p in root.iterdir() if p.is_dir()]
    return dict(json.loads((artifact / "metadata.json").read_text()))


def test_train_diabetes_defaults_to_a_regressor(tmp_path: Path) -> None:
    code, output = invoke("train", "--dataset", "diabetes", "--output", str(tmp_path))
    assert code == 0, output
    for shown in ("regression model m-", "mae", "rmse", "r2", "parity: max |y_onnx - y_sklearn|"):
        assert shown in output
    metadata = only_artifact(tmp_path)
    assert metadata["task"] == "regression"
    assert metadata["estimator"] == "StandardScaler -> Ridge"


def test_train_a_regression_csv_with_a_user_pipeline(prices_csv: Path, tmp_path: Path) -> None:
    factory = tmp_path / "my.py"
    factory.write_text(
        "from sklearn.ensemble import RandomForestRegressor\n"
        "def build():\n"
        "    return RandomForestRegressor(n_estimators=10, random_state=0)\n"
    )
    out = tmp_path / "out"
    code, output = invoke(
        "train",
        "--csv",
        str(prices_csv),
        "--target",
        "price",
        "--pipeline",
        f"{factory}:build",
        "-o",
        str(out),
    )
    assert code == 0, output
    metadata = only_artifact(out)
    assert metadata["task"] == "regression"
    assert metadata["training_data"]["source"] == f"csv:{prices_csv}"  # type: ignore[index]
    assert metadata["feature_names"][:3] == ["age", "sex", "bmi"]  # type: ignore[index]


def test_train_breast_cancer_still_defaults_to_logistic_regression(tmp_path: Path) -> None:
    code, output = invoke("train", "--output", str(tmp_path))
    assert code == 0, output
    assert "classification model m-" in output and "parity: max |p_onnx - p_sklearn|" in output
    metadata = only_artifact(tmp_path)
    assert metadata["task"] == "classification"
    assert metadata["estimator"] == "StandardScaler -> LogisticRegression"


def test_a_classifier_on_diabetes_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "--dataset", "diabetes", "--pipeline", "random_forest", "-o", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "choose a regressor pipeline" in str(result.exception)
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


def test_float_target_stays_float(prices_csv: Path) -> None:
    data = load_csv(prices_csv, "price")
    assert data.y.dtype == np.float64
    assert data.y[0] == pytest.approx(151.0 * 1000.25, abs=0.01)


def test_integer_and_text_targets_parse_as_before(tmp_path: Path) -> None:
    ints = write_csv(tmp_path / "ints.csv", ["a", "y"], [[i, i % 2] for i in range(12)])
    text = write_csv(tmp_path / "text.csv", ["a", "y"], [[i, "yes" if i % 2 else "no"] for i in range(12)])
    assert load_csv(ints, "y").y.dtype.kind == "i"
    assert load_csv(text, "y").y.tolist() == ["no", "yes"] * 6


def test_a_classifier_on_float_coded_classes_keeps_their_text_labels(tmp_path: Path) -> None:
    """Labels written as 0.0 / 1.0 stay the class labels "0.0" / "1.0" for a classifier."""
    data = load_builtin()
    rows = [
        [*row, f"{float(label):.1f}"] for row, label in zip(data.X.tolist(), data.y.tolist(), strict=True)
    ]
    path = write_csv(tmp_path / "coded.csv", [*data.feature_names, "y"], rows)
    code, output = invoke("train", "--csv", str(path), "--target", "y", "-o", str(tmp_path / "out"))
    assert code == 0, output
    metadata = only_artifact(tmp_path / "out")
    assert metadata["task"] == "classification"
    assert metadata["class_labels"] == ["0.0", "1.0"]
