"""Where a run keeps its data between steps: `retraining/` in the model store bucket.

    retraining/runs/<run>/train/train.json.gz, holdout.json.gz   the prepared data (model's feature order)
    retraining/runs/<run>/candidate/model.onnx, metadata.json   the trained candidate (not registered)
    retraining/watermark.json   the `until` of the last successful run: where the next one reads from

The registry itself is `models/<version>/` (written once, by the register step only).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from common.layout import METADATA_FILE, MODEL_FILE, RETRAINING_PREFIX
from retrain.errors import StepError, TransientStepError
from training.data import Dataset

WATERMARK_KEY = f"{RETRAINING_PREFIX}watermark.json"
TRAIN_FILE = "train.json.gz"
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "SlowDown",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
        "503",
        "500",
        "TooManyRequestsException",
        "RequestLimitExceeded",
    }
)


def run_prefix(run_id: str) -> str:
    return f"{RETRAINING_PREFIX}runs/{run_id}/"


def run_id_of(execution_arn: str) -> str:
    """The execution's name (the last part of its ARN): unique per state machine."""
    name = execution_arn.rsplit(":", 1)[-1]
    if not name:
        raise StepError(f"cannot derive a run id from execution {execution_arn!r}")
    return name


def aws_failure(action: str, exc: Exception) -> Exception:
    """Throttling and 5xx become TransientStepError (the workflow retries them), others StepError."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        message = str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
        kind = TransientStepError if code in _TRANSIENT_CODES else StepError
        return kind(f"{action}: {code}: {message}")
    if isinstance(exc, BotoCoreError):
        return TransientStepError(f"{action}: {exc}")
    return exc


@dataclass(frozen=True)
class RunStore:
    s3: Any
    bucket: str

    def put_bytes(self, key: str, body: bytes) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure(f"writing s3://{self.bucket}/{key}", exc) from exc

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404"):
                return None
            raise aws_failure(f"reading s3://{self.bucket}/{key}", exc) from exc
        except BotoCoreError as exc:
            raise aws_failure(f"reading s3://{self.bucket}/{key}", exc) from exc

    def require_bytes(self, key: str) -> bytes:
        body = self.get_bytes(key)
        if body is None:
            raise StepError(f"s3://{self.bucket}/{key} does not exist")
        return body

    def put_json(self, key: str, document: Any) -> None:
        self.put_bytes(key, json.dumps(document, sort_keys=True).encode())

    def get_json(self, key: str) -> Any:
        body = self.get_bytes(key)
        return None if body is None else json.loads(body)

    # -- data sets ---------------------------------------------------------------------------------

    def put_dataset(self, key: str, dataset: Dataset) -> None:
        document = {
            "feature_names": dataset.feature_names,
            "source": dataset.source,
            "X": np.asarray(dataset.X, dtype=np.float64).tolist(),
            "y": [v.item() if hasattr(v, "item") else v for v in dataset.y],
        }
        self.put_bytes(key, gzip.compress(json.dumps(document).encode(), mtime=0))

    def get_dataset(self, key: str) -> Dataset:
        document = json.loads(gzip.decompress(self.require_bytes(key)))
        return dataset_from_document(document)

    # -- artifacts ---------------------------------------------------------------------------------

    def put_artifact(self, prefix: str, directory: Path) -> None:
        for name in (MODEL_FILE, METADATA_FILE):  # metadata last: it marks the artifact complete
            self.put_bytes(prefix + name, (directory / name).read_bytes())

    def get_artifact(self, prefix: str, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for name in (MODEL_FILE, METADATA_FILE):
            (directory / name).write_bytes(self.require_bytes(prefix + name))
        return directory

    # -- watermark ---------------------------------------------------------------------------------

    def watermark(self) -> datetime | None:
        document = self.get_json(WATERMARK_KEY)
        if not isinstance(document, dict) or not document.get("until"):
            return None
        return datetime.fromisoformat(str(document["until"]))

    def advance_watermark(self, until: datetime, *, execution: str, model_version: str) -> None:
        self.put_json(
            WATERMARK_KEY,
            {"until": until.isoformat(), "execution": execution, "model_version": model_version},
        )


def dataset_from_document(document: dict[str, Any]) -> Dataset:
    y = document["y"]
    labels = (
        np.asarray(y)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in y)
        else (np.asarray(y, dtype=object).astype(str))
    )
    return Dataset(
        X=np.asarray(document["X"], dtype=np.float64).reshape(len(y), len(document["feature_names"])),
        y=labels,
        feature_names=list(document["feature_names"]),
        source=str(document["source"]),
    )
