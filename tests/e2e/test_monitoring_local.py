"""Monitoring end to end through the local cloud: POST /predict (every answered request's served log
line reaches the recorder through the log subscription; it writes the rows under prediction-log/),
POST /feedback for answered requests' ids, then the join pairs them, `modelctl report accuracy`
counts them and the monitor function (invoked as its schedule would) publishes its metrics."""

from __future__ import annotations

import json
import os
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

REQUESTS = 100  # at the committed 10% input sample, some rows carry inputs for drift (1 - 0.9^100)


def logged_request_ids(cloud: LocalCloud, since: datetime, answered: set[str]) -> dict[str, bool]:
    """Which of our requests are in the prediction log, and whether their row carries its inputs."""
    from common.observe.prediction_log import prediction_rows

    assert cloud.clients is not None and cloud.deployment is not None
    bucket = cloud.deployment.output("LogBucketName")
    until = datetime.now(tz=UTC) + timedelta(minutes=1)
    return {
        row.request_id: row.features is not None
        for row in prediction_rows(cloud.clients.s3, bucket, since=since, until=until)
        if row.request_id in answered
    }


def post_feedback(api: Api, body: Any) -> Any:
    headers = {"Content-Type": "application/json", "x-api-key": api.key}
    return http(f"{api.url}/feedback", body=body, headers=headers)


def test_feedback_joins_the_logged_prediction_it_names(
    local_cloud: LocalCloud, api: Api, trained_model: tuple[Any, ModelMetadata]
) -> None:
    _, live = trained_model
    since = datetime.now(tz=UTC) - timedelta(seconds=1)
    base = live.sample_rows[0]
    answers: dict[int, Any] = {}
    answered_ids: dict[int, str] = {}  # X-Request-Id: the id a client names in POST /feedback

    # GIVEN live predictions, every one of them in the prediction log once delivered
    for sent in range(REQUESTS):
        response = api.predict([[1000.0 + sent * 0.5, *base[1:]]])
        assert response.status == 200
        answers[sent] = response.json()
        answered_ids[sent] = response.headers["X-Request-Id"]
    assert local_cloud.wait_logs_delivered(timeout_s=60.0), "the served lines were not all delivered"
    in_log = logged_request_ids(local_cloud, since, set(answered_ids.values()))
    assert set(in_log) == set(answered_ids.values())  # every answered request, not a sample
    assert 0 < sum(in_log.values()) < REQUESTS  # inputs for the sampled share only
    logged = answered_ids

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
    assert right.model_version == live.version
    assert right.features is None or right.features[0] == 1000.0 + first * 0.5
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
    invoked = client.invoke(FunctionName=local_cloud.deployment.output("MonitorFunctionName"), Payload=b"{}")
    summary = json.loads(invoked["Payload"].read())
    assert invoked.get("FunctionError") is None, summary
    assert summary["labelled"] >= 2 and summary["logged"] >= len(logged)
    assert summary["drift_version"] == live.version and summary["max_psi"] is not None
