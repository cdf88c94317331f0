"""Register: the gated candidate becomes an immutable entry of the registry, `models/<version>/`,
with its lineage in metadata.json. Written with the same validation and uploader as `modelctl
publish` (every object created with If-None-Match, never overwritten). A candidate the gate did not
pass is refused here too, so no code path can register it."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from common.layout import metadata_key
from common.model.metadata import read_metadata, write_metadata
from release.errors import ReleaseError
from release.publish import ModelStoreUploader, validate_artifact
from retrain.errors import StepError
from retrain.runstore import RunStore
from retrain.settings import RetrainSettings


def lineage(
    *,
    prepared: dict[str, Any],
    evaluation: dict[str, Any],
    gate: dict[str, Any],
    execution: str,
    registered_at: str,
) -> dict[str, Any]:
    return {
        "source": "retraining",
        "execution": execution,
        "registered_at": registered_at,
        "parent_model_version": prepared["production"]["model_version"],
        "parent_function_version": prepared["production"]["function_version"],
        "data_fingerprint": prepared["data_fingerprint"],
        "data": {
            key: prepared[key]
            for key in ("base_source", "feedback_rows", "since", "until", "train_rows", "holdout_rows")
        },
        "holdout_metrics": {
            "candidate": evaluation["candidate"]["metrics"],
            "production": evaluation["production"]["metrics"],
        },
        "gate": {
            key: gate[key]
            for key in ("metric", "margin", "candidate_value", "production_value", "improvement", "checks")
        },
    }


def register(
    *,
    s3: Any,
    settings: RetrainSettings,
    prepared: dict[str, Any],
    candidate: dict[str, Any],
    evaluation: dict[str, Any],
    gate: dict[str, Any],
    execution: str,
    now: str,
) -> dict[str, Any]:
    if gate.get("releasable") is not True:
        raise StepError(f"refusing to register candidate {candidate['model_version']}: the gate rejected it")
    store = RunStore(s3, settings.model_bucket)
    uploader = ModelStoreUploader(s3, settings.model_bucket)
    version = str(candidate["model_version"])
    if store.get_bytes(metadata_key(version)) is not None:
        # The same bytes were registered before (versions name the model's bytes): keep that entry.
        return {"model_version": version, "model_uri": uploader.model_uri(version), "created": False}
    with tempfile.TemporaryDirectory(prefix="register-") as folder:
        directory = store.get_artifact(candidate["prefix"], Path(folder) / version)
        metadata = read_metadata(directory)
        if metadata.version != version:
            raise StepError(f"the staged candidate is model {metadata.version}, not {version}")
        entry = lineage(
            prepared=prepared, evaluation=evaluation, gate=gate, execution=execution, registered_at=now
        )
        write_metadata(directory, dataclasses.replace(metadata, lineage=entry))
        try:
            artifact = validate_artifact(directory)
            uploaded = uploader.upload(artifact)
        except ReleaseError as exc:
            raise StepError(f"registering {version}: {exc}") from exc
    return {
        "model_version": version,
        "model_uri": uploader.model_uri(version),
        "created": any(item.action == "upload" for item in uploaded),
    }
