"""Plan a precompute run: validate the input against the model, split it into chunk tasks.

Everything that can be refused is refused here, before any prediction is written: an unknown
model version, a missing id or feature column, a value that is not a number, a duplicate id, an
empty input, and an input (or grid product) larger than the configured cap. Tables (CSV or
Parquet) are streamed once and rewritten as CSV chunks of `id + features` in the model's order, so
the scoring workers never need pyarrow; a grid is validated and cut into index ranges, and each
worker expands its own range.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.layout import chunk_key, grid_key, manifest_key, metadata_key
from common.model.artifact_source import parse_s3_uri
from common.model.metadata import ModelMetadata
from common.precompute.grid import GridSpec, check_grid_size, parse_grid
from common.precompute.run import ID_COLUMN, ChunkTask
from common.precompute.table import IdError, PredictionTable, check_id


class PlanError(ValueError):
    """The run cannot start; the message names what was wrong."""


@dataclass(frozen=True)
class PlanRequest:
    run_id: str
    model_version: str
    input_uri: str | None
    grid: Mapping[str, Any] | None
    grid_uri: str | None
    id_column: str
    chunk_size: int

    @classmethod
    def from_event(cls, step: Mapping[str, Any], *, default_input_uri: str, chunk_size: int) -> PlanRequest:
        """`step` is {"run_id": <execution name>, "request": <the execution input>}."""
        run_id = str(step.get("run_id") or "")
        if not run_id:
            raise PlanError("the plan step was invoked without a run_id")
        event = step.get("request")
        if not isinstance(event, Mapping):
            raise PlanError("the execution input must be a JSON object")
        source = event.get("input") or {}
        if not isinstance(source, Mapping):
            raise PlanError(
                '"input" must be an object: {"s3_uri": ...} or {"grid": {...}} or {"grid_uri": ...}'
            )
        input_uri = source.get("s3_uri")
        grid = source.get("grid")
        grid_uri = source.get("grid_uri")
        given = [
            name for name, value in (("s3_uri", input_uri), ("grid", grid), ("grid_uri", grid_uri)) if value
        ]
        if len(given) > 1:
            raise PlanError(f"give one input, not {' and '.join(given)}")
        if not given:
            if not default_input_uri:
                raise PlanError(
                    'no input: pass {"input": {"s3_uri": ...}} (or a grid) or configure '
                    "serving.precompute_input_uri"
                )
            input_uri = default_input_uri
        size = int(event.get("chunk_size") or chunk_size)
        if size < 1:
            raise PlanError(f"chunk_size must be positive, got {size}")
        version = event.get("model_version")
        if not version or not isinstance(version, str):
            raise PlanError('the execution input needs "model_version": the registered model to score with')
        return cls(
            run_id=run_id,
            model_version=version,
            input_uri=str(input_uri) if input_uri else None,
            grid=grid if isinstance(grid, Mapping) else None,
            grid_uri=str(grid_uri) if grid_uri else None,
            id_column=str(source.get("id_column") or ID_COLUMN),
            chunk_size=size,
        )


@dataclass(frozen=True)
class Plan:
    run_id: str
    model_version: str
    bucket: str
    manifest_key: str
    chunks: int
    items: int
    expected_version: str | None
    """The version served when the run was planned: the switch only replaces that one."""

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model_version": self.model_version,
            "bucket": self.bucket,
            "manifest_key": self.manifest_key,
            "chunks": self.chunks,
            "items": self.items,
            "expected_version": self.expected_version,
        }


def read_table_rows(
    path: Path, *, parquet: bool, id_column: str, feature_names: Sequence[str]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or row number, {column: value}) for each row of a CSV or Parquet file, only the
    columns the run needs."""
    wanted = [id_column, *feature_names]
    if parquet:
        import pyarrow.parquet as pq  # only the plan function carries pyarrow

        handle = pq.ParquetFile(path)
        columns = set(handle.schema_arrow.names)
        _check_columns(columns, id_column, feature_names)
        number = 1
        for batch in handle.iter_batches(columns=wanted, batch_size=10_000):
            for row in batch.to_pylist():
                yield number, row
                number += 1
        return
    with path.open(encoding="utf-8-sig", newline="") as text:
        reader = csv.DictReader(text)
        _check_columns(set(reader.fieldnames or []), id_column, feature_names)
        for row in reader:
            yield reader.line_num, row


def _check_columns(columns: set[str], id_column: str, feature_names: Sequence[str]) -> None:
    if id_column not in columns:
        raise PlanError(f"the input has no id column {id_column!r} (columns: {', '.join(sorted(columns))})")
    missing = [name for name in feature_names if name not in columns]
    if missing:
        raise PlanError(f"the input lacks {len(missing)} model feature column(s): {', '.join(missing)}")


def _number_text(raw: Any, *, line: int, column: str) -> str:
    """The value as chunk text: validated as a finite number; CSV text is kept as written (the
    worker parses it exactly as this did), other values are written with repr (round-trips)."""
    if isinstance(raw, bool):
        raise PlanError(f"row {line}, column {column!r}: {raw!r} is not a number")
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise PlanError(f"row {line}, column {column!r}: {raw!r} is not a number") from exc
    if not math.isfinite(value):
        raise PlanError(f"row {line}, column {column!r}: {raw!r} is not a finite number")
    return raw.strip() if isinstance(raw, str) else repr(value)


