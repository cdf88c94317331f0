"""The heuristic baseline every model must beat: default and user rules, the comparison, refusal
and warning, metadata round trip, and `modelctl train` through Typer's test runner."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from common.model.metadata import ModelMetadata, read_metadata, write_metadata
from modelctl.cli import app
from training.baseline import (
    BaselineError,
    BaselineNotBeatenError,
    BaselineSpec,
    default_predictions,
    rule_predictions,
)
from training.data import Dataset, load_builtin
from training.pipelines import build_pipeline
from training.train import baseline_record, train_model

TINY_C_LOGISTIC = (
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.pipeline import make_pipeline\n"
    "from sklearn.preprocessing import StandardScaler\n"
    "def build():\n"
    "    return make_pipeline(StandardScaler(), LogisticRegression(C=1e-9))\n"
)
"""A classifier so regularised that it answers the majority class for every row: it ties with
the majority-class baseline, which is not strictly better."""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def artifacts(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")] if root.exists() else []


def test_majority_class_baseline_figures_by_hand() -> None:
    classes = np.array([0, 1])
    predictions = default_predictions("classification", np.array([0, 0, 0, 1]), classes, rows=4)
    assert predictions.kind == "majority_class"
    assert predictions.labels.tolist() == [0, 0, 0, 0]
    record = baseline_record(
        "classification",
        predictions,
        np.array([0, 1, 0, 0]),
        classes,
        {"accuracy": 0.8, "f1_macro": 0.8, "log_loss": 0.3},
        BaselineSpec(),
    )
    assert record["class"] == 0 and record["prior"] == [0.75, 0.25]
    metrics = record["metrics"]
    assert metrics["accuracy"] == pytest.approx(0.75)
    # class 0: precision 3/4, recall 1 -> f1 6/7; class 1 never predicted -> 0
    assert metrics["f1_macro"] == pytest.approx(3 / 7)
    assert metrics["log_loss"] == pytest.approx(-(3 * math.log(0.75) + math.log(0.25)) / 4)
    assert metrics["roc_auc"] == pytest.approx(0.5)
    comparison = record["comparison"]
    assert comparison["metric"] == "accuracy" and comparison["higher_is_better"] is True
    assert comparison["improvement"] == pytest.approx(0.05)
    assert comparison["beats_baseline"] is True
    margin = baseline_record(
        "classification",
        predictions,
        np.array([0, 1, 0, 0]),
        classes,
        {"accuracy": 0.8},
        BaselineSpec(margin=0.1),
    )
    assert margin["comparison"]["beats_baseline"] is False


def test_mean_baseline_figures_by_hand() -> None:
    predictions = default_predictions("regression", np.array([1.0, 2.0, 3.0, 6.0]), None, rows=3)
    assert predictions.kind == "mean" and predictions.detail == {"value": 3.0}
    record = baseline_record(
        "regression", predictions, np.array([2.0, 4.0, 5.0]), None, {"rmse": 1.0, "mae": 1.0}, BaselineSpec()
    )
    # errors -1, 1, 2: MAE 4/3, RMSE sqrt(6/3); SS_tot = 14/3, so R^2 = 1 - 6 / (14/3) = -2/7
    assert record["metrics"]["mae"] == pytest.approx(4 / 3)
    assert record["metrics"]["rmse"] == pytest.approx(math.sqrt(2))
    assert record["metrics"]["r2"] == pytest.approx(-2 / 7)
    comparison = record["comparison"]
    assert comparison["metric"] == "rmse" and comparison["higher_is_better"] is False
    assert comparison["improvement"] == pytest.approx(math.sqrt(2) - 1.0)  # lower rmse is better
    assert comparison["beats_baseline"] is True


def test_default_model_beats_the_majority_class_and_records_it(tmp_path: Path) -> None:
    data = load_builtin()
    result = train_model(data, build_pipeline("logistic_regression"), output_root=tmp_path)
    baseline = read_metadata(result.artifact_dir).baseline
    assert baseline["kind"] == "majority_class" and baseline["class"] == 1
    # stratified holdout of 143 rows keeps the 357/569 benign share: 90 benign rows
    assert baseline["metrics"]["accuracy"] == pytest.approx(90 / 143)
    assert baseline["comparison"]["model"] == result.metadata.metrics["accuracy"]
    assert baseline["comparison"]["beats_baseline"] is True
    assert result.baseline == baseline


def test_ridge_on_diabetes_beats_the_mean(tmp_path: Path) -> None:
    result = train_model(load_builtin("diabetes"), build_pipeline("ridge"), output_root=tmp_path)
    baseline = result.metadata.baseline
    assert baseline["kind"] == "mean"
    assert baseline["comparison"]["baseline"] == baseline["metrics"]["rmse"]
    assert baseline["comparison"]["model"] < baseline["comparison"]["baseline"]


def test_custom_baseline_from_a_file(tmp_path: Path) -> None:
    rule = write(
        tmp_path / "rule.py",
        "import numpy as np\n"
        "def radius(X, feature_names):\n"
        "    big = X[:, feature_names.index('mean_radius')] > 15\n"
        "    return np.where(big, 0, 1)\n",
    )
    spec = BaselineSpec(rule=f"{rule}:radius")
    result = train_model(
        load_builtin(), build_pipeline("logistic_regression"), output_root=tmp_path / "o", baseline=spec
    )
    baseline = result.metadata.baseline
    assert baseline["kind"] == f"custom:{rule}:radius"
    assert set(baseline["metrics"]) == {"accuracy", "f1_macro"}  # labels only: no probability metrics
    assert 0.63 < baseline["metrics"]["accuracy"] < result.metadata.metrics["accuracy"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("    return [1, 0]\n", "returned shape (2,)"),
        ("    return np.ones((len(X), 2))\n", "returned shape"),
        ("    return np.full(len(X), 'cat')\n", "'cat', which is not a class label"),
        ("    raise RuntimeError('boom')\n", "failed: RuntimeError: boom"),
    ],
)
def test_a_bad_classifier_baseline_is_refused(tmp_path: Path, body: str, message: str) -> None:
    rule = write(tmp_path / "bad.py", "import numpy as np\ndef rule(X, feature_names):\n" + body)
    with pytest.raises(BaselineError, match="baseline") as caught:
        rule_predictions(
            f"{rule}:rule", "classification", np.zeros((5, 3)), ["a", "b", "c"], np.array([0, 1])
        )
    assert message in str(caught.value)


def test_a_bad_regressor_baseline_is_refused(tmp_path: Path) -> None:
    rule = write(tmp_path / "bad.py", "def rule(X, feature_names):\n    return ['x'] * len(X)\n")
    with pytest.raises(BaselineError, match="must return numbers"):
        rule_predictions(f"{rule}:rule", "regression", np.zeros((4, 2)), ["a", "b"], None)
    with pytest.raises(BaselineError, match="no callable 'missing'"):
        rule_predictions(f"{rule}:missing", "regression", np.zeros((4, 2)), ["a", "b"], None)
    with pytest.raises(BaselineError, match="'module:function'"):
        rule_predictions("nocolon", "regression", np.zeros((4, 2)), ["a", "b"], None)


def test_bad_spec_values_are_refused() -> None:
    with pytest.raises(BaselineError, match="margin"):
        BaselineSpec(margin=-0.1)
    with pytest.raises(BaselineError, match="policy"):
        BaselineSpec(policy="ignore")  # type: ignore[arg-type]


def exact_linear_data() -> Dataset:
    """y is exactly the first feature, so the rule `X[:, 0]` is perfect and a Ridge with a large
    alpha (shrunk towards the mean) is worse."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    return Dataset(X=X, y=X[:, 0].copy(), feature_names=["a", "b", "c"], source="exact")


