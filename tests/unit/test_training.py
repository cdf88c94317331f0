"""The model pipeline: train, export to ONNX, check parity, write an immutable artifact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from common.model.metadata import REQUIRED_FIELDS, ModelMetadata, read_metadata
from common.model.onnx_model import OnnxModel, sha256_file
from tests.unit.training.csv_files import write_csv
from training import export
from training.data import DataError, Dataset, load_builtin, load_csv
from training.export import ConversionError, ParityError, ParityReport, require_parity
from training.pipelines import PipelineSpecError, build_pipeline
from training.train import model_version_for, train_model


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's CSV: string labels, the target column in the middle."""
    data = load_builtin("iris")
    names = ["setosa", "versicolor", "virginica"]
    pairs = zip(data.X.tolist(), data.y.tolist(), strict=True)
    rows = [[*row[:2], names[label], *row[2:]] for row, label in pairs]
    header = [*data.feature_names[:2], "species", *data.feature_names[2:]]
    return write_csv(tmp_path_factory.mktemp("csv") / "iris.csv", header, rows)


def test_artifact_has_model_and_complete_metadata(trained_model: tuple[Path, ModelMetadata]) -> None:
    artifact_dir, metadata = trained_model
    assert artifact_dir.name == metadata.version
    raw = json.loads((artifact_dir / "metadata.json").read_text())
    assert set(REQUIRED_FIELDS) <= set(raw)
    assert metadata.feature_names[0] == "mean_radius" and len(metadata.feature_names) == 30
    assert metadata.input_dtype == "float32"
    assert metadata.class_labels == [0, 1]
    assert metadata.onnx_sha256 == sha256_file(artifact_dir / "model.onnx")
    assert metadata.version == "m-" + metadata.onnx_sha256[:12]
    assert metadata.training_data["fingerprint"] == load_builtin().fingerprint()
    assert {"accuracy", "f1_macro", "log_loss", "roc_auc"} <= set(metadata.metrics)
    assert metadata.metrics["accuracy"] > 0.9
    assert metadata.parity["labels_equal"] is True
    assert metadata.parity["max_abs_probability_diff"] <= 1e-5
    assert {"scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy", "python"} <= set(metadata.libraries)
    assert len(metadata.sample_rows) == 5 and len(metadata.sample_rows[0]) == 30
    assert set(metadata.feature_baseline["features"]) == set(metadata.feature_names)


def test_onnx_matches_scikit_learn_on_the_holdout(
    trained_model: tuple[Path, ModelMetadata], holdout: Any
) -> None:
    artifact_dir, _ = trained_model
    X, estimator, _ = holdout
    prediction = OnnxModel.load(artifact_dir).predict(X)
    assert prediction.labels == estimator.predict(X.astype(np.float64)).tolist()
    np.testing.assert_allclose(
        prediction.probabilities, estimator.predict_proba(X.astype(np.float64)), atol=1e-5
    )


def test_onnx_model_has_no_zipmap_and_float32_input(trained_model: tuple[Path, ModelMetadata]) -> None:
    artifact_dir, _ = trained_model
    session = ort.InferenceSession(str(artifact_dir / "model.onnx"))
    assert [i.type for i in session.get_inputs()] == ["tensor(float)"]
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    assert session.get_outputs()[1].type == "tensor(float)"


def test_retraining_the_same_data_is_the_same_version_and_writes_nothing(
    trained_model: tuple[Path, ModelMetadata], model_root: Path
) -> None:
    artifact_dir, metadata = trained_model
    before = (artifact_dir / "metadata.json").read_bytes()
    again = train_model(load_builtin(), build_pipeline("logistic_regression"), output_root=model_root)
    assert again.metadata.version == metadata.version
    assert again.created is False
    assert (artifact_dir / "metadata.json").read_bytes() == before


def test_user_csv_with_string_labels(iris_csv: Path, tmp_path: Path) -> None:
    data = load_csv(iris_csv, "species")
    assert data.feature_names == [
        "sepal_length_(cm)",
        "sepal_width_(cm)",
        "petal_length_(cm)",
        "petal_width_(cm)",
    ]
    result = train_model(data, build_pipeline("random_forest"), output_root=tmp_path)
    assert result.metadata.class_labels == ["setosa", "versicolor", "virginica"]
    model = OnnxModel.load(result.artifact_dir)
    prediction = model.predict(np.asarray(result.metadata.sample_rows, dtype=np.float32))
    assert set(prediction.labels) <= {"setosa", "versicolor", "virginica"}
    assert result.metadata.training_data["source"] == f"csv:{iris_csv}"