class Planner:
    def __init__(
        self,
        *,
        s3: Any,
        table: PredictionTable,
        work_bucket: str,
        model_bucket: str,
        max_items: int,
        tmp_dir: Path | None = None,
    ) -> None:
        self.s3 = s3
        self.table = table
        self.work_bucket = work_bucket
        self.model_bucket = model_bucket
        self.max_items = max_items
        self.tmp_dir = tmp_dir

    def plan(self, request: PlanRequest) -> Plan:
        version = request.model_version
        metadata = self._metadata(version)
        pointer = self.table.served()
        if request.input_uri is not None:
            tasks, items = self._plan_table(request, version, metadata.feature_names)
        else:
            tasks, items = self._plan_grid(request, version, metadata.feature_names)
        key = manifest_key(request.run_id)
        self._put(key, json.dumps([task.to_json() for task in tasks]).encode(), "application/json")
        return Plan(
            run_id=request.run_id,
            model_version=version,
            bucket=self.work_bucket,
            manifest_key=key,
            chunks=len(tasks),
            items=items,
            expected_version=pointer.model_version if pointer else None,
        )

    def _metadata(self, version: str) -> ModelMetadata:
        key = metadata_key(version)
        try:
            body = self.s3.get_object(Bucket=self.model_bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey as exc:
            raise PlanError(
                f"model version {version!r} is not in the model store (no s3://{self.model_bucket}/{key})"
            ) from exc
        return ModelMetadata.from_dict(json.loads(body))

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(Bucket=self.work_bucket, Key=key, Body=body, ContentType=content_type)

    # -- grids ------------------------------------------------------------------------------------

    def _plan_grid(
        self, request: PlanRequest, version: str, features: Sequence[str]
    ) -> tuple[list[ChunkTask], int]:
        document: Any = request.grid
        if document is None:
            assert request.grid_uri is not None
            bucket, key = _object_uri(request.grid_uri)
            document = json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        grid: GridSpec = parse_grid(document, features)
        check_grid_size(grid, self.max_items)
        key = grid_key(request.run_id)
        self._put(key, json.dumps(grid.to_document()).encode(), "application/json")
        tasks = [
            ChunkTask(
                run_id=request.run_id,
                index=index,
                kind="grid",
                bucket=self.work_bucket,
                key=key,
                model_version=version,
                start=start,
                stop=min(start + request.chunk_size, grid.size),
            )
            for index, start in enumerate(range(0, grid.size, request.chunk_size))
        ]
        return tasks, grid.size

    # -- tables (CSV, Parquet) --------------------------------------------------------------------

    def _plan_table(
        self, request: PlanRequest, version: str, features: Sequence[str]
    ) -> tuple[list[ChunkTask], int]:
        assert request.input_uri is not None
        bucket, key = _object_uri(request.input_uri)
        parquet = key.lower().endswith((".parquet", ".pq"))
        with tempfile.TemporaryDirectory(dir=self.tmp_dir) as scratch:
            local = Path(scratch) / "input"
            try:
                self.s3.download_file(Bucket=bucket, Key=key, Filename=str(local))
            except Exception as exc:  # botocore raises ClientError subclasses with the HTTP status
                raise PlanError(f"cannot read {request.input_uri}: {exc}") from exc
            rows = read_table_rows(
                local, parquet=parquet, id_column=request.id_column, feature_names=features
            )
            return self._write_chunks(request, version, features, rows)

    def _write_chunks(
        self,
        request: PlanRequest,
        version: str,
        features: Sequence[str],
        rows: Iterator[tuple[int, dict[str, Any]]],
    ) -> tuple[list[ChunkTask], int]:
        tasks: list[ChunkTask] = []
        seen: set[str] = set()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        in_chunk = 0

        def flush() -> None:
            nonlocal buffer, writer, in_chunk
            key = chunk_key(request.run_id, len(tasks))
            self._put(key, buffer.getvalue().encode("utf-8"), "text/csv")
            tasks.append(
                ChunkTask(
                    run_id=request.run_id,
                    index=len(tasks),
                    kind="csv",
                    bucket=self.work_bucket,
                    key=key,
                    model_version=version,
                )
            )
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            in_chunk = 0

        for line, row in rows:
            if len(seen) >= self.max_items:
                raise PlanError(
                    f"the input has more than {self.max_items:,} rows (serving.precompute_max_items): "
                    "split it, raise the cap, or serve this model with live inference"
                )
            try:
                id_ = check_id(str(row[request.id_column] if row[request.id_column] is not None else ""))
            except IdError as exc:
                raise PlanError(f"row {line}, column {request.id_column!r}: {exc}") from exc
            if id_ in seen:
                raise PlanError(f"row {line}: id {id_!r} appears twice; ids must be unique")
            seen.add(id_)
            if in_chunk == 0:
                writer.writerow([ID_COLUMN, *features])
            writer.writerow([id_, *[_number_text(row[f], line=line, column=f) for f in features]])
            in_chunk += 1
            if in_chunk == request.chunk_size:
                flush()
        if in_chunk:
            flush()
        if not seen:
            raise PlanError(f"{request.input_uri} has no rows")
        return tasks, len(seen)


def _object_uri(uri: str) -> tuple[str, str]:
    try:
        bucket, prefix = parse_s3_uri(uri)
    except ValueError as exc:
        raise PlanError(str(exc)) from exc
    key = prefix.rstrip("/")
    if not key:
        raise PlanError(f"{uri!r} names a bucket, not an object")
    return bucket, key
