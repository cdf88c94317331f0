"""The served model, and the scikit-learn pipeline it was exported from, rebuilt identically.

The scikit-learn baseline must be the same model as the ONNX one. Training is deterministic
(fixed split seed, fixed estimator settings), so the pipeline is refitted the way
`training.train.train_model` fits it and exported again: the export's content-derived version
must equal the artifact's version, which proves the two are the same model byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import REPO_ROOT
from common.layout import MODEL_FILE
from common.model.metadata import ModelMetadata, read_metadata

ARTIFACTS_DIR = REPO_ROOT / "model_artifacts"


class ModelUnavailableError(RuntimeError):
    """No artifact to benchmark, or its scikit-learn pipeline cannot be rebuilt."""


def serving_context() -> dict[str, Any]:
    """`context.serving` of cdk.json: what the deployed function is configured with."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    serving: dict[str, Any] = context["serving"]
    return serving


def served_artifact_dir(artifacts_dir: Path = ARTIFACTS_DIR) -> Path:
    """The artifact a deploy would serve: `serving.model_version`, else the newest one."""
    from infra.config import newest_model_version

    wanted = str(serving_context().get("model_version") or "")
    try:
        version = wanted or newest_model_version(artifacts_dir)
    except Exception as exc:  # infra's ConfigError: no artifact at all
        raise ModelUnavailableError(f"no model artifact under {artifacts_dir}: run `make model`") from exc
    folder = artifacts_dir / version
    if not (folder / MODEL_FILE).is_file():
        raise ModelUnavailableError(f"{folder} has no model.onnx: run `make model`")
    return folder


@dataclass(frozen=True)
class BenchModel:
    artifact_dir: Path
    metadata: ModelMetadata
    estimator: Any  # the fitted scikit-learn pipeline
    identical: bool  # the refitted pipeline exports to exactly the artifact's ONNX bytes
    X_holdout: np.ndarray  # float64 as in the data set: what clients send

    def rows(self, n: int) -> np.ndarray:
        """The first n holdout rows (cycled if the holdout is shorter)."""
        reps = -(-n // len(self.X_holdout))
        return np.tile(self.X_holdout, (reps, 1))[:n]

    def sklearn_input(self, n: int) -> np.ndarray:
        """What the pipeline is given at serving time: the client's values as float32, in float64."""
        return self.rows(n).astype(np.float32).astype(np.float64)

    def onnx_input(self, n: int) -> np.ndarray:
        return np.ascontiguousarray(self.rows(n), dtype=np.float32)


def _pipeline_spec(metadata: ModelMetadata) -> str:
    from training.pipelines import BUILTIN, build_pipeline, describe

    for name in BUILTIN:
        if describe(build_pipeline(name)) == metadata.estimator:
            return name
    raise ModelUnavailableError(
        f"the artifact's estimator {metadata.estimator!r} is not a built-in pipeline: "
        "its scikit-learn baseline cannot be rebuilt here"
    )


def load_bench_model(artifact_dir: Path | None = None) -> BenchModel:
    """Rebuild the artifact's fitted scikit-learn pipeline exactly as training fitted it."""
    from sklearn.model_selection import train_test_split

    from training.data import load_builtin
    from training.export import to_onnx_bytes
    from training.pipelines import build_pipeline
    from training.train import model_version_for

    folder = artifact_dir or served_artifact_dir()
    metadata = read_metadata(folder)
    info = metadata.training_data
    source = str(info.get("source", ""))
    if not source.startswith("sklearn:"):
        raise ModelUnavailableError(
            f"the artifact was trained on {source!r}: only built-in data sets can be rebuilt for the baseline"
        )
    data = load_builtin(source.split(":", 1)[1])
    stratify = data.y if len(np.unique(data.y)) > 1 else None
    X_train, X_test, y_train, _ = train_test_split(
        data.X, data.y, test_size=info["test_size"], random_state=info["seed"], stratify=stratify
    )
    estimator = build_pipeline(_pipeline_spec(metadata))
    estimator.fit(X_train.astype(np.float32).astype(np.float64), y_train)
    identical = model_version_for(to_onnx_bytes(estimator, len(data.feature_names))) == metadata.version
    return BenchModel(
        artifact_dir=folder,
        metadata=metadata,
        estimator=estimator,
        identical=identical,
        X_holdout=np.asarray(X_test, dtype=np.float64),
    )
