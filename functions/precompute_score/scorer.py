"""Score one chunk of a precompute run with the registered model and write its items.

The model is the same artifact the inference function serves (`models/<version>/` in the model
store), loaded by the same code (`common.model.onnx_model.OnnxModel`) and fed the same float32 rows, so a
precomputed prediction equals the live one for the same input. Writing is idempotent: the items'
keys are (id, version), and the chunk's `done` marker is written only after all its items.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from common.layout import done_key
from common.model.artifact_source import resolve_model_dir
from common.model.onnx_model import OnnxModel
from common.precompute.grid import grid_row_id, parse_grid
from common.precompute.run import ID_COLUMN, ChunkTask
from common.precompute.table import PredictionTable, check_id, prediction_item

Loader = Callable[[Path], OnnxModel]
PREDICT_BATCH_ROWS = 1000


class ChunkError(ValueError):
    """A chunk's content does not match the model (written by an older plan, or edited)."""


class ModelLoader:
    """Keeps the last model loaded: a worker scores chunks of one run, so of one version."""

    def __init__(
        self,
        *,
        model_bucket: str,
        s3: Any,
        loader: Loader = OnnxModel.load,
        cache_dir: Path | None = None,
    ) -> None:
        self.model_bucket = model_bucket
        self.s3 = s3
        self._loader = loader
        self._cache_dir = cache_dir
        self._current: OnnxModel | None = None

    def get(self, version: str) -> OnnxModel:
        if self._current is not None and self._current.version == version:
            return self._current
        uri = f"s3://{self.model_bucket}/models/{version}/"
        extra = {"cache_dir": self._cache_dir} if self._cache_dir is not None else {}
        model = self._loader(resolve_model_dir(uri, s3_client=self.s3, **extra))
        if model.version != version:
            raise ChunkError(f"{uri} holds model {model.version!r}, not {version!r}")
        self._current = model
        return model


@dataclass(frozen=True)
class ChunkResult:
    index: int
    items: int

    def to_json(self) -> dict[str, int]:
        return {"index": self.index, "items": self.items}


def _csv_rows(text: str, feature_names: list[str]) -> Iterator[tuple[str, list[float]]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    expected = [ID_COLUMN, *feature_names]
    if header != expected:
        raise ChunkError(f"chunk header {header} is not {expected}: was it planned for another model?")
    for line, row in enumerate(reader, start=2):
        try:
            yield check_id(row[0]), [float(v) for v in row[1:]]
        except (ValueError, IndexError) as exc:
            raise ChunkError(f"chunk line {line}: {exc}") from exc


def chunk_rows(task: ChunkTask, s3: Any, feature_names: list[str]) -> Iterator[tuple[str, list[float]]]:
    body = s3.get_object(Bucket=task.bucket, Key=task.key)["Body"].read().decode("utf-8")
    if task.kind == "csv":
        yield from _csv_rows(body, feature_names)
        return
    grid = parse_grid(json.loads(body), feature_names)
    for row in grid.rows(task.start, task.stop):
        yield grid_row_id(row), row


def _batches(rows: Iterator[tuple[str, list[float]]], size: int) -> Iterator[tuple[list[str], np.ndarray]]:
    ids: list[str] = []
    values: list[list[float]] = []
    for id_, row in rows:
        ids.append(id_)
        values.append(row)
        if len(ids) == size:
            yield ids, np.asarray(values, dtype=np.float32)
            ids, values = [], []
    if ids:
        yield ids, np.asarray(values, dtype=np.float32)


def score_chunk(
    task: ChunkTask,
    *,
    s3: Any,
    models: ModelLoader,
    table: PredictionTable,
    work_bucket: str,
    ttl_days: int,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    batch_rows: int = PREDICT_BATCH_ROWS,
) -> ChunkResult:
    model = models.get(task.model_version)
    feature_names = list(model.metadata.feature_names)
    started = now()
    computed_at = started.isoformat(timespec="seconds").replace("+00:00", "Z")
    expires_at = int(started.timestamp()) + ttl_days * 86_400 if ttl_days > 0 else None
    written = 0
    for ids, rows in _batches(chunk_rows(task, s3, feature_names), batch_rows):
        prediction = model.predict(rows)
        probabilities = prediction.probabilities.tolist()
        written += table.put_items(
            prediction_item(
                id=id_,
                model_version=task.model_version,
                prediction=label,
                probabilities=probs,
                computed_at=computed_at,
                run_id=task.run_id,
                expires_at=expires_at,
            )
            for id_, label, probs in zip(ids, prediction.labels, probabilities, strict=True)
        )
    s3.put_object(
        Bucket=work_bucket,
        Key=done_key(task.run_id, task.index),
        Body=json.dumps({"items": written}).encode(),
        ContentType="application/json",
    )
    return ChunkResult(index=task.index, items=written)