def test_user_pipeline_from_a_file(iris_csv: Path, tmp_path: Path) -> None:
    factory = tmp_path / "my_pipeline.py"
    factory.write_text(
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import MinMaxScaler\n"
        "from sklearn.tree import DecisionTreeClassifier\n"
        "def build():\n"
        "    return make_pipeline(MinMaxScaler(), DecisionTreeClassifier(max_depth=3, random_state=0))\n"
    )
    estimator = build_pipeline(f"{factory}:build")
    result = train_model(load_csv(iris_csv, "species"), estimator, output_root=tmp_path / "out")
    assert result.metadata.estimator == "MinMaxScaler -> DecisionTreeClassifier"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nonsense", "neither built in"),
        ("no_such_module_xyz:build", "cannot import"),
        ("sklearn.linear_model:NoSuchThing", "no callable"),
        ("sklearn.cluster:KMeans", "neither a scikit-learn classifier nor a regressor"),
        ("sklearn.svm:SVC", "not a scikit-learn classifier with predict_proba"),
        ("sklearn.mixture:GaussianMixture", "only classifiers and regressors are supported"),
        ("sklearn.preprocessing:StandardScaler", "not a scikit-learn classifier"),
    ],
)
def test_bad_pipeline_specs_are_refused_clearly(spec: str, message: str) -> None:
    with pytest.raises(PipelineSpecError, match=message):
        build_pipeline(spec)


def test_model_that_skl2onnx_cannot_convert_gets_a_clear_message(tmp_path: Path) -> None:
    estimator = build_pipeline("sklearn.ensemble:HistGradientBoostingClassifier")
    with pytest.raises(ConversionError) as caught:
        train_model(load_builtin(), estimator, output_root=tmp_path)
    assert "skl2onnx cannot convert HistGradientBoostingClassifier" in str(caught.value)
    assert "known to work" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_parity_failure_refuses_to_write(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An exported graph that answers differently from the pipeline must never become an artifact."""
    other = build_pipeline("random_forest")
    data = load_builtin()
    other.fit(data.X[:60], data.y[:60])
    wrong_bytes = export.to_onnx_bytes(other, 30)
    monkeypatch.setattr("training.train.to_onnx_bytes", lambda estimator, n: wrong_bytes)
    with pytest.raises(ParityError, match="no artifact was written"):
        train_model(data, build_pipeline("logistic_regression"), output_root=tmp_path)
    assert not any(tmp_path.iterdir())


def test_parity_rules() -> None:
    require_parity(
        ParityReport(
            rows=10, labels_equal=True, label_mismatches=0, max_abs_probability_diff=9e-6, tolerance=1e-5
        )
    )
    with pytest.raises(ParityError, match="2 of 10 holdout labels differ"):
        require_parity(ParityReport(10, False, 2, 0.0, 1e-5))
    with pytest.raises(ParityError, match="probabilities differ"):
        require_parity(ParityReport(10, True, 0, 2e-5, 1e-5))
    with pytest.raises(ParityError):
        require_parity(ParityReport(10, True, 0, float("nan"), 1e-5))


def test_fingerprint_changes_with_any_value() -> None:
    data = load_builtin()
    changed = data.X.copy()
    changed[3, 4] += 1e-9
    assert Dataset(changed, data.y, data.feature_names, "x").fingerprint() != data.fingerprint()
    assert Dataset(data.X, data.y, data.feature_names, "other source").fingerprint() == data.fingerprint()


def test_version_is_content_derived() -> None:
    assert model_version_for(b"abc") == model_version_for(b"abc")
    assert model_version_for(b"abc") != model_version_for(b"abd")


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        (["a", "b"], [[1, 0]] * 12, "no target column 'y'"),
        (["a", "y"], [[1, 0]] * 12, "single class"),
        (["a", "y"], [[1, 0], [2, 1]], "at least 10"),
        (["a", "y"], [["red", 0]] + [[1, i % 2] for i in range(12)], "line 2 column 'a' has 'red'"),
        (["a", "y"], [["", 0]] + [[1, i % 2] for i in range(12)], "an empty cell"),
        (["a", "y"], [["inf", 0]] + [[1, i % 2] for i in range(12)], "not finite"),
        (["a", "y"], [[1]] + [[1, i % 2] for i in range(12)], "has 1 fields"),
        (["y"], [[1]] * 12, "no feature columns"),
    ],
)
def test_bad_csv_is_refused_naming_the_problem(
    tmp_path: Path, header: list[str], rows: list[list[Any]], message: str
) -> None:
    path = write_csv(tmp_path / "data.csv", header, rows)
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        load_csv(path, "y")


def test_metadata_round_trips(trained_model: tuple[Path, ModelMetadata]) -> None:
    artifact_dir, metadata = trained_model
    assert read_metadata(artifact_dir) == metadata
