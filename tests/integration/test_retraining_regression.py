"""The retraining steps for a regression production model, against moto: prepare (diabetes base data,
numeric feedback labels, an unstratified holdout) -> train -> evaluate (mae, rmse, r2 in onnxruntime)
-> gate (lower is better for mae and rmse) -> register -> shadow. A better regressor is registered
and shadowed; a worse one is rejected and never registered; a classifier pipeline fails the train
step with a message naming the pipeline.

Feedback labels are written as number text, which the stored-feedback reader takes today
(`common.observe.feedback.parse_record` keeps integer and text labels); prepare reads either as a number."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from moto import mock_aws

from common.model.metadata import ModelMetadata
from common.observe.feedback import Feedback
from common.observe.label_join import labelled_predictions
from retrain.errors import StepError
from retrain.prepare import prepare
from retrain.production import find_production
from retrain.runstore import WATERMARK_KEY, RunStore
from retrain.train import train
from tests.integration.retraining_support import Deployment, deploy, do_register, do_release, run_until_gate
from tests.monitoring_support import logged_record, put_feedback, put_records

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:Retraining:regression-1"
FEEDBACK_BUCKET = "prediction-log-regression"


def stump() -> Any:
    """A weak regressor (one split): the candidate pipeline that must lose to production's ridge."""
    from sklearn.tree import DecisionTreeRegressor

    return DecisionTreeRegressor(max_depth=1, random_state=0)


def _train(root: Path, estimator: Any) -> tuple[Path, ModelMetadata]:
    from training.data import load_builtin
    from training.train import train_model

    result = train_model(load_builtin("diabetes"), estimator, output_root=root)
    return result.artifact_dir, result.metadata


@pytest.fixture(scope="module")
def production_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, ModelMetadata]]:
    """Two production regressors on diabetes: a one-split tree (weak: ridge beats it) and ridge."""
    from training.pipelines import build_pipeline

    root = tmp_path_factory.mktemp("regression-models")
    return {
        "stump": _train(root, stump()),
        "ridge": _train(root, build_pipeline("ridge")),
    }


def deployed(artifact: Path, metadata: ModelMetadata) -> Deployment:
    return deploy(
        artifact,
        metadata,
        feedback_bucket=FEEDBACK_BUCKET,
        execution=EXECUTION,
        registered_at="2026-12-07T14:00:00+00:00",
        base_data="sklearn:diabetes",
        pipeline="ridge",
        gate_metric="rmse",
        gate_margin=1.0,
    )


@pytest.fixture()
def stump_deployment(production_models: dict[str, tuple[Path, ModelMetadata]]) -> Iterator[Deployment]:
    with mock_aws():
        yield deployed(*production_models["stump"])


@pytest.fixture()
def ridge_deployment(production_models: dict[str, tuple[Path, ModelMetadata]]) -> Iterator[Deployment]:
    with mock_aws():
        yield deployed(*production_models["ridge"])


def write_feedback(d: Deployment, *, n: int) -> None:
    """Diabetes rows labelled with their true numeric target (as number text, see the docstring)."""
    from training.data import load_builtin

    base = load_builtin("diabetes")
    rng = np.random.default_rng(5)
    at = datetime.now(UTC) - timedelta(minutes=20)
    records, labels = [], []
    for index in rng.choice(len(base.y), n, replace=False):
        request_id = str(uuid.uuid4())
        # the logged live answer is not what the join reads; the feature row and the label are
        records.append(logged_record(request_id, at, [list(base.X[index])], [0], model_version=d.live_model))
        labels.append(Feedback(request_id, 0, repr(float(base.y[index]))))
    put_records(d.s3, FEEDBACK_BUCKET, records)
    put_feedback(d.s3, FEEDBACK_BUCKET, labels, received_at=at + timedelta(minutes=1))


