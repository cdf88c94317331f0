"""A regressor end to end in its own local cloud: ridge on diabetes trained and served (version 1),
a random forest regressor as the shadow candidate (mirrored requests scored, numeric records in S3),
then published and released as a canary (the in-process runner), then feedback with the true values
and `modelctl report accuracy` / the monitor function showing MAE, RMSE and mean error."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest

import app as cdk_app
from common.model.metadata import ModelMetadata
from localcloud.cloud import LocalCloud, LocalCloudSettings
from modelctl.factory import Factory
from tests.e2e.conftest import Api, http
from tests.unit.infra.infra_support import SKIP_BUNDLING, cdk_json_context
from tests.unit.modelctl.world import run_cli

REQUESTS = 12


@dataclass(frozen=True)
class Regression:
    cloud: LocalCloud
    api: Api
    live: ModelMetadata
    candidate: Path
    rows: list[list[float]]
    truth: list[float]

    def modelctl(self, *args: str) -> tuple[int, str]:
        env = {
            **os.environ,
            "MODELCTL_LOCAL_DEPLOYMENT": str(self.cloud.settings.state_dir / "deployment.json"),
        }
        code, output, _ = run_cli(Factory(env=env), *args)
        return code, output


def wait_for(condition: Callable[[], bool], message: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.3)


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Regression]:
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    data = load_builtin("diabetes")
    live = train_model(data, build_pipeline("ridge"), output_root=tmp_path_factory.mktemp("reg_live"))
    candidate = train_model(
        data, build_pipeline("random_forest_regressor"), output_root=tmp_path_factory.mktemp("reg_candidate")
    )
    outdir = tmp_path_factory.mktemp("reg_cdk.out")
    context = {
        **cdk_json_context(),
        **SKIP_BUNDLING,
        "serving.model_artifacts_dir": str(live.artifact_dir.parent),
    }
    cdk_app.build_app(cdk.App(context=context, outdir=str(outdir))).synth()
    settings = LocalCloudSettings(
        state_dir=tmp_path_factory.mktemp("reg-local-cloud"), cdk_out=outdir, gateway_port=0
    )
    with LocalCloud(settings) as cloud:
        yield Regression(
            cloud=cloud,
            api=Api(cloud),
            live=live.metadata,
            candidate=candidate.artifact_dir,
            rows=[[float(v) for v in row] for row in data.X[:REQUESTS]],
            truth=[float(v) for v in data.y[:REQUESTS]],
        )


def shadow_records(cloud: LocalCloud, since: datetime) -> list[dict[str, Any]]:
    from modelctl.reports.shadow.records import RecordReader
    from modelctl.reports.shadow.window import Window

    assert cloud.clients is not None and cloud.deployment is not None
    window = Window(since, datetime.now(tz=UTC) + timedelta(minutes=1))
    reader = RecordReader(cloud.clients.s3, cloud.deployment.output("LogBucketName"))
    return [r for r in reader.records(window) if r["timestamp"] >= window.since_text]


def test_a_regressor_through_shadow_canary_and_the_accuracy_report(regression: Regression) -> None:
    api, cloud, live = regression.api, regression.cloud, regression.live
    assert api.get("/health").json()["task"] == "regression"

    # GIVEN the candidate regressor as a shadow of every request
    code, output = regression.modelctl(
        "shadow", "start", regression.candidate.name, "--sample", "100",
        "--artifacts-dir", str(regression.candidate.parent),
    )  # fmt: skip
    assert code == 0, output
    probe_start = datetime.now(tz=UTC)

    def mirrored() -> bool:
        assert api.predict([regression.rows[0]]).status == 200
        return bool(shadow_records(cloud, probe_start))

    wait_for(mirrored, "no request was mirrored after `modelctl shadow start`")

    # WHEN requests arrive, each answered with a number
    window_start = datetime.now(tz=UTC)
    answers = [api.predict([row]) for row in regression.rows]
    assert [a.status for a in answers] == [200] * REQUESTS
    assert all(set(a.json()) == {"predictions", "model_version"} for a in answers)
    served = {a.headers["X-Request-Id"]: a.json()["predictions"][0] for a in answers}
    assert all(type(v) is float for v in served.values())

    # THEN every one becomes a shadow record: live and shadow numbers per row, latencies, no probabilities
    wait_for(
        lambda: {r["request_id"] for r in shadow_records(cloud, window_start)} >= set(served),
        "not every mirrored request became a shadow record",
    )
    records = {r["request_id"]: r for r in shadow_records(cloud, window_start) if r["request_id"] in served}
    for request_id, record in records.items():
        assert record["live"]["predictions"] == [served[request_id]] and record["live"]["probabilities"] == []
        assert record["shadow"]["model_version"] == regression.candidate.name
        assert type(record["shadow"]["predictions"][0]) is float and record["shadow"]["probabilities"] == []
        assert record["live"]["inference_ms"] >= 0 and record["shadow"]["inference_ms"] > 0
    assert regression.modelctl("shadow", "stop")[0] == 0

    # AND feedback with the true values joins them; a non-number is refused naming the label
    headers = {"Content-Type": "application/json", "x-api-key": api.key}
    truth = dict(zip(served, regression.truth, strict=True))
    body = {"feedback": [{"request_id": rid, "label": value} for rid, value in truth.items()]}
    stored = http(f"{api.url}/feedback", body=body, headers=headers)
    assert stored.status == 202, stored.body
    refused = http(f"{api.url}/feedback", body={"request_id": "x", "label": "151"}, headers=headers)
    assert refused.status == 400 and "label must be a finite number" in refused.json()["error"]["message"]

    code, output = regression.modelctl("report", "accuracy", "--since", "1h", "--window", "1h", "--json")
    assert code == 0, output
    (version,) = [v for v in json.loads(output)["versions"] if v["model_version"] == live.version]
    errors = [served[rid] - truth[rid] for rid in served]
    assert version["task"] == "regression" and version["labelled"] == REQUESTS
    assert version["mae"] == pytest.approx(sum(map(abs, errors)) / REQUESTS, rel=1e-5)
    assert version["rmse"] == pytest.approx(math.sqrt(sum(e * e for e in errors) / REQUESTS), rel=1e-5)
    assert version["mean_error"] == pytest.approx(sum(errors) / REQUESTS, rel=1e-5, abs=1e-6)

    # AND the monitor function publishes the regression metric
    assert cloud.deployment is not None
    response = boto3.client("lambda", region_name="us-east-1").invoke(
        FunctionName=cloud.deployment.output("MonitorFunctionName"), Payload=b"{}"
    )
    summary = json.loads(response["Payload"].read())
    assert response.get("FunctionError") is None, summary
    assert summary["quality_metric"] == "rmse" and summary["accuracy"] is None
    assert summary["labelled"] >= REQUESTS and summary["quality"] > 0


def test_a_regression_candidate_takes_a_canary_s_share(regression: Regression) -> None:
    api, live = regression.api, regression.live
    # GIVEN the candidate, published; WHEN it is released as a canary THEN both answer numbers
    code, output = regression.modelctl("publish", str(regression.candidate), "--reason", "e2e")
    assert code == 0, output
    function_version = output.strip().splitlines()[-1]
    code, output = regression.modelctl("canary", function_version, "--in-process", "--weight", "50")
    assert code == 0, output
    assert f"pre-traffic check passed: v{function_version}" in output
    versions: set[str] = set()

    def both_serve() -> bool:
        answer = api.predict([regression.rows[1]])
        assert answer.status == 200 and type(answer.json()["predictions"][0]) is float
        versions.add(answer.json()["model_version"])
        return len(versions) == 2

    wait_for(both_serve, "the canary never answered")
    assert versions == {live.version, regression.candidate.name}
    code, output = regression.modelctl("rollback", "--reason", "e2e")
    assert code == 0, output
