"""The gate's rule, its figures and its JSON form."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from release.quality import ArmSummary, Direction, QualityGateConfig, Verdict, decide
from release.quality.gate import ADVANCE_CODE, ROLLBACK_CODE, WAIT_CODE, verdict_codes


def accuracy_rows(correct: int, n: int) -> ArmSummary:
    return ArmSummary.of_counts(correct, n)


def test_a_clearly_worse_canary_is_rolled_back_with_its_figures() -> None:
    # GIVEN a primary at 90% and a canary at 80% on 2,000 labelled rows
    decision = decide(accuracy_rows(16_200, 18_000), accuracy_rows(1_600, 2_000))
    # THEN the gate rolls back, and says why with the bounds
    assert decision.verdict is Verdict.ROLLBACK
    assert decision.comparison.improvement_upper < -decision.config.margin
    assert "worse beyond the margin" in decision.reason
    record = decision.to_dict()
    assert record["verdict"] == "rollback"
    assert (record["n_primary"], record["n_new"]) == (18_000, 2_000)
    assert record["primary"]["metric"] == pytest.approx(0.9)
    assert record["new"]["metric"] == pytest.approx(0.8)
    assert record["difference"] == pytest.approx(-0.1)
    assert record["p_value"] < 0.05
    low, high = record["confidence_sequence"]
    assert low < record["difference"] < high < -0.01
    assert json.loads(json.dumps(record, allow_nan=False)) == record


def test_an_equal_canary_with_enough_labels_advances() -> None:
    decision = decide(
        accuracy_rows(90_000, 100_000), accuracy_rows(9_000, 10_000), QualityGateConfig(margin=0.02)
    )
    assert decision.verdict is Verdict.ADVANCE
    assert decision.comparison.improvement_lower > -0.02
    assert "non-inferior" in decision.reason


def test_non_inferior_but_too_few_labels_waits() -> None:
    config = QualityGateConfig(margin=0.05, min_labels=5_000)
    decision = decide(accuracy_rows(90_000, 100_000), accuracy_rows(4_500, 5_000 - 1), config)
    assert decision.comparison.improvement_lower > -0.05
    assert decision.verdict is Verdict.WAIT
    assert "min_labels" in decision.reason


def test_undecided_waits() -> None:
    decision = decide(accuracy_rows(900, 1_000), accuracy_rows(88, 100))
    assert decision.verdict is Verdict.WAIT
    assert "undecided" in decision.reason


@pytest.mark.parametrize(
    ("primary", "new", "reason"),
    [
        pytest.param(
            accuracy_rows(900, 1_000), ArmSummary.empty(), "no labelled rows", id="no-labels-for-new"
        ),
        pytest.param(ArmSummary.empty(), accuracy_rows(10_000, 10_000), "too few", id="one-version-only"),
        pytest.param(accuracy_rows(900, 1_000), accuracy_rows(1, 1), "too few", id="one-labelled-row"),
        pytest.param(accuracy_rows(900, 1_000), accuracy_rows(99, 99), "needs 100", id="before-burn-in"),
    ],
)
def test_a_version_without_enough_labels_never_advances(
    primary: ArmSummary, new: ArmSummary, reason: str
) -> None:
    decision = decide(primary, new, QualityGateConfig(margin=1.0, min_labels=1))
    assert decision.verdict is Verdict.WAIT
    assert reason in decision.reason
    record = decision.to_dict()
    assert record["confidence_sequence"] == [None, None]
    assert record["p_value"] == 1.0
    json.dumps(record, allow_nan=False)


def test_lower_is_better_metric_rolls_back_a_regressor_with_larger_errors() -> None:
    rng = np.random.default_rng(11)
    primary = ArmSummary.of(np.abs(rng.normal(0, 1.0, 5_000)))
    worse = ArmSummary.of(np.abs(rng.normal(0, 1.6, 800)))
    decision = decide(primary, worse, QualityGateConfig(margin=0.05), direction=Direction.LOWER_IS_BETTER)
    assert decision.verdict is Verdict.ROLLBACK
    assert decision.to_dict()["direction"] == "lower_is_better"
    assert decision.comparison.difference is not None and decision.comparison.difference > 0
    # the same rows read as higher-is-better would be a better model
    assert decide(primary, worse, QualityGateConfig(margin=0.05)).verdict is not Verdict.ROLLBACK


def test_verdict_codes_follow_the_rule() -> None:
    lower = np.array([-0.2, -0.005, -0.005, -0.2, np.nan, -np.inf])
    upper = np.array([-0.02, 0.01, 0.01, 0.3, np.nan, np.inf])
    n_new = np.array([500, 500, 10, 500, 500, 500])
    codes = verdict_codes(lower, upper, n_new, margin=0.01, min_labels=200)
    assert codes.tolist() == [ROLLBACK_CODE, ADVANCE_CODE, WAIT_CODE, WAIT_CODE, WAIT_CODE, WAIT_CODE]
    assert verdict_codes(0.5, 0.6, 0, margin=0.0, min_labels=1).item() == WAIT_CODE


@pytest.mark.parametrize(
    "kwargs",
    [
        {"margin": -0.01},
        {"margin": math.inf},
        {"min_labels": 0},
        {"alpha": 1.0},
        {"mixture_scale": 0.0},
        {"burn_in": 1},
    ],
)
def test_invalid_config_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        QualityGateConfig(**kwargs)


def test_previous_p_value_is_carried_into_the_record() -> None:
    decision = decide(accuracy_rows(900, 1_000), accuracy_rows(88, 100), previous_p_value=0.001)
    assert decision.to_dict()["p_value"] == 0.001
