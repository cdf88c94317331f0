"""Train and export: the same `training.train.train_model` as `modelctl train` (fit, ONNX export,
parity check on its own holdout), on the prepared training set. The candidate goes to the run's
staging area, not to the registry: only the register step, after the gate, writes `models/`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from retrain.errors import StepError
from retrain.runstore import RunStore
from retrain.settings import RetrainSettings
from training.data import Dataset
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
        prefix = prepared["prefix"] + "candidate/"
        store.put_artifact(prefix, result.artifact_dir)
    return candidate_summary(result, prefix)
