"""Train, export, check parity and write an immutable model artifact.

The same function serves `modelctl train` and the retraining workflow, so a model trained by hand
and one trained on a schedule are built and checked the same way. Classifiers and regressors go
through the same steps; what differs (export, parity, metrics, output fields) is chosen by the
task read from the estimator.

A regressor's metadata: task "regression", label_output names the prediction output,
probabilities_output is "" and class_labels is []; metrics are mae, rmse and r2; parity holds
rows, max_abs_diff, max_rel_diff, worst_row and tolerance (docs/training.md).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from common.layout import MODEL_FILE
from common.model.metadata import SCHEMA_VERSION, ModelMetadata, read_metadata, write_metadata
from training import export_regression as regression_export
from training.baseline import (
    BaselineNotBeatenError,
    BaselinePredictions,
    BaselineSpec,
    compare,
    default_predictions,
    describe_comparison,
    rule_predictions,
)
from training.data import DataError, Dataset, label_values
from training.export import (
    INPUT_NAME,
    LABEL_OUTPUT,
    PROBABILITIES_OUTPUT,
    check_parity,
    require_parity,
    to_onnx_bytes,
)
from training.pipelines import describe
from training.task import (
    CLASSIFICATION,
    REGRESSION,
    Task,
    TaskError,
    likely_task,
    split_holdout,
    target_for,
    task_of,
)

BASELINE_BINS = 10
SAMPLE_ROWS = 5


@dataclass(frozen=True)
class TrainResult:
    artifact_dir: Path
    metadata: ModelMetadata
    created: bool
    baseline: dict[str, Any] = field(default_factory=dict)
    """The baseline fitted in this run (kind, metrics, comparison), also when the version already
    existed and its metadata.json, written earlier, was kept as it was."""

    @property
    def beats_baseline(self) -> bool:
        return bool(self.baseline.get("comparison", {}).get("beats_baseline", True))


def model_version_for(onnx_bytes: bytes) -> str:
    """Versions are derived from the model's bytes: the same model always gets the same name."""
    return "m-" + hashlib.sha256(onnx_bytes).hexdigest()[:12]


