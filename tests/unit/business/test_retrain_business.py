"""The retraining gate's business metric: computed on the holdout, the candidate may not be worse."""

from __future__ import annotations

from dataclasses import replace

import pytest

from retrain.business import holdout_value
from retrain.errors import StepError
from retrain.gate import decide
from retrain.settings import RetrainSettings
from tests.unit.retrain.test_gate import PREPARED, SETTINGS, evaluation

COSTS = '{"0": {"1": 5}, "1": {"0": 1}}'


def test_a_cost_matrix_values_the_holdout_answers() -> None:
    assert holdout_value(COSTS, [0, 0, 1, 1], [1, 0, 0, 1]) == pytest.approx((5 + 0 + 1 + 0) / 4)
    assert holdout_value("common.usermetrics.example:profit", [0, 1], [0, 0]) == pytest.approx((1 - 5) / 2)
    assert holdout_value("reward", [0], [0]) is None  # rewards exist only for served predictions
    assert holdout_value("", [0], [0]) is None


@pytest.mark.parametrize(("candidate_cost", "releasable"), [(0.2, True), (0.3, True), (0.4, False)])
def test_the_candidate_may_not_cost_more_than_production(candidate_cost: float, releasable: bool) -> None:
    settings = replace(SETTINGS, business_metric=COSTS)
    document = evaluation({"accuracy": 0.95}, {"accuracy": 0.93})
    document["candidate"]["business_value"] = candidate_cost
    document["production"]["business_value"] = 0.3
    decision = decide(settings, document, PREPARED)
    assert decision["releasable"] is releasable
    assert "business metric mean_cost" in decision["summary"]


def test_a_bad_business_metric_is_a_step_error() -> None:
    env = {
        "RETRAIN_MODEL_BUCKET": "m",
        "RETRAIN_FEEDBACK_BUCKET": "f",
        "MODELCTL_FUNCTION": "fn",
        "MODELCTL_ALIAS": "live",
        "RETRAIN_BUSINESS_METRIC": "no_such_module:f",
    }
    settings = RetrainSettings.from_env(env)
    with pytest.raises(StepError, match="RETRAIN_BUSINESS_METRIC"):
        decide(settings, evaluation({"accuracy": 0.95}, {"accuracy": 0.93}), PREPARED)
