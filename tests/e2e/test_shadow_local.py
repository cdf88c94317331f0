"""Shadow deployment end to end through the local cloud: HTTP -> gateway -> alias -> inference worker
(mirror) -> SQS (moto) -> local event source (the stack's batch size and window) -> shadow function
worker -> S3 records -> `modelctl shadow report`, whose counts must match the requests sent."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from common.model.metadata import ModelMetadata
from localcloud.cloud import LocalCloud
from modelctl.cli import app
from modelctl.factory import Factory
from tests.e2e.conftest import Api

REQUESTS = 30


@pytest.fixture(scope="module")
def candidate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    root = tmp_path_factory.mktemp("shadow_candidate")
    return train_model(load_builtin(), build_pipeline("random_forest"), output_root=root).artifact_dir


def modelctl(cloud: LocalCloud, *args: str) -> Result:
    env = {**os.environ, "MODELCTL_LOCAL_DEPLOYMENT": str(cloud.settings.state_dir / "deployment.json")}
    return CliRunner().invoke(app, ["shadow", *args], obj=Factory(env=env))


def wait_for(condition: Callable[[], bool], message: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.2)


def records_since(cloud: LocalCloud, since: datetime) -> list[dict[str, Any]]:
    from modelctl.reports.shadow.records import RecordReader
    from modelctl.reports.shadow.window import Window

    assert cloud.clients is not None and cloud.deployment is not None
    bucket = cloud.deployment.output("LogBucketName")
    window = Window(since, datetime.now(tz=UTC) + timedelta(minutes=1))
    return [
        r
        for r in RecordReader(cloud.clients.s3, bucket).records(window)
        if r["timestamp"] >= window.since_text
    ]


def test_the_stack_s_event_source_feeds_the_shadow_function(local_cloud: LocalCloud) -> None:
    assert local_cloud.event_sources is not None and local_cloud.deployment is not None
    (poller,) = local_cloud.event_sources.pollers
    mapping = poller.mapping
    assert (mapping.batch_size, mapping.batching_window_s, mapping.report_batch_item_failures) == (
        1000,
        5.0,
        True,
    )
    assert mapping.queue_name == local_cloud.deployment.output("QueueUrl").rsplit("/", 1)[-1]


def test_shadow_end_to_end_with_the_report_matching_the_requests(
    local_cloud: LocalCloud,
    api: Api,
    candidate: Path,
    trained_model: tuple[Path, ModelMetadata],
    tmp_path: Path,
) -> None:
    _, live = trained_model
    rows = [
        [value * (1 + i / 50) for value in live.sample_rows[i % len(live.sample_rows)]]
        for i in range(REQUESTS)
    ]
    before = [api.predict([row]).json() for row in rows[:5]]

    # GIVEN a shadow of the candidate (uploaded from disk by `start`) on every request
    started = modelctl(
        local_cloud, "start", candidate.name, "--sample", "100", "--artifacts-dir", str(candidate.parent)
    )
    assert started.exit_code == 0, started.output
    # (uploaded now, unless an earlier test in the session published the same model bytes)
    assert candidate.name in started.output
    assert local_cloud.clients is not None and local_cloud.deployment is not None
    model_bucket = local_cloud.deployment.output("ModelBucketName")
    local_cloud.clients.s3.head_object(Bucket=model_bucket, Key=f"models/{candidate.name}/model.onnx")

    # (the inference workers read the configuration every few seconds: wait until one mirrors)
    probe_start = datetime.now(tz=UTC)

    def mirrored() -> bool:
        assert api.predict([rows[0]]).status == 200
        return bool(records_since(local_cloud, probe_start))

    wait_for(mirrored, "no request was mirrored after `modelctl shadow start`")

    # WHEN requests arrive
    window_start = datetime.now(tz=UTC)
    responses = [api.predict([row]) for row in rows]
    assert [r.status for r in responses] == [200] * REQUESTS
    # Starting a shadow never changes what users receive.
    assert [r.json() for r in responses[:5]] == before
    assert {r.headers["X-Model-Version"] for r in responses} == {live.version}

    # THEN every one of them becomes a record, and the report counts exactly those
    wait_for(
        lambda: len(records_since(local_cloud, window_start)) >= REQUESTS,
        "not every mirrored request became a shadow record",
        timeout_s=90,
    )
    until = (datetime.now(tz=UTC) + timedelta(seconds=1)).isoformat()
    json_path, html_path = tmp_path / "report.json", tmp_path / "report.html"
    result = modelctl(
        local_cloud,
        "report",
        "--since",
        window_start.isoformat(),
        "--until",
        until,
        "--json",
        str(json_path),
        "--html",
        str(html_path),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(json_path.read_text())
    assert report["counts"] == {"requests": REQUESTS, "messages": REQUESTS, "rows": REQUESTS}
    assert report["models"]["live"] == {live.version: REQUESTS}
    assert report["models"]["shadow"] == {candidate.name: REQUESTS}
    assert sum(map(sum, report["confusion"]["matrix"])) == REQUESTS
    assert 0.0 <= report["agreement"]["rate"] <= 1.0
    assert report["latency_ms"]["live"]["count"] == REQUESTS and report["latency_ms"]["shadow"]["p99"] > 0
    assert "<svg" in html_path.read_text()
    served = {json.dumps(r.json()["predictions"]) for r in responses}
    assert {json.dumps(t["live_label"]) for t in report["top_disagreements"]} <= {
        json.dumps(p) for s in served for p in json.loads(s)
    }

    # AND stopping it is one command; status says so
    status = modelctl(local_cloud, "status", "--json")
    assert json.loads(status.stdout)["config"]["active"] is True
    assert modelctl(local_cloud, "stop").exit_code == 0
    assert json.loads(modelctl(local_cloud, "status", "--json").stdout)["config"]["active"] is False
