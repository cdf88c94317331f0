"""Train, export, check parity and write an immutable model artifact.

The same function serves `modelctl train` and the retraining workflow, so a model trained by hand
and one trained on a schedule are built and checked the same way.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from common.layout import MODEL_FILE
from common.metadata import SCHEMA_VERSION, ModelMetadata, read_metadata, write_metadata
from training.data import Dataset, label_values
from training.export import (
    INPUT_NAME,
    LABEL_OUTPUT,
    PROBABILITIES_OUTPUT,
    check_parity,
    require_parity,
    to_onnx_bytes,
)
from training.pipelines import describe

BASELINE_BINS = 10
SAMPLE_ROWS = 5


@dataclass(frozen=True)
class TrainResult:
    artifact_dir: Path
    metadata: ModelMetadata
    created: bool


def model_version_for(onnx_bytes: bytes) -> str:
    """Versions are derived from the model's bytes: the same model always gets the same name."""
    return "m-" + hashlib.sha256(onnx_bytes).hexdigest()[:12]


def holdout_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, labels: np.ndarray, classes: np.ndarray
) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    metrics = {
        "accuracy": float(accuracy_score(y_true, labels)),
        "f1_macro": float(f1_score(y_true, labels, average="macro")),
        "log_loss": float(log_loss(y_true, probabilities, labels=classes)),
    }
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
) -> TrainResult:
    from sklearn.model_selection import train_test_split

    stratify = dataset.y if len(np.unique(dataset.y)) > 1 else None
    X_train, X_test, y_train, y_test = train_test_split(
        dataset.X, dataset.y, test_size=test_size, random_state=seed, stratify=stratify
    )
    # Train on what serving sees: float32 values.
    estimator.fit(X_train.astype(np.float32).astype(np.float64), y_train)
    onnx_bytes = to_onnx_bytes(estimator, len(dataset.feature_names))
    parity = check_parity(estimator, onnx_bytes, X_test)
    require_parity(parity)

    X_eval = X_test.astype(np.float32).astype(np.float64)
    probabilities = estimator.predict_proba(X_eval)
    labels = estimator.predict(X_eval)
    version = model_version_for(onnx_bytes)
    metadata = ModelMetadata(
        schema_version=SCHEMA_VERSION,
        version=version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        task="classification",
        feature_names=list(dataset.feature_names),
        input_name=INPUT_NAME,
        input_dtype="float32",
        class_labels=label_values(estimator.classes_),
        label_output=LABEL_OUTPUT,
        probabilities_output=PROBABILITIES_OUTPUT,
        onnx_sha256=hashlib.sha256(onnx_bytes).hexdigest(),
        metrics=holdout_metrics(y_test, probabilities, labels, estimator.classes_),
        parity=parity.to_dict(),
        training_data={
            "source": dataset.source,
            "fingerprint": dataset.fingerprint(),
            "rows": len(dataset.X),
            "train_rows": len(X_train),
            "holdout_rows": len(X_test),
            "test_size": test_size,
            "seed": seed,
        },
        libraries=library_versions(),
        estimator=describe(estimator),
        parent_version=parent_version,
        sample_rows=[[float(v) for v in row] for row in X_test[:SAMPLE_ROWS].astype(np.float32)],
        feature_baseline=feature_baseline(X_train, dataset.feature_names),
    )
    return write_artifact(output_root, onnx_bytes, metadata)


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