def holdout_metrics(
    y_true: np.ndarray, probabilities: np.ndarray | None, labels: np.ndarray, classes: np.ndarray
) -> dict[str, float]:
    """accuracy and f1_macro from the labels; log_loss and roc_auc from the probabilities, when
    given (a user's baseline rule gives labels only). A class never predicted scores f1 0."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    metrics = {
        "accuracy": float(accuracy_score(y_true, labels)),
        "f1_macro": float(f1_score(y_true, labels, average="macro", zero_division=0.0)),
    }
    if probabilities is None:
        return metrics
    metrics["log_loss"] = float(log_loss(y_true, probabilities, labels=classes))
    try:
        if len(classes) == 2:
            metrics["roc_auc"] = float(roc_auc_score(y_true, probabilities[:, 1]))
        else:
            metrics["roc_auc"] = float(
                roc_auc_score(y_true, probabilities, multi_class="ovr", labels=classes)
            )
    except ValueError:
        pass  # a holdout missing a class has no AUC; the other metrics still stand
    return metrics


def task_of_or_none(estimator: Any) -> str | None:
    try:
        return task_of(estimator)
    except TaskError:
        return None


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² of predictions against the truth."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    truth = np.asarray(y_true, dtype=np.float64).reshape(-1)
    predicted = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    return {
        "mae": float(mean_absolute_error(truth, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(truth, predicted))),
        "r2": float(r2_score(truth, predicted)),
    }


def feature_baseline(X: np.ndarray, feature_names: list[str]) -> dict[str, Any]:
    """Quantile bins of each training feature: the reference for population-stability drift checks."""
    features: dict[str, Any] = {}
    for index, name in enumerate(feature_names):
        column = X[:, index]
        edges = np.unique(np.quantile(column, np.linspace(0, 1, BASELINE_BINS + 1)[1:-1]))
        counts = np.bincount(np.searchsorted(edges, column, side="right"), minlength=len(edges) + 1)
        features[name] = {
            "edges": [float(e) for e in edges],
            "proportions": [float(c) / len(column) for c in counts],
            "mean": float(column.mean()),
            "std": float(column.std()),
        }
    return {"bins": BASELINE_BINS, "features": features}


def library_versions() -> dict[str, str]:
    names = ["scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy"]
    versions = {name: package_version(name) for name in names}
    versions["python"] = platform.python_version()
    return versions


def train_model(
    dataset: Dataset,
    estimator: Any,
    *,
    output_root: Path,
    test_size: float = 0.25,
    seed: int = 0,
    parent_version: str | None = None,
    baseline: BaselineSpec | None = None,
) -> TrainResult:
    """Fit `estimator` (a classifier or a regressor, told apart by training.task.task_of) on the
    training share, export it, check parity on the holdout, score it and its baseline on the
    holdout and write the artifact. A model that does not beat its baseline by the margin raises
    BaselineNotBeatenError (nothing written) unless the baseline policy is "warn"."""
    baseline = baseline or BaselineSpec()
    try:
        task = task_of(estimator)
        y = target_for(task, dataset.y)
        split = split_holdout(dataset.X, y, task=task, test_size=test_size, seed=seed)
    except TaskError as exc:
        hint = ""
        if task_of_or_none(estimator) == CLASSIFICATION and likely_task(dataset.y) == REGRESSION:
            hint = " (the target looks continuous: choose a regressor pipeline, e.g. ridge)"
        raise DataError(f"cannot train {describe(estimator)} on {dataset.source}: {exc}{hint}") from exc
    # Train on what serving sees: float32 values.
    estimator.fit(split.X_train.astype(np.float32).astype(np.float64), split.y_train)
    X_eval = split.X_test.astype(np.float32).astype(np.float64)
    if task == REGRESSION:
        onnx_bytes = regression_export.to_onnx_bytes(estimator, len(dataset.feature_names))
        regression_parity = regression_export.check_parity(
            estimator, onnx_bytes, split.X_test, split.test_index
        )
        regression_export.require_parity(regression_parity)
        outputs: dict[str, Any] = {
            "class_labels": [],
            "label_output": regression_export.PREDICTION_OUTPUT,
            "probabilities_output": "",
            "metrics": regression_metrics(split.y_test, estimator.predict(X_eval)),
            "parity": regression_parity.to_dict(),
        }
    else:
        onnx_bytes = to_onnx_bytes(estimator, len(dataset.feature_names))
        parity = check_parity(estimator, onnx_bytes, split.X_test)
        require_parity(parity)
        outputs = {
            "class_labels": label_values(estimator.classes_),
            "label_output": LABEL_OUTPUT,
            "probabilities_output": PROBABILITIES_OUTPUT,
            "metrics": holdout_metrics(
                split.y_test, estimator.predict_proba(X_eval), estimator.predict(X_eval), estimator.classes_
            ),
            "parity": parity.to_dict(),
        }
    metadata = ModelMetadata(
        schema_version=SCHEMA_VERSION,
        version=model_version_for(onnx_bytes),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        task=task,
        feature_names=list(dataset.feature_names),
        input_name=INPUT_NAME,
        input_dtype="float32",
        onnx_sha256=hashlib.sha256(onnx_bytes).hexdigest(),
        training_data={
            "source": dataset.source,
            "fingerprint": dataset.fingerprint(),
            "rows": len(dataset.X),
            "train_rows": len(split.X_train),
            "holdout_rows": len(split.X_test),
            "test_size": test_size,
            "seed": seed,
            "stratified": split.stratified,
        },
        libraries=library_versions(),
        estimator=describe(estimator),
        parent_version=parent_version,
        sample_rows=[[float(v) for v in row] for row in split.X_test[:SAMPLE_ROWS].astype(np.float32)],
        feature_baseline=feature_baseline(split.X_train, dataset.feature_names),
        **outputs,
    )
    classes = estimator.classes_ if task == CLASSIFICATION else None
    if baseline.rule is None:
        predictions = default_predictions(task, split.y_train, classes, len(X_eval))
    else:
        predictions = rule_predictions(baseline.rule, task, X_eval, list(dataset.feature_names), classes)
    fitted = baseline_record(task, predictions, split.y_test, classes, metadata.metrics, baseline)
    if not fitted["comparison"]["beats_baseline"] and baseline.policy == "refuse":
        raise BaselineNotBeatenError(
            describe_comparison(predictions.kind, fitted["comparison"])
            + "; no artifact written (--baseline-policy warn writes it anyway)"
        )
    result = write_artifact(output_root, onnx_bytes, replace(metadata, baseline=fitted))
    return replace(result, baseline=fitted)


def baseline_record(
    task: Task,
    predictions: BaselinePredictions,
    y_test: np.ndarray,
    classes: np.ndarray | None,
    model_metrics: dict[str, float],
    spec: BaselineSpec,
) -> dict[str, Any]:
    """metadata.baseline: the baseline's kind and detail, its holdout metrics (the model's, same
    holdout) and the comparison on the task's primary metric."""
    if task == REGRESSION:
        metrics = regression_metrics(y_test, predictions.labels)
    else:
        assert classes is not None
        metrics = holdout_metrics(y_test, predictions.probabilities, predictions.labels, classes)
    return {
        "kind": predictions.kind,
        **predictions.detail,
        "metrics": metrics,
        "comparison": compare(task, model_metrics, metrics, spec),
    }


def write_artifact(output_root: Path, onnx_bytes: bytes, metadata: ModelMetadata) -> TrainResult:
    """Write `<root>/<version>/` atomically. An existing version is never overwritten."""
    target = output_root / metadata.version
    if target.exists():
        return TrainResult(artifact_dir=target, metadata=read_metadata(target), created=False)
    output_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=output_root))
    try:
        (staging / MODEL_FILE).write_bytes(onnx_bytes)
        write_metadata(staging, metadata)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return TrainResult(artifact_dir=target, metadata=metadata, created=True)
