"""Model artifacts on disk: `<model_artifacts_dir>/<version>/{model.onnx,metadata.json}`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from infra.config.checks import CONTEXT_KEY, ConfigError

MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"


def read_metadata(folder: Path) -> dict[str, Any]:
    path = folder / METADATA_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{CONTEXT_KEY}.model_version: cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{CONTEXT_KEY}.model_version: {path} must hold a JSON object")
    return cast(dict[str, Any], data)


def list_model_versions(artifacts_dir: Path) -> list[str]:
    """Complete artifacts (model.onnx and metadata.json) under `artifacts_dir`, by name."""
    if not artifacts_dir.is_dir():
        return []
    return sorted(
        child.name
        for child in artifacts_dir.iterdir()
        if child.is_dir()
        and not child.name.startswith(".")
        and (child / MODEL_FILE).is_file()
        and (child / METADATA_FILE).is_file()
    )


def newest_model_version(artifacts_dir: Path) -> str:
    """The artifact with the latest `created_at` in its metadata (ties broken by name)."""
    versions = list_model_versions(artifacts_dir)
    if not versions:
        raise ConfigError(
            f"{CONTEXT_KEY}.model_version: no model artifact under {artifacts_dir}. "
            "Run `make model` first (or set serving.model_artifacts_dir)"
        )
    return max(
        versions, key=lambda name: (str(read_metadata(artifacts_dir / name).get("created_at", "")), name)
    )
