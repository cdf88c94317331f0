"""Prepare: the base data plus the labelled feedback since the last successful run, split into the
training set and the holdout both models are evaluated on.

The holdout is fair to production: the base data is split exactly as `training.train.train_model`
split it when the first model was trained (`training.task.split_holdout` with the production model's
task: same test size and seed, stratified by class for a classifier, plain for a regressor), so
production never saw those rows; feedback rows go to the holdout by a hash of their request id and
row (a stable quarter of them, whatever else arrives), so later runs keep them there.

A classifier's feedback label must name a class of the base data; a regressor's must be a finite
number.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from common.model.artifact_source import parse_s3_uri
from retrain.errors import StepError
from retrain.production import ProductionModel
from retrain.runstore import TRAIN_FILE, RunStore, aws_failure, run_prefix
from retrain.settings import RetrainSettings
from training.data import DataError, Dataset, load_builtin, load_csv
from training.task import CLASSIFICATION, REGRESSION, Task, TaskError, split_holdout, target_for


class LabelledRow(Protocol):
    """What common.observe.label_join.LabelledPrediction provides (the fields prepare uses)."""

    @property
    def request_id(self) -> str: ...
    @property
    def row(self) -> int: ...
    @property
    def features(self) -> list[float] | None: ...
    @property
    def label(self) -> Any: ...


FeedbackSource = Callable[..., Iterable[LabelledRow]]
"""`(s3, bucket, *, since, until) -> labelled rows`: common.observe.label_join.labelled_predictions."""


@dataclass(frozen=True)
class Feedback:
    X: np.ndarray
    y: list[Any]
    holdout: np.ndarray  # bool mask
    skipped: dict[str, int]


def load_base_data(settings: RetrainSettings, s3: Any) -> Dataset:
    spec = settings.base_data
    try:
        if spec.startswith("sklearn:"):
            return load_builtin(spec.removeprefix("sklearn:"))
        if spec.startswith("s3://"):
            bucket, key = parse_s3_uri(spec)
            key = key.rstrip("/")
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / (key.rsplit("/", 1)[-1] or "base.csv")
                try:
                    s3.download_file(Bucket=bucket, Key=key, Filename=str(path))
                except Exception as exc:
                    raise aws_failure(f"downloading the base data {spec}", exc) from exc
                data = load_csv(path, settings.target_column)
                return Dataset(X=data.X, y=data.y, feature_names=data.feature_names, source=f"csv:{spec}")
    except DataError as exc:
        raise StepError(f"base data {spec}: {exc}") from exc
    raise StepError(f"RETRAIN_BASE_DATA {spec!r} must be sklearn:<name> or s3://bucket/key.csv")


def in_feedback_holdout(request_id: str, row: int, test_size: float) -> bool:
    digest = hashlib.sha256(f"{request_id}#{row}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_size


def _number_label(value: Any) -> float | None:
    """A regression label: any finite number (or number text), never a boolean."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def collect_feedback(
    rows: Iterable[LabelledRow], base: Dataset, test_size: float, *, task: Task = CLASSIFICATION
) -> Feedback:
    """Rows with their inputs logged (the prediction log's sampled share), the model's feature count
    and a usable label (a known class for a classifier, a finite number for a regressor); the rest
    are counted, not used (`without_inputs`: labelled rows the log kept no inputs for)."""
    by_text = {str(label.item() if hasattr(label, "item") else label): label for label in np.unique(base.y)}
    n_features = len(base.feature_names)
    features: list[list[float]] = []
    labels: list[Any] = []
    holdout: list[bool] = []
    unusable = "not_a_number" if task == REGRESSION else "unknown_label"
    skipped = {"feature_count": 0, unusable: 0, "not_finite": 0, "without_inputs": 0}
    for item in rows:
        if item.features is None:
            skipped["without_inputs"] += 1
            continue
        if len(item.features) != n_features:
            skipped["feature_count"] += 1
            continue
        label = _number_label(item.label) if task == REGRESSION else by_text.get(str(item.label))
        if label is None:
            skipped[unusable] += 1
            continue
        values = [float(v) for v in item.features]
        if not all(np.isfinite(values)):
            skipped["not_finite"] += 1
            continue
        features.append(values)
        labels.append(label)
        holdout.append(in_feedback_holdout(item.request_id, item.row, test_size))
    X = np.asarray(features, dtype=np.float64).reshape(len(features), n_features)
    return Feedback(X=X, y=labels, holdout=np.asarray(holdout, dtype=bool), skipped=skipped)