def test_a_model_worse_than_its_baseline_is_refused(tmp_path: Path) -> None:
    from sklearn.linear_model import Ridge

    rule = write(tmp_path / "perfect.py", "def first(X, feature_names):\n    return X[:, 0]\n")
    out = tmp_path / "out"
    with pytest.raises(BaselineNotBeatenError, match=r"rmse [0-9.]+ vs baseline 0\.0000") as caught:
        train_model(
            exact_linear_data(),
            Ridge(alpha=500.0),
            output_root=out,
            baseline=BaselineSpec(rule=f"{rule}:first"),
        )
    assert "no artifact written" in str(caught.value)
    assert artifacts(out) == []


def test_a_tie_with_the_majority_class_is_refused_and_warn_writes_it(tmp_path: Path) -> None:
    factory = write(tmp_path / "tiny.py", TINY_C_LOGISTIC)
    with pytest.raises(BaselineNotBeatenError, match=r"accuracy 0\.6294 vs baseline 0\.6294"):
        train_model(load_builtin(), build_pipeline(f"{factory}:build"), output_root=tmp_path / "refused")
    assert artifacts(tmp_path / "refused") == []
    result = train_model(
        load_builtin(),
        build_pipeline(f"{factory}:build"),
        output_root=tmp_path / "warned",
        baseline=BaselineSpec(policy="warn"),
    )
    assert result.created and not result.beats_baseline
    assert read_metadata(result.artifact_dir).baseline["comparison"]["policy"] == "warn"


