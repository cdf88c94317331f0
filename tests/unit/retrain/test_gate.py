"""The gate: a candidate is releasable only if it beats production by the margin and is sane."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

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
