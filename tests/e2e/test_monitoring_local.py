"""Monitoring end to end through the local cloud: POST /predict (the inference worker logs a sample of
live requests through the shadow queue; the shadow function writes them under predictions/), POST
/feedback for a logged request's id, then the join pairs them, `modelctl report accuracy` counts them
and the monitor function (invoked as its schedule would) publishes its metrics."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from typer.testing import CliRunner

from common.model.metadata import ModelMetadata
from common.observe.label_join import JoinStats, labelled_predictions
from localcloud.cloud import LocalCloud
from modelctl.cli import app
from modelctl.factory import Factory
from tests.e2e.conftest import Api, http

BATCH = 20


def wait_for(condition: Callable[[], bool], message: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.5)


def logged_request_ids(cloud: LocalCloud, since: datetime, marker: dict[float, int]) -> dict[int, str]:
    """Which of our requests (told apart by their first input value) were logged, by request id."""
    from common.observe.prediction_log import prediction_rows

    assert cloud.clients is not None and cloud.deployment is not None
    bucket = cloud.deployment.output("LogBucketName")
    found = {}
    for row in prediction_rows(
        cloud.clients.s3, bucket, since=since, until=datetime.now(tz=UTC) + timedelta(minutes=1)
    ):
        index = marker.get(row.features[0])
        if index is not None:
            found[index] = row.request_id
    return found


def post_feedback(api: Api, body: Any) -> Any:
    headers = {"Content-Type": "application/json", "x-api-key": api.key}
    return http(f"{api.url}/feedback", body=body, headers=headers)


def test_feedback_joins_the_logged_prediction_it_names(
    local_cloud: LocalCloud, api: Api, trained_model: tuple[Any, ModelMetadata]
) -> None:
    _, live = trained_model
    since = datetime.now(tz=UTC) - timedelta(seconds=1)
    base = live.sample_rows[0]
    marker: dict[float, int] = {}
    answers: dict[int, Any] = {}
    logged: dict[int, str] = {}
    answered_ids: dict[int, str] = {}  # X-Request-Id: the id a client names in POST /feedback
    sent = 0

    # GIVEN live predictions, until a few of them were logged (10% are, by the committed config)
    def some_logged() -> bool:
        nonlocal sent, logged
        for _ in range(BATCH):
            value = 1000.0 + sent * 0.5  # exactly representable in float32: tells requests apart
            marker[value] = sent
            response = api.predict([[value, *base[1:]]])
            assert response.status == 200
            answers[sent] = response.json()
            answered_ids[sent] = response.headers["X-Request-Id"]
            sent += 1
        logged = logged_request_ids(local_cloud, since, marker)
        return len(logged) >= 2

    wait_for(some_logged, "no live prediction reached the prediction log")
    assert {index: answered_ids[index] for index in logged} == logged  # the client knows the logged id
    assert len(logged) < sent  # a sample, not every request

    # WHEN the client sends the true labels of two logged predictions, and one for a request never logged
    first, second = sorted(logged)[:2]
    labels = live.class_labels
    wrong = next(label for label in labels if label != answers[second]["predictions"][0])
    body = {
        "feedback": [
            {"request_id": logged[first], "label": answers[first]["predictions"][0]},
            {"request_id": logged[second], "label": wrong},
            {"request_id": "never-logged-request", "label": labels[0]},
        ]
    }
    stored = post_feedback(api, body)
    assert stored.status == 202, stored.body
    assert stored.json() == {"accepted": 3, "model_version": live.version}
    rejected = post_feedback(api, {"request_id": logged[first], "label": "no-such-class"})
    assert rejected.status == 400 and "label" in rejected.json()["error"]["message"]

    # THEN the join pairs each label with its prediction, inputs and versions
    assert local_cloud.clients is not None and local_cloud.deployment is not None
    bucket = local_cloud.deployment.output("LogBucketName")
    stats = JoinStats()
    joined = {
        p.request_id: p
        for p in labelled_predictions(
            local_cloud.clients.s3,
            bucket,
            since=since,
            until=datetime.now(tz=UTC) + timedelta(minutes=1),
            stats=stats,
        )
    }
    assert set(joined) == {logged[first], logged[second]}
    right = joined[logged[first]]
    assert (right.predicted, right.label) == (
        answers[first]["predictions"][0],
        answers[first]["predictions"][0],
    )
    assert right.model_version == live.version and right.features[0] == 1000.0 + first * 0.5
    assert joined[logged[second]].label == wrong
    assert stats.feedback_unmatched == 1

    # AND the report counts them (one right, one wrong), with the unjoinable feedback
    env = {**os.environ, "MODELCTL_LOCAL_DEPLOYMENT": str(local_cloud.settings.state_dir / "deployment.json")}
    result = CliRunner().invoke(
        app, ["report", "accuracy", "--since", "1h", "--window", "1h", "--json"], obj=Factory(env=env)
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (version,) = [v for v in document["versions"] if v["model_version"] == live.version]
    assert version["labelled"] >= 2 and version["predictions"] >= len(logged)
    assert document["source"]["feedback_without_prediction"] >= 1

    # AND the monitor function (its schedule's target) publishes what it measured
    client = boto3.client("lambda", region_name="us-east-1")
    response = client.invoke(FunctionName=local_cloud.deployment.output("MonitorFunctionName"), Payload=b"{}")
    summary = json.loads(response["Payload"].read())
    assert response.get("FunctionError") is None, summary
    assert summary["labelled"] >= 2 and summary["logged"] >= len(logged)
    assert summary["drift_version"] == live.version and summary["max_psi"] is not None
