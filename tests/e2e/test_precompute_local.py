"""Precomputed predictions end to end in the local cloud: `modelctl precompute --csv` starts the
state machine (plan -> distributed Map of chunk workers -> switch) in moto's interpreter, whose
Lambda tasks run on our workers; GET /predictions/{id} then answers from moto's DynamoDB what
POST /predict answers live for the same row."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from common.model.metadata import ModelMetadata
from localcloud.cloud import LocalCloud
from modelctl.cli import app
from release.errors import RefusedError
from tests.e2e.conftest import Api

ROWS = 23
CHUNK_SIZE = 5  # 5 chunks: the Map really fans out


@pytest.fixture()
def modelctl_env(local_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELCTL_LOCAL_DEPLOYMENT", str(local_cloud.settings.state_dir / "deployment.json"))


def precompute(*args: str) -> Result:
    return CliRunner().invoke(app, ["precompute", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def rows(trained_model: tuple[Path, ModelMetadata]) -> list[list[float]]:
    _, metadata = trained_model
    base = metadata.sample_rows[0]
    # Distinct rows around a real sample (the metadata carries a few): each a different prediction input.
    return [[round(value * (1 + 0.01 * i), 4) for value in base] for i in range(ROWS)]


@pytest.fixture(scope="module")
def input_csv(
    rows: list[list[float]],
    trained_model: tuple[Path, ModelMetadata],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    _, metadata = trained_model
    path = tmp_path_factory.mktemp("precompute") / "customers.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", *metadata.feature_names, "ignored_extra"])
        for i, row in enumerate(rows):
            writer.writerow([f"c-{i:03d}", *row, "x"])
    return path


def table_items(cloud: LocalCloud) -> list[dict[str, object]]:
    assert cloud.clients is not None and cloud.deployment is not None
    table = cloud.deployment.output("PredictionsTableName")
    client = cloud.clients.client("dynamodb")
    items: list[dict[str, object]] = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    return items


@pytest.mark.usefixtures("modelctl_env")
def test_precompute_serves_what_live_inference_answers(
    local_cloud: LocalCloud, api: Api, input_csv: Path, rows: list[list[float]]
) -> None:
    result = precompute(
        "--csv", str(input_csv), "--id-column", "customer_id", "--chunk-size", str(CHUNK_SIZE)
    )
    assert result.exit_code == 0, result.output
    assert f"{ROWS} predictions in 5 chunks" in result.output

    live = api.predict(rows)
    assert live.status == 200, live.body
    expected = live.json()
    for i in (0, 7, ROWS - 1):
        answer = api.get(f"/predictions/c-{i:03d}")
        assert answer.status == 200, answer.body
        body = answer.json()
        assert body["prediction"] == expected["predictions"][i]
        assert body["probabilities"] == expected["probabilities"][i]
        assert body["model_version"] == expected["model_version"]
        assert answer.headers["X-Model-Version"] == expected["model_version"]

    # A re-run of the same version overwrites the same items: no duplicates, a new run id.
    before = table_items(local_cloud)
    rerun = precompute("--csv", str(input_csv), "--id-column", "customer_id", "--chunk-size", "10")
    assert rerun.exit_code == 0, rerun.output
    after = table_items(local_cloud)
    assert len(after) == len(before) == ROWS + 1  # the items and the pointer
    assert {json.dumps(i["run_id"]) for i in after if "run_id" in i and "prediction" in i} != {
        json.dumps(i["run_id"]) for i in before if "prediction" in i
    }


@pytest.mark.usefixtures("modelctl_env")
def test_unknown_id_is_a_clear_404(api: Api, local_cloud: LocalCloud, input_csv: Path) -> None:
    if not table_items(local_cloud):
        assert precompute("--csv", str(input_csv), "--id-column", "customer_id").exit_code == 0
    answer = api.get("/predictions/no-such-customer")
    assert answer.status == 404
    error = answer.json()["error"]
    assert error["code"] == "unknown_id"
    assert "no-such-customer" in error["message"]
    assert api.get("/predictions/c-000").status == 200
    assert answer.headers.get("X-Model-Version")


@pytest.mark.usefixtures("modelctl_env")
def test_grid_over_the_cap_is_refused_before_anything_starts(
    local_cloud: LocalCloud, trained_model: tuple[Path, ModelMetadata], tmp_path: Path
) -> None:
    _, metadata = trained_model
    spec = {"features": {name: [0.0, 1.0] for name in metadata.feature_names}}  # 2^30 rows
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(spec))
    assert local_cloud.clients is not None
    sfn = local_cloud.clients.client("stepfunctions")
    assert local_cloud.deployment is not None
    machine = local_cloud.deployment.output("StateMachineArn", stack="Precompute")
    before = len(sfn.list_executions(stateMachineArn=machine)["executions"])
    result = CliRunner().invoke(app, ["precompute", "--grid", str(path)])
    assert isinstance(result.exception, RefusedError)
    message = str(result.exception)
    assert "2 x 2" in message and "1,073,741,824 rows" in message and "cap of 1,000,000" in message
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == before
