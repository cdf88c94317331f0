"""The gate: a candidate is releasable only if it beats production by the margin and is sane."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as settings_hypothesis
from hypothesis import strategies as st

from retrain.gate import decide
from retrain.settings import RetrainSettings

SETTINGS = RetrainSettings(model_bucket="m", feedback_bucket="f", function_name="fn", alias_name="live")


def evaluation(
    candidate: dict[str, float],
    production: dict[str, float],
    *,
    finite: bool = True,
    shares: dict[str, float] | None = None,
) -> dict[str, Any]:
    return {
        "holdout_rows": 200,
        "candidate": {
            "model_version": "m-new",
            "finite": finite,
            "predicted_shares": shares or {"0": 0.4, "1": 0.6},
            "metrics": candidate if finite else {},
        },
        "production": {"model_version": "m-old", "finite": True, "metrics": production},
    }


PREPARED = {"feedback_rows": 50}


def test_a_candidate_beating_production_by_the_margin_is_releasable() -> None:
    decision = decide(SETTINGS, evaluation({"accuracy": 0.95}, {"accuracy": 0.93}), PREPARED)
    assert decision["releasable"] is True
    assert decision["improvement"] == pytest.approx(0.02)
    assert decision["reasons"] == []
    assert "releasable" in decision["summary"]


@pytest.mark.parametrize("candidate", [0.90, 0.93, 0.935])
def test_a_worse_equal_or_barely_better_candidate_is_rejected(candidate: float) -> None:
    decision = decide(SETTINGS, evaluation({"accuracy": candidate}, {"accuracy": 0.93}), PREPARED)
    assert decision["releasable"] is False
    assert decision["reasons"] and decision["reasons"][0].startswith("not better than production")
    assert "rejected" in decision["summary"]


def test_log_loss_is_better_when_lower() -> None:
    settings = replace(SETTINGS, gate_metric="log_loss", gate_margin=0.05)
    better = decide(settings, evaluation({"log_loss": 0.10}, {"log_loss": 0.20}), PREPARED)
    worse = decide(settings, evaluation({"log_loss": 0.30}, {"log_loss": 0.20}), PREPARED)
    assert better["releasable"] is True and worse["releasable"] is False


def test_nan_probabilities_are_rejected_whatever_the_metric() -> None:
    decision = decide(SETTINGS, evaluation({}, {"accuracy": 0.5}, finite=False), PREPARED)
    assert decision["releasable"] is False
    assert any("NaN" in reason for reason in decision["reasons"])


def test_a_collapsed_candidate_predicting_one_class_is_rejected() -> None:
    shares = {"1": 0.97, "0": 0.03}
    decision = decide(SETTINGS, evaluation({"accuracy": 0.99}, {"accuracy": 0.5}, shares=shares), PREPARED)
    assert decision["releasable"] is False
    assert any(reason.startswith("class balance") for reason in decision["reasons"])


def test_too_little_feedback_is_rejected() -> None:
    settings = replace(SETTINGS, min_feedback_rows=100)
    decision = decide(settings, evaluation({"accuracy": 0.99}, {"accuracy": 0.5}), {"feedback_rows": 99})
    assert decision["releasable"] is False
    assert any("feedback rows" in reason for reason in decision["reasons"])


def test_settings_come_from_the_environment_and_name_what_is_missing() -> None:
    env = {
        "RETRAIN_MODEL_BUCKET": "m",
        "RETRAIN_FEEDBACK_BUCKET": "f",
        "MODELCTL_FUNCTION": "fn",
        "MODELCTL_ALIAS": "live",
        "RETRAIN_GATE_MARGIN": "0.02",
        "RETRAIN_RELEASE": "canary",
    }
    settings = RetrainSettings.from_env(env)
    assert settings.gate_margin == 0.02 and settings.release_mode == "canary"
    from retrain.errors import StepError

    with pytest.raises(StepError, match="MODELCTL_ALIAS"):
        RetrainSettings.from_env({k: v for k, v in env.items() if k != "MODELCTL_ALIAS"})
    with pytest.raises(StepError, match="RETRAIN_GATE_MARGIN"):
        RetrainSettings.from_env({**env, "RETRAIN_GATE_MARGIN": "a lot"})


# -- regression: each metric's direction ----------------------------------------------------------


def regression_evaluation(candidate: dict[str, float], production: dict[str, float]) -> dict[str, Any]:
    """A regressor's evaluation: no class shares (a regressor predicts no classes)."""
    return {
        "holdout_rows": 111,
        "candidate": {"model_version": "m-new", "task": "regression", "finite": True, "metrics": candidate},
        "production": {"model_version": "m-old", "task": "regression", "finite": True, "metrics": production},
    }


