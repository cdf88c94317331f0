"""Evaluate the candidate and the production model on the same holdout, with the ONNX runtime that
serves them (what users would get, not what scikit-learn computes), plus the sanity figures the gate
checks: whether every answer is a finite number and, for a classifier, the share of each predicted
class. A classifier is scored with accuracy, f1_macro, log_loss and roc_auc; a regressor with mae,
rmse and r2 (`training.train`'s metrics for each kind)."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from common.model.artifact_source import parse_s3_uri
from common.model.onnx_model import ModelLoadError, OnnxModel
from retrain.business import holdout_value
from retrain.errors import StepError
from retrain.runstore import RunStore
from retrain.settings import RetrainSettings
from training.data import Dataset

REGRESSION = "regression"


def score(model: OnnxModel, holdout: Dataset) -> dict[str, Any]:
    if model.metadata.task == REGRESSION:
        return score_regressor(model, holdout)
    from training.train import holdout_metrics

    prediction = model.predict(np.ascontiguousarray(holdout.X, dtype=np.float32))
    probabilities = np.asarray(prediction.probabilities, dtype=np.float64)
    if np.isfinite(probabilities).all():  # float32 rows sum to 1 only within rounding
        probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    labels = np.asarray(prediction.labels)
    finite = bool(np.isfinite(probabilities).all())
    counts = Counter(str(v) for v in labels.tolist())
    shares = {label: count / max(1, len(labels)) for label, count in sorted(counts.items())}
    result: dict[str, Any] = {
        "model_version": model.version,
        "baseline": model.metadata.baseline.get("comparison"),
        "rows": len(labels),
        "finite": finite,
        "predicted_shares": shares,
        "true_shares": {
            label: count / max(1, len(holdout.y))
            for label, count in sorted(Counter(str(v) for v in holdout.y.tolist()).items())
        },
        "metrics": {},
    }
    if finite and len(labels):
        classes = np.asarray(model.metadata.class_labels)
        y_true = np.asarray(holdout.y).astype(classes.dtype) if classes.dtype.kind in "iuf" else holdout.y
        result["metrics"] = holdout_metrics(y_true, probabilities, labels.astype(classes.dtype), classes)
    return result


def score_regressor(model: OnnxModel, holdout: Dataset) -> dict[str, Any]:
    """A regressor's figures: its predictions' range beside the truth's, and mae, rmse and r2 when
    every prediction is a finite number."""
    from training.train import regression_metrics

    prediction = model.predict(np.ascontiguousarray(holdout.X, dtype=np.float32))
    values = np.asarray(prediction.labels, dtype=np.float64).reshape(-1)
    truth = np.asarray(holdout.y, dtype=np.float64).reshape(-1)
    finite = bool(np.isfinite(values).all())
    result: dict[str, Any] = {
        "model_version": model.version,
        "baseline": model.metadata.baseline.get("comparison"),
        "task": REGRESSION,
        "rows": len(values),
        "finite": finite,
        "prediction_mean": float(values.mean()) if finite and len(values) else None,
        "true_mean": float(truth.mean()) if len(truth) else None,
        "metrics": {},
    }
    if finite and len(values):
        result["metrics"] = regression_metrics(truth, values)
    return result


def business_of(spec: str, model: OnnxModel, holdout: Dataset) -> float | None:
    """The model's holdout answers valued with the business metric (retrain/business.py)."""
    if not spec:
        return None
    prediction = model.predict(np.ascontiguousarray(holdout.X, dtype=np.float32))
    return holdout_value(spec, holdout.y, prediction.labels, getattr(prediction, "probabilities", None))


def _load(directory: Path) -> OnnxModel:
    try:
        return OnnxModel.load(directory)
    except ModelLoadError as exc:
        raise StepError(f"cannot load the model in {directory}: {exc}") from exc


def evaluate(
    *, s3: Any, settings: RetrainSettings, prepared: dict[str, Any], candidate: dict[str, Any]
) -> dict[str, Any]:
    store = RunStore(s3, settings.model_bucket)
    holdout = store.get_dataset(prepared["holdout_key"])
    if len(holdout.y) == 0:
        raise StepError("the holdout is empty: nothing to evaluate the models on")
    production_uri = str(prepared["production"]["model_uri"])
    bucket, prefix = parse_s3_uri(production_uri)
    with tempfile.TemporaryDirectory(prefix="evaluate-") as folder:
        candidate_model = _load(store.get_artifact(candidate["prefix"], Path(folder) / "candidate"))
        production_model = _load(RunStore(s3, bucket).get_artifact(prefix, Path(folder) / "production"))
        tasks = (candidate_model.metadata.task, production_model.metadata.task)
        if tasks[0] != tasks[1]:
            raise StepError(
                f"the candidate {candidate_model.version} is a {tasks[0]} model and production "
                f"{production_model.version} a {tasks[1]} model: they cannot be compared"
            )
        scores = {
            "candidate": score(candidate_model, holdout),
            "production": score(production_model, holdout),
        }
        for name, model in (("candidate", candidate_model), ("production", production_model)):
            scores[name]["business_value"] = business_of(settings.business_metric, model, holdout)
        return {"holdout_rows": len(holdout.y), **scores}
