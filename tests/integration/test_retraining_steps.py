"""The workflow's steps in order against moto (what each state's task runs): prepare -> train ->
evaluate -> gate -> register -> release. A candidate trained on drifted feedback is registered with
its lineage and shadowed; one trained on wrong labels is rejected, never registered, never released."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from moto import mock_aws

from common.model.metadata import ModelMetadata
from common.observe.feedback import Feedback
from retrain.errors import StepError
from retrain.runstore import WATERMARK_KEY, RunStore
from tests.integration.retraining_support import Deployment, deploy, do_register, do_release, run_until_gate
from tests.monitoring_support import logged_record, put_feedback, put_records

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:Retraining:run-1"
FEEDBACK_BUCKET = "prediction-log"


@pytest.fixture()
def deployment(trained_model: tuple[Path, ModelMetadata]) -> Iterator[Deployment]:
    with mock_aws():
        yield deploy(
            *trained_model,
            feedback_bucket=FEEDBACK_BUCKET,
            execution=EXECUTION,
            registered_at="2026-11-22T23:00:00+00:00",
        )


def training_only_ids(n: int) -> list[str]:
    """Request ids whose rows prepare puts in the training set, none in the holdout."""
    from retrain.prepare import in_feedback_holdout

    return [i for i in (f"wrong-{k:05d}" for k in range(100 * n)) if not in_feedback_holdout(i, 0, 0.25)][:n]


def write_feedback(d: Deployment, *, factor: float, wrong: bool, n: int = 160) -> None:
    """Drifted rows with their true labels, or (`wrong`) rows labelled with the other class, all of them
    in the training set: the candidate learns from them and the holdout shows what that did."""
    from training.data import load_builtin

    base = load_builtin()
    rng = np.random.default_rng(3)
    at = datetime.now(UTC) - timedelta(minutes=20)
    records, labels = [], []
    ids = training_only_ids(n) if wrong else [str(uuid.uuid4()) for _ in range(n)]
    for request_id, index in zip(ids, rng.choice(len(base.y), n, replace=False), strict=True):
        records.append(
            logged_record(request_id, at, [list(base.X[index] * factor)], [0], model_version=d.live_model)
        )
        label = 1 - int(base.y[index]) if wrong else int(base.y[index])
        labels.append(Feedback(request_id, 0, label))
    put_records(d.s3, FEEDBACK_BUCKET, records)
    put_feedback(d.s3, FEEDBACK_BUCKET, labels, received_at=at + timedelta(minutes=1))


def test_a_better_candidate_is_registered_with_lineage_and_shadowed(deployment: Deployment) -> None:
    d = deployment
    write_feedback(d, factor=1.4, wrong=False)
    state = run_until_gate(d, d.settings)
    prepared = state["prepared"]
    assert prepared["feedback_rows"] == 160
    assert prepared["production"]["model_version"] == d.live_model
    assert state["gate"]["releasable"] is True, state["gate"]["summary"]

    registered = do_register(d, state)
    version = registered["model_version"]
    assert registered["created"] is True
    stored = json.loads(
        d.s3.get_object(Bucket=d.world.bucket, Key=f"models/{version}/metadata.json")["Body"].read()
    )
    assert stored["parent_version"] == d.live_model
    lineage = stored["lineage"]
    assert lineage["execution"] == EXECUTION
    assert (
        lineage["data_fingerprint"] == prepared["data_fingerprint"] == stored["training_data"]["fingerprint"]
    )
    assert (
        lineage["holdout_metrics"]["candidate"]["accuracy"]
        > lineage["holdout_metrics"]["production"]["accuracy"]
    )
    # registering again never overwrites the entry
    assert do_register(d, state)["created"] is False

    store = RunStore(d.s3, d.world.bucket)
    released = do_release(d, d.settings, state, registered, who=f"retraining:{EXECUTION}", store=store)
    new_version = released["function_version"]
    config = d.world.lambda_.get_function_configuration(FunctionName=d.world.function, Qualifier=new_version)
    assert config["Environment"]["Variables"]["MODEL_URI"] == f"s3://{d.world.bucket}/models/{version}/"
    shadow = json.loads(d.s3.get_object(Bucket=FEEDBACK_BUCKET, Key="control/shadow.json")["Body"].read())
    assert shadow["active"] is True and shadow["candidate_model_version"] == version
    assert shadow["candidate_source"] == f"function version {new_version}"
    assert d.world.alias_routing() == (d.live_version, {})  # live traffic untouched
    assert ("publish", "published") in d.world.actions()
    assert store.watermark() == datetime.fromisoformat(prepared["until"])


def test_a_worse_candidate_is_rejected_never_registered_nor_released(deployment: Deployment) -> None:
    d = deployment
    write_feedback(d, factor=1.0, wrong=True, n=200)
    models_before = d.keys("models/")
    state = run_until_gate(d, d.settings)
    gate = state["gate"]
    assert gate["releasable"] is False
    assert any("not better than production" in reason for reason in gate["reasons"]), gate
    assert "rejected" in gate["summary"]
    with pytest.raises(StepError, match="the gate rejected it"):
        do_register(d, state)
    assert d.keys("models/") == models_before
    assert d.keys(WATERMARK_KEY) == []
    with pytest.raises(Exception):  # noqa: B017 - no shadow configuration was ever written
        d.s3.get_object(Bucket=FEEDBACK_BUCKET, Key="control/shadow.json")


def test_registered_mode_stops_after_the_registry_and_advances_the_watermark(deployment: Deployment) -> None:
    d = deployment
    write_feedback(d, factor=1.4, wrong=False)
    settings = replace(d.settings, release_mode="registered")
    state = run_until_gate(d, settings)
    registered = do_register(d, state)
    versions_before = d.world.lambda_.list_versions_by_function(FunctionName=d.world.function)["Versions"]
    store = RunStore(d.s3, d.world.bucket)
    result = do_release(d, settings, state, registered, who="test", store=store)
    assert result["mode"] == "registered" and "function_version" not in result
    after = d.world.lambda_.list_versions_by_function(FunctionName=d.world.function)["Versions"]
    assert len(after) == len(versions_before)
    assert store.watermark() is not None


def test_canary_mode_publishes_and_sends_the_configured_weight_with_gates(deployment: Deployment) -> None:
    d = deployment
    write_feedback(d, factor=1.4, wrong=False)
    settings = replace(d.settings, release_mode="canary", canary_weight=20.0)
    state = run_until_gate(d, settings)
    registered = do_register(d, state)
    result = do_release(d, settings, state, registered, who="retraining:test", invoker=d.world.invoker)
    new_version = result["function_version"]
    assert d.world.alias_routing() == (d.live_version, {new_version: 0.2})
    assert (new_version, "GET /health") in d.world.invoker.calls  # the pre-traffic check ran first
    assert any(
        name.startswith(f"modelctl-{d.world.function}-live-v{new_version}") for name in d.world.alarm_names()
    )
    assert ("canary", "started") in d.world.actions()


def test_shift_mode_publishes_and_hands_a_multi_step_shift_to_the_release_controller(
    deployment: Deployment,
) -> None:
    """GIVEN retrain_release shift WHEN the release step runs THEN the candidate is published and
    one release controller execution is started with the configured steps and bakes."""
    d = deployment
    write_feedback(d, factor=1.4, wrong=False)
    sfn = d.world.session.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="controller",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/controller",
    )["stateMachineArn"]
    settings = replace(
        d.settings,
        release_mode="shift",
        shift_steps=(30.0, 100.0),
        shift_bake_seconds=45.0,
        release_controller=arn,
    )
    state = run_until_gate(d, settings)
    registered = do_register(d, state)
    result = do_release(d, settings, state, registered, who="retraining:test", invoker=d.world.invoker)
    new_version = result["function_version"]
    assert d.world.alias_routing() == (d.live_version, {})  # the controller moves the traffic
    (execution,) = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert execution["executionArn"] == result["shift"]["execution_arn"]
    document = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert document["plan"]["candidate"] == new_version and document["plan"]["base"] == d.live_version
    assert [s["percent"] for s in document["plan"]["steps"]] == [30.0, 100.0]
    assert document["plan"]["steps"][0]["bake_s"] == 45.0
    assert "release controller" in result["summary"]
