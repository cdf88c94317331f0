"""The SageMaker training path (`retrain_compute: sagemaker`), for data that outgrows one function.

The state machine runs a SageMaker training job with the managed scikit-learn image instead of the
train step. The job's entry script (`main`, packed as `train_entry.py` with `training/`, `common/` and
`retrain/` by infra/constructs/retraining.py) runs the same `train_candidate` as the Lambda path on the
prepared training set (channel `train`) and writes the artifact to the job's model directory;
SageMaker uploads it as `model.tar.gz`. The `collect` step then copies it to the run's staging area,
where evaluate, gate and register find it exactly as after the Lambda train step.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from common.layout import METADATA_FILE, MODEL_FILE
from common.model.artifact_source import parse_s3_uri
from common.model.metadata import read_metadata
from retrain.errors import StepError
from retrain.runstore import TRAIN_FILE, RunStore, dataset_from_document
from retrain.settings import RetrainSettings
from retrain.train import candidate_summary
from training.train import TrainResult

CANDIDATE_DIR = "candidate"


def main(argv: list[str] | None = None) -> None:
    """SageMaker's entry point: hyperparameters arrive as `--name value` arguments."""
    from retrain.train import train_candidate

    parser = argparse.ArgumentParser()
    parser.add_argument("--pipeline", default="logistic_regression")
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parent-version", default="")
    args, _ = parser.parse_known_args(argv)
    channel = Path(os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    document = json.loads(gzip.decompress((channel / TRAIN_FILE).read_bytes()))
    settings = RetrainSettings(
        model_bucket="-",
        feedback_bucket="-",
        function_name="-",
        alias_name="-",
        pipeline=args.pipeline,
        test_size=args.test_size,
        seed=args.seed,
    )
    with tempfile.TemporaryDirectory() as folder:
        result = train_candidate(
            dataset_from_document(document), settings, parent_version=args.parent_version, output=Path(folder)
        )
        target = model_dir / CANDIDATE_DIR
        target.mkdir(parents=True, exist_ok=True)
        for name in (MODEL_FILE, METADATA_FILE):
            (target / name).write_bytes((result.artifact_dir / name).read_bytes())
    print(f"candidate {result.metadata.version}: {json.dumps(result.metadata.metrics)}", flush=True)


def collect(
    *, s3: Any, settings: RetrainSettings, prepared: dict[str, Any], job: dict[str, Any]
) -> dict[str, Any]:
    """Copy the training job's artifact (model.tar.gz) to the run's candidate staging prefix."""
    uri = str((job.get("ModelArtifacts") or {}).get("S3ModelArtifacts") or "")
    if not uri:
        raise StepError(f"training job {job.get('TrainingJobName')} reports no model artifacts")
    bucket, key = parse_s3_uri(uri)
    archive = RunStore(s3, bucket).require_bytes(key.rstrip("/"))
    with (
        tempfile.TemporaryDirectory() as folder,
        tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar,
    ):
        directory = Path(folder) / CANDIDATE_DIR
        directory.mkdir()
        for name in (MODEL_FILE, METADATA_FILE):
            member = tar.extractfile(f"{CANDIDATE_DIR}/{name}")
            if member is None:
                raise StepError(f"{uri} holds no {CANDIDATE_DIR}/{name}")
            (directory / name).write_bytes(member.read())
        prefix = prepared["prefix"] + "candidate/"
        RunStore(s3, settings.model_bucket).put_artifact(prefix, directory)
        result = TrainResult(artifact_dir=directory, metadata=read_metadata(directory), created=True)
        return candidate_summary(result, prefix)
