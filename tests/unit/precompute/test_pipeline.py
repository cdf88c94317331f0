"""Plan -> score -> switch against moto: chunking, item shapes, batch equals live, idempotent
re-runs, atomic switches, and the lookup's answers."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.model.onnx_model import OnnxModel
from common.precompute.run import ChunkTask
from common.precompute.table import PointerConflictError, prediction_item
from precompute_control.planner import Plan, PlanError, Planner, PlanRequest
from precompute_control.switch import IncompleteRunError, switch_served_version
from precompute_score.scorer import ModelLoader, score_chunk
from predictions.lookup import lookup_response
from tests.unit.precompute.conftest import MODEL_BUCKET, WORK_BUCKET, World

ROWS = 12


def sample_rows(world: World, n: int = ROWS) -> list[list[float]]:
    base = world.metadata.sample_rows[0]
    return [[round(v * (1 + 0.02 * i), 5) for v in base] for i in range(n)]


def put_csv(
    world: World, rows: list[list[float]], key: str = "inputs/data.csv", id_column: str = "id"
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([id_column, *world.metadata.feature_names])
    for i, row in enumerate(rows):
        writer.writerow([f"row-{i}", *row])
    world.s3.put_object(Bucket=WORK_BUCKET, Key=key, Body=buffer.getvalue().encode())
    return f"s3://{WORK_BUCKET}/{key}"


def planner(world: World, max_items: int = 1000) -> Planner:
    return Planner(
        s3=world.s3,
        table=world.table,
        work_bucket=WORK_BUCKET,
        model_bucket=MODEL_BUCKET,
        max_items=max_items,
    )


def request(world: World, run_id: str, source: dict[str, Any], chunk_size: int = 5) -> PlanRequest:
    step = {"run_id": run_id, "request": {"model_version": world.metadata.version, "input": source}}
    return PlanRequest.from_event(step, default_input_uri="", chunk_size=chunk_size)


def run(
    world: World, run_id: str, source: dict[str, Any], tmp_path: Path, chunk_size: int = 5
) -> dict[str, Any]:
    """What the state machine does: plan, score every manifest item, switch."""
    plan = planner(world).plan(request(world, run_id, source, chunk_size))
    manifest = json.loads(world.s3.get_object(Bucket=WORK_BUCKET, Key=plan.manifest_key)["Body"].read())
    models = ModelLoader(model_bucket=MODEL_BUCKET, s3=world.s3, cache_dir=tmp_path / "models")
    for item in manifest:
        score_chunk(
            ChunkTask.from_json(item),
            s3=world.s3,
            models=models,
            table=world.table,
            work_bucket=WORK_BUCKET,
            ttl_days=90,
        )
    return switch_served_version(plan.to_json(), s3=world.s3, table=world.table)


def count_items(world: World) -> int:
    return sum(
        page["Count"] for page in world.dynamodb.get_paginator("scan").paginate(TableName="predictions")
    )


def get(world: World, id_: str) -> dict[str, Any]:
    return lookup_response({"httpMethod": "GET", "pathParameters": {"id": id_}}, world.table, "req-1")


def test_csv_is_cut_into_chunks_of_id_and_features_in_model_order(world: World) -> None:
    uri = put_csv(world, sample_rows(world))
    plan: Plan = planner(world).plan(request(world, "run-1", {"s3_uri": uri}, chunk_size=5))
    assert (plan.chunks, plan.items, plan.expected_version) == (3, ROWS, None)
    manifest = json.loads(world.s3.get_object(Bucket=WORK_BUCKET, Key=plan.manifest_key)["Body"].read())
    assert [m["key"] for m in manifest] == [f"runs/run-1/chunks/{i:05d}.csv" for i in range(3)]
    body = world.s3.get_object(Bucket=WORK_BUCKET, Key=manifest[2]["key"])["Body"].read().decode()
    lines = body.splitlines()
    assert lines[0].split(",") == ["id", *world.metadata.feature_names]
    assert len(lines) == 1 + 2  # rows 10 and 11


def test_parquet_input_is_planned_like_csv(world: World, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sample_rows(world, 4)
    columns: dict[str, list[Any]] = {"id": [f"row-{i}" for i in range(4)]}
    for j, name in enumerate(world.metadata.feature_names):
        columns[name] = [row[j] for row in rows]
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table(columns), path)
    world.s3.upload_file(str(path), WORK_BUCKET, "inputs/data.parquet")
    summary = run(world, "run-pq", {"s3_uri": f"s3://{WORK_BUCKET}/inputs/data.parquet"}, tmp_path)
    assert summary["items"] == 4
    assert get(world, "row-3")["statusCode"] == 200


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda text: text.replace("id,", "key,", 1), "no id column 'id'"),
        (lambda text: text.replace("row-3,", "row-2,", 1), "id 'row-2' appears twice"),
        (lambda text: text.replace("row-4,", "row-4,abc", 1), "is not a number"),
        (lambda text: text.splitlines()[0] + "\n", "has no rows"),
    ],
)
def test_bad_inputs_are_refused_before_any_item_is_written(world: World, mutate: Any, message: str) -> None:
    uri = put_csv(world, sample_rows(world))
    key = uri.split("/", 3)[3]
    text = world.s3.get_object(Bucket=WORK_BUCKET, Key=key)["Body"].read().decode()
    world.s3.put_object(Bucket=WORK_BUCKET, Key=key, Body=mutate(text).encode())
    with pytest.raises(PlanError, match=message):
        planner(world).plan(request(world, "run-bad", {"s3_uri": uri}))
    assert count_items(world) == 0


def test_more_rows_than_the_cap_are_refused(world: World) -> None:
    uri = put_csv(world, sample_rows(world))
    with pytest.raises(PlanError, match="more than 10 rows"):
        planner(world, max_items=10).plan(request(world, "run-cap", {"s3_uri": uri}))


def test_a_grid_over_the_cap_is_refused_by_the_plan_before_any_file_is_written(world: World) -> None:
    grid = {"features": {name: [0.0, 1.0] for name in world.metadata.feature_names}}
    with pytest.raises(ValueError, match="1,073,741,824 rows"):
        planner(world).plan(request(world, "run-grid", {"grid": grid}))
    assert "Contents" not in world.s3.list_objects_v2(Bucket=WORK_BUCKET, Prefix="runs/")


def test_unknown_model_version_is_refused(world: World) -> None:
    step = {"run_id": "r", "request": {"model_version": "m-nope", "input": {"s3_uri": "s3://x/y.csv"}}}
    with pytest.raises(PlanError, match="'m-nope' is not in the model store"):
        planner(world).plan(PlanRequest.from_event(step, default_input_uri="", chunk_size=5))


def test_batch_predictions_equal_live_predictions(world: World, tmp_path: Path) -> None:
    rows = sample_rows(world)
    run(world, "run-1", {"s3_uri": put_csv(world, rows)}, tmp_path)
    live = OnnxModel.load(world.model_dir).predict(np.asarray(rows, dtype=np.float32))
    for i in range(ROWS):
        response = get(world, f"row-{i}")
        assert response["statusCode"] == 200
        assert response["headers"]["X-Model-Version"] == world.metadata.version
        body = json.loads(response["body"])
        assert body["prediction"] == live.labels[i]
        assert body["probabilities"] == live.probabilities[i].tolist()  # bit for bit


def test_grid_run_serves_every_combination_by_its_row_id(world: World, tmp_path: Path) -> None:
    base = world.metadata.sample_rows[0]
    features: dict[str, list[float]] = {
        name: [v] for name, v in zip(world.metadata.feature_names, base, strict=True)
    }
    first = world.metadata.feature_names[0]
    features[first] = [10.0, 15.5, 20.0]
    summary = run(world, "run-grid", {"grid": {"features": features}}, tmp_path, chunk_size=2)
    assert (summary["items"], summary["chunks"]) == (3, 2)
    from common.precompute.grid import grid_row_id

    row = [15.5, *base[1:]]
    response = get(world, grid_row_id(row))
    assert response["statusCode"] == 200
    live = OnnxModel.load(world.model_dir).predict(np.asarray([row], dtype=np.float32))
    assert json.loads(response["body"])["probabilities"] == live.probabilities[0].tolist()


def test_rerun_overwrites_the_same_items(world: World, tmp_path: Path) -> None:
    uri = put_csv(world, sample_rows(world))
    run(world, "run-1", {"s3_uri": uri}, tmp_path)
    assert count_items(world) == ROWS + 1  # items + pointer
    summary = run(world, "run-2", {"s3_uri": uri}, tmp_path, chunk_size=4)
    assert count_items(world) == ROWS + 1
    assert summary["previous_version"] == world.metadata.version
    assert json.loads(get(world, "row-0")["body"])["model_version"] == world.metadata.version


def test_item_shape(world: World) -> None:
    item = prediction_item(
        id="a",
        model_version="m-1",
        prediction=1,
        probabilities=[0.25, 0.75],
        computed_at="2026-01-01T00:00:00Z",
        run_id="r",
        expires_at=123,
    )
    assert item == {
        "pk": {"S": "ID#a"},
        "sk": {"S": "m-1"},
        "prediction": {"N": "1"},
        "probabilities": {"L": [{"N": "0.25"}, {"N": "0.75"}]},
        "computed_at": {"S": "2026-01-01T00:00:00Z"},
        "run_id": {"S": "r"},
        "expires_at": {"N": "123"},
    }


def test_unknown_id_is_a_404_naming_it(world: World, tmp_path: Path) -> None:
    assert json.loads(get(world, "row-0")["body"])["error"]["code"] == "no_predictions"
    run(world, "run-1", {"s3_uri": put_csv(world, sample_rows(world))}, tmp_path)
    response = get(world, "nobody")
    assert response["statusCode"] == 404
    error = json.loads(response["body"])["error"]
    assert error["code"] == "unknown_id" and "'nobody'" in error["message"]
    assert get(world, "")["statusCode"] == 400


def test_switch_refuses_an_incomplete_run(world: World, tmp_path: Path) -> None:
    uri = put_csv(world, sample_rows(world))
    plan = planner(world).plan(request(world, "run-1", {"s3_uri": uri}))
    with pytest.raises(IncompleteRunError, match="0 of 3 chunks"):
        switch_served_version(plan.to_json(), s3=world.s3, table=world.table)
    assert world.table.served() is None


def test_switch_refuses_when_another_run_switched_since_planning(world: World) -> None:
    world.table.switch(model_version="m-a", run_id="a", items=1, expected=None, switched_at="t")
    world.table.switch(model_version="m-b", run_id="b", items=1, expected="m-a", switched_at="t")
    with pytest.raises(PointerConflictError, match="changed to 'm-b'"):
        world.table.switch(model_version="m-c", run_id="c", items=1, expected="m-a", switched_at="t")
    served = world.table.served()
    assert served is not None and served.model_version == "m-b"


def test_readers_during_a_switch_see_one_complete_version(world: World) -> None:
    """GIVEN version A served and version B being written, WHEN readers read all ids while B's items
    are written and the pointer flips, THEN every read returns the version the pointer names, and a
    reader's pass over all ids never mixes A and B before the flip."""
    ids = [f"id-{i}" for i in range(40)]

    def items(version: str) -> list[dict[str, Any]]:
        return [
            prediction_item(
                id=i,
                model_version=version,
                prediction=version,
                probabilities=[1.0],
                computed_at="t",
                run_id=version,
                expires_at=None,
            )
            for i in ids
        ]

    world.table.put_items(items("A"))
    world.table.switch(model_version="A", run_id="A", items=len(ids), expected=None, switched_at="t")
    seen: list[set[str]] = []
    stop = threading.Event()
    failures: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            versions = set()
            for id_ in ids:
                pointer, prediction = world.table.lookup(id_)
                if prediction is None or pointer is None:
                    failures.append(f"{id_}: missing")
                    continue
                if (
                    prediction.model_version != pointer.model_version
                    or prediction.prediction != pointer.model_version
                ):
                    failures.append(
                        f"{id_}: item {prediction.model_version} under pointer {pointer.model_version}"
                    )
                versions.add(prediction.model_version)
            seen.append(versions)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        written = world.table.put_items(items("B"))  # all of B, while A is served
        reads_before_flip = len(seen)
        world.table.switch(model_version="B", run_id="B", items=written, expected="A", switched_at="t")
        wanted = len(seen) + 2
        deadline = time.monotonic() + 60
        while len(seen) < wanted and time.monotonic() < deadline:
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join()
    assert not failures
    assert all(passes == {"A"} for passes in seen[:reads_before_flip])
    assert seen[-1] == {"B"}  # a pass that started after the flip