def test_metadata_round_trip_with_and_without_baseline(
    tmp_path: Path, trained_model: tuple[Path, ModelMetadata]
) -> None:
    _, metadata = trained_model
    old = metadata.to_dict()
    old.pop("baseline")
    loaded = ModelMetadata.from_dict(old)  # an artifact written before baselines existed
    assert loaded.baseline == {}
    assert ModelMetadata.from_dict(metadata.to_dict()) == metadata
    assert metadata.baseline["kind"] == "majority_class"
    write_metadata(tmp_path, metadata)
    assert read_metadata(tmp_path) == metadata


def invoke(*argv: str) -> Any:
    return CliRunner().invoke(app, list(argv))


def test_cli_shows_model_vs_baseline(tmp_path: Path) -> None:
    result = invoke("train", "--dataset", "diabetes", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "baseline (mean)" in result.output
    shown = " ".join(result.output.split())
    assert "rmse: model" in shown and "the model beats its baseline" in shown


def test_cli_refuses_then_warns_with_both_figures(tmp_path: Path) -> None:
    factory = write(tmp_path / "tiny.py", TINY_C_LOGISTIC)
    out = tmp_path / "out"
    refused = invoke("train", "--pipeline", f"{factory}:build", "-o", str(out))
    assert refused.exit_code == 1
    assert "accuracy 0.6294 vs baseline 0.6294" in str(refused.exception) + refused.output
    assert artifacts(out) == []
    warned = invoke("train", "--pipeline", f"{factory}:build", "-o", str(out), "--baseline-policy", "warn")
    assert warned.exit_code == 0, warned.output
    assert "warning: the model does not beat its baseline (majority_class)" in " ".join(warned.output.split())
    (artifact,) = artifacts(out)
    stored = json.loads((artifact / "metadata.json").read_text())
    assert stored["baseline"]["comparison"]["beats_baseline"] is False


def test_cli_custom_baseline_and_margin(tmp_path: Path) -> None:
    rule = write(
        tmp_path / "rule.py",
        "import numpy as np\ndef ones(X, feature_names):\n    return np.ones(len(X), int)\n",
    )
    ok = invoke("train", "--baseline", f"{rule}:ones", "-o", str(tmp_path / "a"))
    assert ok.exit_code == 0, ok.output
    assert "custom:" in ok.output
    (artifact,) = artifacts(tmp_path / "a")
    assert json.loads((artifact / "metadata.json").read_text())["baseline"]["kind"] == f"custom:{rule}:ones"
    too_much = invoke("train", "--baseline-margin", "0.5", "-o", str(tmp_path / "b"))
    assert too_much.exit_code == 1
    assert artifacts(tmp_path / "b") == []
    bad = invoke("train", "--baseline", f"{rule}:nothing", "-o", str(tmp_path / "c"))
    assert bad.exit_code == 1
    assert "has no callable 'nothing'" in str(bad.exception) + bad.output