@pytest.mark.parametrize("metric", ["mae", "rmse"])
def test_an_error_metric_is_better_when_lower(metric: str) -> None:
    settings = replace(SETTINGS, gate_metric=metric, gate_margin=1.0)
    better = decide(settings, regression_evaluation({metric: 50.0}, {metric: 52.0}), PREPARED)
    assert better["releasable"] is True, better["summary"]
    assert better["improvement"] == pytest.approx(2.0)
    assert "lower is better" in better["summary"]
    for worse_value in (52.0, 52.5, 60.0, 51.5):  # equal, worse, much worse, better by less than the margin
        worse = decide(settings, regression_evaluation({metric: worse_value}, {metric: 52.0}), PREPARED)
        assert worse["releasable"] is False, worse_value
        assert worse["reasons"][0].startswith("not better than production")


def test_r2_is_better_when_higher() -> None:
    settings = replace(SETTINGS, gate_metric="r2", gate_margin=0.01)
    assert decide(settings, regression_evaluation({"r2": 0.50}, {"r2": 0.45}), PREPARED)["releasable"]
    worse = decide(settings, regression_evaluation({"r2": 0.40}, {"r2": 0.45}), PREPARED)
    assert worse["releasable"] is False and worse["improvement"] == pytest.approx(-0.05)


@settings_hypothesis(max_examples=300, deadline=None)
@given(
    metric=st.sampled_from(["mae", "rmse", "r2", "log_loss", "accuracy"]),
    old=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    worse_by=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    margin=st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
)
def test_a_worse_candidate_is_never_releasable(
    metric: str, old: float, worse_by: float, margin: float
) -> None:
    """Whatever the values and the (non-negative) margin, a candidate that is worse than production
    in the metric's direction is rejected."""
    from retrain.settings import GATE_METRICS

    higher_is_better = GATE_METRICS[metric]
    new = old - worse_by if higher_is_better else old + worse_by
    if new == old and margin == 0:  # equal is "at least as good" with a zero margin
        return
    settings = replace(SETTINGS, gate_metric=metric, gate_margin=margin)
    build = evaluation if metric in ("log_loss", "accuracy") else regression_evaluation
    decision = decide(settings, build({metric: new}, {metric: old}), PREPARED)
    assert decision["releasable"] is False


def test_class_balance_is_not_checked_for_a_regressor() -> None:
    settings = replace(SETTINGS, gate_metric="rmse", gate_margin=0.0)
    decision = decide(settings, regression_evaluation({"rmse": 10.0}, {"rmse": 11.0}), PREPARED)
    assert decision["releasable"] is True
    assert not any("class balance" in text for text in decision["checks"] + decision["reasons"])
    assert "candidate predictions are all finite" in decision["checks"]


def test_a_regressor_with_non_finite_predictions_is_rejected() -> None:
    settings = replace(SETTINGS, gate_metric="mae")
    document = regression_evaluation({}, {"mae": 3.0})
    document["candidate"]["finite"] = False
    decision = decide(settings, document, PREPARED)
    assert decision["releasable"] is False
    assert any("predictions contain NaN" in reason for reason in decision["reasons"])


def test_a_metric_of_the_other_kind_of_model_is_a_reason_naming_the_right_ones() -> None:
    decision = decide(SETTINGS, regression_evaluation({"rmse": 1.0}, {"rmse": 9.0}), PREPARED)
    assert decision["releasable"] is False
    assert decision["reasons"] == [
        "retrain_gate_metric accuracy does not measure a regression model: choose one of mae, rmse, r2"
    ]
    classifier = decide(replace(SETTINGS, gate_metric="rmse"), evaluation({}, {}), PREPARED)
    assert "does not measure a classification model" in classifier["reasons"][0]


def test_regression_metrics_are_accepted_from_the_environment() -> None:
    env = {
        "RETRAIN_MODEL_BUCKET": "m",
        "RETRAIN_FEEDBACK_BUCKET": "f",
        "MODELCTL_FUNCTION": "fn",
        "MODELCTL_ALIAS": "live",
        "RETRAIN_GATE_METRIC": "rmse",
        "RETRAIN_BASE_DATA": "sklearn:diabetes",
    }
    settings = RetrainSettings.from_env(env)
    assert settings.gate_metric == "rmse" and settings.higher_is_better is False
    assert RetrainSettings.from_env({**env, "RETRAIN_GATE_METRIC": "r2"}).higher_is_better is True
