"""Precomputed predictions of a regressor: its numbers in the table (no probabilities attribute), and
GET /predictions/{id} answers the number the live model gives for the same row, without probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.model.onnx_model import OnnxModel
from common.precompute.table import parse_prediction_item, prediction_item
from tests.unit.precompute.conftest import World
from tests.unit.precompute.test_pipeline import get, put_csv, run, sample_rows

ROWS = 12


def test_a_regressor_s_precomputed_numbers_equal_its_live_answers(
    regression_world: World, tmp_path: Path
) -> None:
    world = regression_world
    rows = sample_rows(world, ROWS)
    summary = run(world, "run-1", {"s3_uri": put_csv(world, rows)}, tmp_path)
    assert summary["items"] == ROWS
    live = OnnxModel.load(world.model_dir).predict(np.asarray(rows, dtype=np.float32))
    for i in range(ROWS):
        response = get(world, f"row-{i}")
        assert response["statusCode"] == 200
        body = json.loads(response["body"])
        assert set(body) == {"id", "prediction", "model_version", "computed_at"}  # no probabilities
        assert type(body["prediction"]) is float
        assert body["prediction"] == live.labels[i]  # bit for bit
    item = world.dynamodb.get_item(
        TableName="predictions", Key={"pk": {"S": "ID#row-0"}, "sk": {"S": world.metadata.version}}
    )["Item"]
    assert "probabilities" not in item and set(item["prediction"]) == {"N"}


def test_a_regressor_s_item_shape() -> None:
    item = prediction_item(
        id="a",
        model_version="m-1",
        prediction=151.25,
        probabilities=None,
        computed_at="2026-01-01T00:00:00Z",
        run_id="r",
        expires_at=None,
    )
    assert item == {
        "pk": {"S": "ID#a"},
        "sk": {"S": "m-1"},
        "prediction": {"N": "151.25"},
        "computed_at": {"S": "2026-01-01T00:00:00Z"},
        "run_id": {"S": "r"},
    }
    parsed = parse_prediction_item(item)
    assert parsed.prediction == 151.25 and parsed.probabilities is None
    assert parsed.to_json() == {
        "id": "a",
        "prediction": 151.25,
        "model_version": "m-1",
        "computed_at": "2026-01-01T00:00:00Z",
    }
