"""Retraining end to end in the local cloud: labelled feedback in the prediction log bucket ->
`modelctl retrain` starts the deployed state machine (moto's interpreter runs the definition as
synthesized) -> its tasks run the container-image function's steps on our workers -> a new model is
registered with lineage, published as a Lambda version and shadowing live traffic.

The feedback carries drift the live model has not seen (every measurement 1.4x larger, as after a
change of instrument calibration), so the candidate trained on it beats production on the holdout."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from common.observe.feedback import Feedback
from localcloud.cloud import LocalCloud
from modelctl.cli import app
from modelctl.commands.retrain import RunRejectedError
from modelctl.errors import ModelctlError
from modelctl.factory import Factory
from tests.monitoring_support import logged_record, put_feedback, put_records

DRIFT = 1.4
FEEDBACK_REQUESTS = 160


def modelctl(cloud: LocalCloud, *args: str) -> Result:
    env = {**os.environ, "MODELCTL_LOCAL_DEPLOYMENT": str(cloud.settings.state_dir / "deployment.json")}
    return CliRunner().invoke(app, list(args), obj=Factory(env=env))


def wrong_label_ids(n: int) -> list[str]:
    """Request ids whose rows all go to the training set (none to the holdout): the wrong labels then
    only teach the candidate, and the holdout measures what that does to it."""
    from retrain.prepare import in_feedback_holdout

    ids = (f"mislabelled-{i:05d}" for i in range(100 * n))
    return [i for i in ids if not in_feedback_holdout(i, 0, 0.25)][:n]


def write_drifted_feedback(
    cloud: LocalCloud, live_model: str, live_version: str, *, wrong: bool = False, at: datetime | None = None
) -> int:
    """Logged predictions and their ground truth, in the formats the prediction log and the feedback
    function write (tests/monitoring_support.py uses their own writers). Drifted rows with their true
    labels, or (`wrong`) undrifted rows labelled with the other class, as a broken labelling job would."""
    from training.data import load_builtin

    assert cloud.clients is not None and cloud.deployment is not None
    bucket = cloud.deployment.output("LogBucketName")
    base = load_builtin()
    rng = np.random.default_rng(7)
    requested_at = at or datetime.now(UTC) - timedelta(minutes=30)
    records, labels = [], []
    ids = (
        wrong_label_ids(FEEDBACK_REQUESTS) if wrong else [str(uuid.uuid4()) for _ in range(FEEDBACK_REQUESTS)]
    )
    for request_id, index in zip(ids, rng.choice(len(base.y), FEEDBACK_REQUESTS, replace=False), strict=True):
        row = [float(v) * (1.0 if wrong else DRIFT) for v in base.X[index]]
        records.append(
            logged_record(
                request_id,
                requested_at,
                [row],
                [0],
                model_version=live_model,
                function_version=live_version,
            )
        )
        labels.append(Feedback(request_id, 0, 1 - int(base.y[index]) if wrong else int(base.y[index])))
    put_records(cloud.clients.s3, bucket, records)
    put_feedback(cloud.clients.s3, bucket, labels, received_at=requested_at + timedelta(minutes=5))
    return len(labels)


@pytest.fixture(scope="module")
def notifications(local_cloud: LocalCloud) -> str:
    """An SQS queue subscribed to the workflow's topic: what an operator's subscription receives."""
    assert local_cloud.clients is not None and local_cloud.deployment is not None
    sqs, sns = local_cloud.clients.sqs, local_cloud.clients.client("sns")
    url = sqs.create_queue(QueueName=f"retraining-notifications-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = local_cloud.deployment.output("NotificationTopicArn")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return str(url)


def received(cloud: LocalCloud, queue_url: str) -> list[dict[str, Any]]:
    assert cloud.clients is not None
    messages = cloud.clients.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    )
    for message in messages:
        cloud.clients.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"]) for message in messages]


def read_json(cloud: LocalCloud, bucket: str, key: str) -> Any:
    assert cloud.clients is not None
    return json.loads(cloud.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.mark.slow
def test_feedback_to_a_new_model_in_shadow(local_cloud: LocalCloud, notifications: str) -> None:
    cloud = local_cloud
    assert cloud.clients is not None and cloud.deployment is not None
    lam = cloud.clients.lambda_
    serving = next(stack for stack in cloud.deployment.stacks if stack.name.endswith("-Serving"))
    function = str(serving.outputs["FunctionName"])
    model_bucket = cloud.deployment.output("ModelBucketName")
    alias = lam.get_alias(FunctionName=function, Name="live")
    live_version = str(alias["FunctionVersion"])
    live_uri = lam.get_function_configuration(FunctionName=function, Qualifier=live_version)["Environment"][
        "Variables"
    ]["MODEL_URI"]
    live_model = live_uri.rstrip("/").rsplit("/", 1)[-1]

    # GIVEN labelled live traffic showing drift since the last run (an hour ago: a short window to list)
    cloud.clients.s3.put_object(
        Bucket=model_bucket,
        Key="retraining/watermark.json",
        Body=json.dumps({"until": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}),
    )
    assert write_drifted_feedback(cloud, live_model, live_version) == FEEDBACK_REQUESTS

    # WHEN an operator runs the workflow by hand and follows it
    result = modelctl(cloud, "retrain", "--reason", "e2e", "--poll", "0.5", "--timeout", "8m")

    # THEN it released a new model into shadow
    assert result.exit_code == 0, result.output
    assert "released" in result.output
    for state in ("Prepare", "Train", "Evaluate", "Gate", "Register", "Release", "NotifySuccess"):
        assert f"{state}: done" in result.output, result.output

    shadow = read_json(cloud, cloud.deployment.output("LogBucketName"), "control/shadow.json")
    assert shadow["active"] is True
    new_model = shadow["candidate_model_version"]
    assert new_model != live_model
    # registered once, immutable, with its lineage
    metadata = read_json(cloud, model_bucket, f"models/{new_model}/metadata.json")
    lineage = metadata["lineage"]
    assert lineage["parent_model_version"] == live_model
    # every labelled row since the watermark: ours, plus any an earlier test of this session left
    # (tests/e2e/test_monitoring_local.py posts feedback through the API within the same hour)
    assert lineage["data"]["feedback_rows"] >= FEEDBACK_REQUESTS
    assert lineage["execution"].startswith("arn:aws:states:")
    assert lineage["gate"]["improvement"] >= 0.01
    assert lineage["data_fingerprint"] == metadata["training_data"]["fingerprint"]
    # a new Lambda version pins it; the shadow mirrors to that version; live traffic is untouched
    source = shadow["candidate_source"]
    assert source.startswith("function version ")
    pinned = lam.get_function_configuration(FunctionName=function, Qualifier=source.rsplit(" ", 1)[-1])
    assert pinned["Environment"]["Variables"]["MODEL_URI"].rstrip("/").endswith(f"models/{new_model}")
    assert str(lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"]) == live_version

    # and the registry lists it with its lineage and the version pinning it
    listed = modelctl(cloud, "models", "--json")
    assert listed.exit_code == 0, listed.output
    entries = {e["version"]: e for e in json.loads(listed.output)}
    assert entries[new_model]["parent"] == live_model
    assert entries[new_model]["function_versions"] == [source.rsplit(" ", 1)[-1]]
    assert entries[live_model]["live"] == "primary"
    (message,) = received(cloud, notifications)
    assert message["outcome"] == "released" and message["model_version"] == new_model


@pytest.mark.slow
def test_retraining_releases_a_candidate_with_a_two_step_shift_through_the_release_controller(
    local_cloud: LocalCloud,
) -> None:
    """GIVEN the workflow configured for `retrain_release: shift` (50,100 with a 3 s bake) WHEN a
    run releases a better candidate THEN its Release step starts the release controller and the
    controller moves the traffic through both steps, baking between them, to the new version."""
    cloud = local_cloud
    assert cloud.clients is not None and cloud.deployment is not None
    lam = cloud.clients.lambda_
    serving = next(stack for stack in cloud.deployment.stacks if stack.name.endswith("-Serving"))
    function = str(serving.outputs["FunctionName"])
    live_version = str(lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"])
    retraining = next(
        f
        for f in lam.list_functions()["Functions"]
        if "RETRAIN_RELEASE" in f.get("Environment", {}).get("Variables", {})
    )
    before = dict(retraining["Environment"]["Variables"])
    shift = {
        "RETRAIN_RELEASE": "shift",
        "RETRAIN_SHIFT_STEPS": "50,100",
        "RETRAIN_SHIFT_BAKE_SECONDS": "3",
        "MODELCTL_RELEASE_CONTROLLER": cloud.deployment.output("ReleaseControllerArn"),
        "RETRAIN_GATE_MARGIN": "0",  # this test is about the release: at least as good passes
    }
    lam.update_function_configuration(
        FunctionName=retraining["FunctionName"], Environment={"Variables": {**before, **shift}}
    )
    try:
        write_drifted_feedback(cloud, "m-live", live_version, at=datetime.now(UTC))
        result = modelctl(cloud, "retrain", "--reason", "e2e shift", "--poll", "0.5", "--timeout", "8m")
        assert result.exit_code == 0, result.output
        assert "release controller" in " ".join(result.output.split()), result.output
        deadline = time.monotonic() + 180
        while True:
            routing = lam.get_alias(FunctionName=function, Name="live")
            status = modelctl(cloud, "status", "--json")
            if (
                str(routing["FunctionVersion"]) != live_version
                and json.loads(status.output)["release"] is None
            ):
                break
            assert time.monotonic() < deadline, f"the controller did not finish: {routing} {status.output}"
            time.sleep(0.5)
        assert not (routing.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
        history = json.loads(modelctl(cloud, "history", "--json", "--limit", "8").output)
        actions = [(e["action"], e["outcome"]) for e in history]
        assert actions[:3] == [("shift", "completed"), ("shift step 2/2", "ok"), ("shift step 1/2", "ok")]
        assert "release controller" in history[0]["who"]
    finally:
        lam.update_function_configuration(
            FunctionName=retraining["FunctionName"], Environment={"Variables": before}
        )
        # the tests after this one share the cloud and expect the model they deployed to be live
        lam.update_alias(FunctionName=function, Name="live", FunctionVersion=live_version, RoutingConfig={})


@pytest.mark.slow
def test_a_worse_candidate_is_rejected_and_the_rejection_notified(
    local_cloud: LocalCloud, notifications: str
) -> None:
    cloud = local_cloud
    assert cloud.clients is not None and cloud.deployment is not None
    model_bucket = cloud.deployment.output("ModelBucketName")
    serving = next(stack for stack in cloud.deployment.stacks if stack.name.endswith("-Serving"))
    function = str(serving.outputs["FunctionName"])
    lam = cloud.clients.lambda_
    live_version = str(lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"])
    before = cloud.clients.s3.list_objects_v2(Bucket=model_bucket, Prefix="models/")["KeyCount"]
    versions = len(lam.list_versions_by_function(FunctionName=function)["Versions"])
    received(cloud, notifications)

    # GIVEN wrong labels, after the last successful run's watermark
    write_drifted_feedback(cloud, "m-live", live_version, wrong=True, at=datetime.now(UTC))

    result = modelctl(cloud, "retrain", "--poll", "0.5", "--timeout", "8m")

    assert isinstance(result.exception, RunRejectedError), result.output
    assert result.exception.exit_code == 3  # what `modelctl retrain` exits with
    assert "not better than production" in str(result.exception)
    assert "Register" not in result.output and "NotifyRejected: done" in result.output
    assert cloud.clients.s3.list_objects_v2(Bucket=model_bucket, Prefix="models/")["KeyCount"] == before
    assert len(lam.list_versions_by_function(FunctionName=function)["Versions"]) == versions
    (message,) = received(cloud, notifications)
    assert message["outcome"] == "rejected" and "not better than production" in message["summary"]


@pytest.mark.slow
def test_a_failing_step_is_caught_notified_and_fails_the_run(
    local_cloud: LocalCloud, notifications: str
) -> None:
    cloud = local_cloud
    assert cloud.clients is not None and cloud.deployment is not None
    model_bucket = cloud.deployment.output("ModelBucketName")
    key = "retraining/watermark.json"
    saved = cloud.clients.s3.get_object(Bucket=model_bucket, Key=key)["Body"].read()
    received(cloud, notifications)
    # GIVEN a watermark nobody can read (a hand edit gone wrong)
    cloud.clients.s3.put_object(Bucket=model_bucket, Key=key, Body=b'{"until": "last tuesday"}')
    try:
        result = modelctl(cloud, "retrain", "--poll", "0.5", "--timeout", "5m")
    finally:
        cloud.clients.s3.put_object(Bucket=model_bucket, Key=key, Body=saved)

    assert isinstance(result.exception, ModelctlError) and not isinstance(result.exception, RunRejectedError)
    assert "the retraining run failed: Prepare: " in str(result.exception)
    assert "last tuesday" in str(result.exception) and "Traceback" not in result.output
    assert "Prepare: failed" in result.output and "NotifyFailure: done" in result.output
    assert "Failed: failed" in result.output
    assert "Train" not in result.output
    (message,) = received(cloud, notifications)
    assert message["outcome"] == "failed" and "last tuesday" in message["cause"]