def test_a_better_regressor_passes_the_gate(stump_deployment: Deployment) -> None:
    d = stump_deployment
    write_feedback(d, n=60)
    state = run_until_gate(d, d.settings)
    prepared, evaluation, gate = state["prepared"], state["evaluation"], state["gate"]
    assert prepared["task"] == "regression" and prepared["feedback_rows"] == 60
    assert prepared["feedback_skipped"] == {
        "feature_count": 0,
        "not_a_number": 0,
        "not_finite": 0,
        "without_inputs": 0,
    }
    candidate, production = evaluation["candidate"], evaluation["production"]
    assert set(candidate["metrics"]) == set(production["metrics"]) == {"mae", "rmse", "r2"}
    assert candidate["task"] == "regression" and "predicted_shares" not in candidate
    assert candidate["metrics"]["rmse"] < production["metrics"]["rmse"] - 1.0
    assert gate["releasable"] is True, gate["summary"]
    assert not any("class balance" in check for check in gate["checks"])


def test_a_better_regressor_is_registered_and_shadowed(stump_deployment: Deployment) -> None:
    d = stump_deployment
    state = run_until_gate(d, d.settings)
    prepared = state["prepared"]
    registered = do_register(d, state)
    version = registered["model_version"]
    key = f"models/{version}/metadata.json"
    stored = json.loads(d.s3.get_object(Bucket=d.world.bucket, Key=key)["Body"].read())
    assert stored["task"] == "regression" and stored["parent_version"] == d.live_model
    assert stored["training_data"]["stratified"] is False
    assert stored["lineage"]["gate"]["metric"] == "rmse"
    store = RunStore(d.s3, d.world.bucket)
    released = do_release(d, d.settings, state, registered, who=f"retraining:{EXECUTION}", store=store)
    shadow = json.loads(d.s3.get_object(Bucket=FEEDBACK_BUCKET, Key="control/shadow.json")["Body"].read())
    assert shadow["active"] is True and shadow["candidate_model_version"] == version
    assert released["function_version"] != d.live_version
    assert d.world.alias_routing() == (d.live_version, {})
    assert store.watermark() == datetime.fromisoformat(prepared["until"])


@pytest.mark.parametrize("metric", ["rmse", "mae"])
def test_a_worse_regressor_is_rejected_and_never_registered(
    ridge_deployment: Deployment, metric: str
) -> None:
    d = ridge_deployment
    write_feedback(d, n=40)
    pipeline = f"{__name__}:stump"
    settings = replace(d.settings, gate_metric=metric, gate_margin=0.0, pipeline=pipeline)
    models_before = d.keys("models/")
    state = run_until_gate(d, settings)
    gate, evaluation = state["gate"], state["evaluation"]
    # lower is better: the candidate's error is larger
    assert evaluation["candidate"]["metrics"][metric] > evaluation["production"]["metrics"][metric]
    assert gate["releasable"] is False
    assert gate["improvement"] < 0
    assert any(reason.startswith("not better than production") for reason in gate["reasons"]), gate
    with pytest.raises(StepError, match="the gate rejected it"):
        do_register(d, state)
    assert d.keys("models/") == models_before
    assert d.keys(WATERMARK_KEY) == []


def test_a_classifier_pipeline_for_a_regression_model_is_a_step_error(ridge_deployment: Deployment) -> None:
    d = ridge_deployment
    settings = replace(d.settings, pipeline="logistic_regression")
    production = find_production(d.world.lambda_, settings.function_name, settings.alias_name)
    metadata = json.loads(
        d.s3.get_object(Bucket=d.world.bucket, Key=f"models/{d.live_model}/metadata.json")["Body"].read()
    )
    prepared = prepare(
        s3=d.s3,
        settings=settings,
        feedback_source=labelled_predictions,
        production=production,
        production_features=metadata["feature_names"],
        production_task="regression",
        run_id="regression-2",
        until=datetime.now(UTC),
    )
    with pytest.raises(StepError, match=r"retrain_pipeline 'logistic_regression' cannot train .*regressor"):
        train(s3=d.s3, settings=settings, prepared=prepared)
