"""The model artifact's metadata: what serving, publishing and reports need to know about a model.

Serving reads only `model.onnx` and `metadata.json`; this module is the one place that knows the
shape of the latter, for the training side (which writes it) and the runtime side (which reads it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common.layout import METADATA_FILE

SCHEMA_VERSION = 1
TASKS = ("classification", "regression")
"""A regression model has class_labels [], probabilities_output "" and its prediction output in
label_output; the schema version is shared with classifiers, whose artifacts keep loading."""

REQUIRED_FIELDS = (
    "schema_version",
    "version",
    "created_at",
    "task",
    "feature_names",
    "input_name",
    "input_dtype",
    "class_labels",
    "label_output",
    "probabilities_output",
    "onnx_sha256",
    "metrics",
    "parity",
    "training_data",
    "libraries",
)


class MetadataError(ValueError):
    """The metadata file is missing, unreadable or incomplete."""


@dataclass(frozen=True)
class ModelMetadata:
    schema_version: int
    version: str
    created_at: str
    task: str
    feature_names: list[str]
    input_name: str
    input_dtype: str
    class_labels: list[Any]
    label_output: str
    probabilities_output: str
    onnx_sha256: str
    metrics: dict[str, float]
    parity: dict[str, Any]
    training_data: dict[str, Any]
    libraries: dict[str, str]
    estimator: str = ""
    parent_version: str | None = None
    sample_rows: list[list[float]] = field(default_factory=list)
    feature_baseline: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    """Set when the retraining workflow registers a model: data fingerprint, parent model, metrics of
    candidate and production, gate decision, workflow execution (docs/retraining.md)."""
    baseline: dict[str, Any] = field(default_factory=dict)
    """The heuristic baseline scored on the same holdout: kind, metrics and the comparison with the
    model on the task's primary metric (docs/training.md); {} in artifacts written before it."""

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        if missing:
            raise MetadataError(f"metadata is missing required fields: {', '.join(missing)}")
        if data["schema_version"] != SCHEMA_VERSION:
            raise MetadataError(
                f"metadata schema_version {data['schema_version']!r} is not supported "
                f"(expected {SCHEMA_VERSION})"
            )
        if data["task"] not in TASKS:
            raise MetadataError(f"task {data['task']!r} is not supported (one of {', '.join(TASKS)})")
        if not data["feature_names"]:
            raise MetadataError("metadata lists no feature_names")
        if data["input_dtype"] != "float32":
            raise MetadataError(f"input_dtype {data['input_dtype']!r} is not supported (float32 only)")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def read_metadata(model_dir: Path) -> ModelMetadata:
    path = model_dir / METADATA_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MetadataError(f"{path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise MetadataError(f"{path} must hold a JSON object")
    return ModelMetadata.from_dict(raw)


def write_metadata(model_dir: Path, metadata: ModelMetadata) -> Path:
    path = model_dir / METADATA_FILE
    path.write_text(json.dumps(metadata.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