def split_base(
    base: Dataset, test_size: float, seed: int, *, task: Task = CLASSIFICATION
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, holdout), split as train_model splits (the same `split_holdout` call on
    the same target, so the same rows)."""
    try:
        split = split_holdout(base.X, base.y, task=task, test_size=test_size, seed=seed)
    except TaskError as exc:
        raise StepError(f"base data {base.source}: {exc}") from exc
    holdout = np.sort(np.asarray(split.test_index))
    train = np.setdiff1d(np.arange(len(base.y)), holdout)
    return train, holdout


def task_base(base: Dataset, task: Task) -> Dataset:
    """The base data with its target as the production model's task trains on it (a regressor's
    as float numbers; TaskError, e.g. text labels for a regressor, becomes a StepError)."""
    try:
        y = target_for(task, base.y)
    except TaskError as exc:
        raise StepError(f"base data {base.source} for a {task} model: {exc}") from exc
    return Dataset(X=base.X, y=y, feature_names=base.feature_names, source=base.source)


def _subset(X: np.ndarray, y: Iterable[Any], names: list[str], source: str) -> Dataset:
    labels = list(y)
    values = np.asarray(labels) if labels else np.asarray([], dtype=np.int64)
    return Dataset(X=X, y=values, feature_names=names, source=source)


def prepare(
    *,
    s3: Any,
    settings: RetrainSettings,
    feedback_source: FeedbackSource,
    production: ProductionModel,
    production_features: list[str],
    run_id: str,
    until: datetime,
    production_task: str = CLASSIFICATION,
) -> dict[str, Any]:
    """`production_task` is the production model's metadata `task`: the candidate is trained,
    split and evaluated as that kind of model."""
    task: Task = REGRESSION if production_task == REGRESSION else CLASSIFICATION
    store = RunStore(s3, settings.model_bucket)
    base = task_base(load_base_data(settings, s3), task)
    if list(base.feature_names) != list(production_features):
        raise StepError(
            f"the base data {base.source} has features {base.feature_names[:3]}... "
            f"({len(base.feature_names)}) "
            f"but production model {production.model_version} takes {production_features[:3]}... "
            f"({len(production_features)}): retraining must keep the served feature order"
        )
    since = store.watermark() or until - timedelta(days=settings.feedback_lookback_days)
    try:
        rows = list(feedback_source(s3, settings.feedback_bucket, since=since, until=until))
    except Exception as exc:
        raise aws_failure(f"reading labelled feedback from s3://{settings.feedback_bucket}", exc) from exc
    feedback = collect_feedback(rows, base, settings.test_size, task=task)
    base_train, base_holdout = split_base(base, settings.test_size, settings.seed, task=task)
    fb_train, fb_holdout = ~feedback.holdout, feedback.holdout
    source = f"{base.source} + {len(feedback.y)} feedback rows ({since.isoformat()} .. {until.isoformat()})"
    train = _subset(
        np.vstack([base.X[base_train], feedback.X[fb_train]]),
        [*base.y[base_train].tolist(), *[v for v, keep in zip(feedback.y, fb_train, strict=True) if keep]],
        base.feature_names,
        source,
    )
    holdout = _subset(
        np.vstack([base.X[base_holdout], feedback.X[fb_holdout]]),
        [
            *base.y[base_holdout].tolist(),
            *[v for v, keep in zip(feedback.y, fb_holdout, strict=True) if keep],
        ],
        base.feature_names,
        f"holdout of {source}",
    )
    prefix = run_prefix(run_id)
    train_key = f"{prefix}train/{TRAIN_FILE}"  # its own prefix: a SageMaker job's input channel
    store.put_dataset(train_key, train)
    store.put_dataset(prefix + "holdout.json.gz", holdout)
    return {
        "run_id": run_id,
        "prefix": prefix,
        "train_key": train_key,
        "train_uri": f"s3://{settings.model_bucket}/{prefix}train/",
        "holdout_key": prefix + "holdout.json.gz",
        "since": since.isoformat(),
        "until": until.isoformat(),
        "base_source": base.source,
        "base_rows": len(base.y),
        "feedback_rows": len(feedback.y),
        "feedback_holdout_rows": int(feedback.holdout.sum()),
        "feedback_skipped": feedback.skipped,
        "train_rows": len(train.y),
        "holdout_rows": len(holdout.y),
        "data_fingerprint": train.fingerprint(),
        "production": production.to_dict(),
        "task": task,
    }
