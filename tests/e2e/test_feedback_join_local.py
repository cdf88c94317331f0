"""Every answered request joins its feedback, end to end through the local cloud, with the prediction
log's sampling at its default: 2,000 POST /predict from 8 clients, the served lines delivered by the
log subscription to the recorder (prediction-log/), then POST /feedback for every answered request id
(a correction for 100 of them, and labels for ids never answered). The join pairs every one of the
2,000, counts the corrections once and the unknown ids apart, and `modelctl report accuracy` states
a complete coverage (the function's `Predictions` counter equals the requests it found)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from typer.testing import CliRunner

from common.model.metadata import ModelMetadata
from common.observe.label_join import JoinStats, labelled_predictions
from localcloud.cloud import LocalCloud
from modelctl.cli import app
from modelctl.factory import Factory
from tests.e2e.conftest import Api, http

REQUESTS, CLIENTS, CORRECTED, UNKNOWN = 2000, 8, 100, 5


def wait_for(condition: Callable[[], bool], message: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.5)


def post_feedback(api: Api, items: list[dict[str, Any]]) -> None:
    headers = {"Content-Type": "application/json", "x-api-key": api.key}
    response = http(f"{api.url}/feedback", body={"feedback": items}, headers=headers)
    assert response.status == 202, response.body


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def test_feedback_for_every_answered_request_joins(
    local_cloud: LocalCloud, api: Api, trained_model: tuple[Any, ModelMetadata]
) -> None:
    _, live = trained_model
    assert local_cloud.clients is not None and local_cloud.deployment is not None
    bucket = local_cloud.deployment.output("LogBucketName")
    since = _minute(datetime.now(tz=UTC))
    base = live.sample_rows[0]

    # GIVEN 2,000 answered requests from 8 concurrent clients
    def ask(index: int) -> tuple[str, Any]:
        response = api.predict([[float(index % 7), *base[1:]]])
        assert response.status == 200, response.body
        return response.headers["X-Request-Id"], response.json()["predictions"][0]

    with ThreadPoolExecutor(CLIENTS) as pool:
        answered = dict(pool.map(ask, range(REQUESTS)))
    assert len(answered) == REQUESTS
    assert local_cloud.wait_logs_delivered(timeout_s=60.0), "the served lines were not all delivered"

    # WHEN the client sends the true label of every answered request (the answer itself), then a
    # correction for 100 of them, and labels for ids the API never answered
    ids = sorted(answered)
    items = [{"request_id": request_id, "label": answered[request_id]} for request_id in ids]
    for start in range(0, len(items), 1000):
        post_feedback(api, items[start : start + 1000])
    wrong = {
        request_id: next(label for label in live.class_labels if label != answered[request_id])
        for request_id in ids[:CORRECTED]
    }
    post_feedback(api, [{"request_id": rid, "label": label} for rid, label in wrong.items()])
    post_feedback(
        api, [{"request_id": f"never-answered-{i}", "label": live.class_labels[0]} for i in range(UNKNOWN)]
    )

    # THEN every answered request joins its record, with the latest label
    until = _minute(datetime.now(tz=UTC)) + timedelta(minutes=2)
    stats = JoinStats()
    joined = {
        p.request_id: p
        for p in labelled_predictions(local_cloud.clients.s3, bucket, since=since, until=until, stats=stats)
        if p.request_id in answered
    }
    assert set(joined) == set(answered)
    assert all(p.predicted == answered[p.request_id] for p in joined.values())
    assert all(p.label == wrong.get(p.request_id, answered[p.request_id]) for p in joined.values())
    assert all(p.model_version == live.version for p in joined.values())
    assert stats.feedback_duplicates == CORRECTED and stats.feedback_unknown == UNKNOWN
    assert stats.feedback_matched >= REQUESTS

    # AND the accuracy report says so, with the served counter equal to the requests it found
    env = {**os.environ, "MODELCTL_LOCAL_DEPLOYMENT": str(local_cloud.settings.state_dir / "deployment.json")}
    window = ["--since", since.isoformat(), "--until", until.isoformat(), "--window", "1h", "--json"]
    document: dict[str, Any] = {}

    def complete() -> bool:
        nonlocal document
        local_cloud.evaluate_alarms()  # ships the pending EMF metrics to CloudWatch now
        result = CliRunner().invoke(app, ["report", "accuracy", *window], obj=Factory(env=env))
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout)
        return bool(document["record_coverage"]["complete"])

    wait_for(complete, "the report's coverage stayed incomplete")
    coverage = document["record_coverage"]
    assert coverage["served"] == coverage["found"] >= REQUESTS and coverage["warning"] is None
    source = document["source"]
    assert source["feedback_unknown"] == UNKNOWN and source["feedback_duplicates"] == CORRECTED
    (version,) = [v for v in document["versions"] if v["model_version"] == live.version]
    assert version["labelled"] >= REQUESTS
