"""Train and export: the same `training.train.train_model` as `modelctl train` (fit, ONNX export,
parity check on its own holdout), on the prepared training set. The candidate goes to the run's
staging area, not to the registry: only the register step, after the gate, writes `models/`.

Data the pipeline cannot train on (training's DataError: e.g. a classifier pipeline on a continuous
target) and a candidate of another kind than production (a classifier to replace a regressor) are
step errors naming the pipeline, the data and what to change."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from retrain.errors import StepError
from retrain.runstore import RunStore
from retrain.settings import RetrainSettings
from training.data import DataError, Dataset
from training.export import ConversionError, ParityError
from training.pipelines import PipelineSpecError, build_pipeline
from training.train import TrainResult, train_model


def train_candidate(
    dataset: Dataset, settings: RetrainSettings, *, parent_version: str, output: Path
) -> TrainResult:
    try:
        return train_model(
            dataset,
            build_pipeline(settings.pipeline),
            output_root=output,
            test_size=settings.test_size,
            seed=settings.seed,
            parent_version=parent_version,
        )
    except (PipelineSpecError, ConversionError, ParityError) as exc:
        raise StepError(str(exc)) from exc
    except DataError as exc:
        raise StepError(
            f"retrain_pipeline {settings.pipeline!r} cannot train on the prepared data: {exc}"
        ) from exc


def require_task(result: TrainResult, settings: RetrainSettings, production_task: str) -> None:
    """The candidate must be the same kind of model as production: the gate compares their metrics
    and clients read its answers."""
    task = result.metadata.task
    if task != production_task:
        raise StepError(
            f"retrain_pipeline {settings.pipeline!r} built a {task} model ({result.metadata.estimator}) "
            f"but the production model is a {production_task} model: choose a {production_task} pipeline"
        )


def candidate_summary(result: TrainResult, prefix: str) -> dict[str, Any]:
    metadata = result.metadata
    return {
        "prefix": prefix,
        "model_version": metadata.version,
        "estimator": metadata.estimator,
        "training_metrics": metadata.metrics,
        "parity": metadata.parity,
        "parent_version": metadata.parent_version,
    }


def train(*, s3: Any, settings: RetrainSettings, prepared: dict[str, Any]) -> dict[str, Any]:
    store = RunStore(s3, settings.model_bucket)
    dataset = store.get_dataset(prepared["train_key"])
    parent = str(prepared["production"]["model_version"])
    with tempfile.TemporaryDirectory(prefix="retrain-") as folder:
        result = train_candidate(dataset, settings, parent_version=parent, output=Path(folder))
        require_task(result, settings, str(prepared.get("task", "classification")))
        prefix = prepared["prefix"] + "candidate/"
        store.put_artifact(prefix, result.artifact_dir)
    return candidate_summary(result, prefix)
