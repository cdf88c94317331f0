"""The release gate's decision on joined rows against a reference computation written apart from
release.quality (tests/unit/quality/reference.py: the mixture likelihood ratio by quadrature, its
confidence sequence by root finding), for each metric kind the gate takes."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from common.observe.feedback import Feedback
from common.observe.prediction_log import PredictionRow
from release.quality.release_gate import QualityGateSpec, gate_decision
from release.quality.sequential import DEFAULT_MIXTURE_SCALE
from tests.unit.quality.reference import confidence_sequence_quad, difference_and_variance

T0 = datetime(2026, 3, 1, tzinfo=UTC)
ALPHA = 0.05


def _row(request_id: str, version: str, predicted: Any) -> PredictionRow:
    return PredictionRow(
        request_id=request_id,
        row=0,
        requested_at=T0,
        model_version=f"m{version}",
        function_version=version,
        features=[0.0],
        predicted=predicted,
    )


def joined(
    version: str, predicted: list[Any], labels: list[Any], rewards: list[float] | None = None
) -> list[Any]:
    rows = []
    for index, (guess, label) in enumerate(zip(predicted, labels, strict=True)):
        rid = f"{version}-{index}"
        row = _row(rid, version, guess)
        reward = rewards[index] if rewards is not None else None
        rows.append((row, Feedback(rid, 0, label, "2026-03-01T00:00:00.000Z", reward=reward)))
    return rows


def reference_verdict(
    primary: np.ndarray, new: np.ndarray, sign: float, margin: float, min_labels: int
) -> tuple[str, float, float]:
    d, v, pooled = difference_and_variance(primary, new)
    lower, upper = confidence_sequence_quad(d, v, DEFAULT_MIXTURE_SCALE * math.sqrt(pooled), ALPHA)
    lo, hi = sorted((sign * lower, sign * upper))
    if hi < -margin:
        return "rollback", lo, hi
    if lo > -margin and new.size >= min_labels:
        return "advance", lo, hi
    return "wait", lo, hi


CASES = [  # (seed, primary accuracy, new accuracy, n primary, n new, expected verdict)
    (1, 0.90, 0.80, 1500, 400, "rollback"),
    (2, 0.90, 0.90, 3000, 3000, "wait"),
    (3, 0.90, 0.88, 800, 300, "wait"),
    (4, 0.85, 0.95, 600, 600, "advance"),
]


@pytest.mark.parametrize(("seed", "p_primary", "p_new", "n_primary", "n_new", "expected"), CASES)
def test_accuracy_decisions_match_the_reference(
    seed: int, p_primary: float, p_new: float, n_primary: int, n_new: int, expected: str
) -> None:
    rng = np.random.default_rng(seed)
    correct_a, correct_b = rng.random(n_primary) < p_primary, rng.random(n_new) < p_new
    rows = joined("1", [1] * n_primary, [int(c) for c in correct_a]) + joined(
        "2", [1] * n_new, [int(c) for c in correct_b]
    )
    spec = QualityGateSpec(metric="accuracy", margin=0.01, min_labels=200)
    decision, figures = gate_decision(rows, spec, base="1", candidate="2")
    verdict, lo, hi = reference_verdict(correct_a.astype(float), correct_b.astype(float), 1.0, 0.01, 200)
    assert decision.verdict.value == verdict == figures["verdict"] == expected
    assert figures["improvement_bounds"] == pytest.approx([lo, hi], rel=1e-6)


@pytest.mark.parametrize("scale_new", [1.0, 1.6])
def test_mae_decisions_match_the_reference(scale_new: float) -> None:
    rng = np.random.default_rng(5)
    truth_a, truth_b = rng.normal(10, 2, 900), rng.normal(10, 2, 700)
    guess_a, guess_b = truth_a + rng.normal(0, 1, 900), truth_b + rng.normal(0, scale_new, 700)
    rows = joined("1", list(guess_a), list(truth_a)) + joined("2", list(guess_b), list(truth_b))
    spec = QualityGateSpec(metric="mae", margin=0.05, min_labels=200)
    decision, figures = gate_decision(rows, spec, base="1", candidate="2")
    verdict, lo, hi = reference_verdict(np.abs(guess_a - truth_a), np.abs(guess_b - truth_b), -1.0, 0.05, 200)
    assert decision.verdict.value == verdict
    assert figures["improvement_bounds"] == pytest.approx([lo, hi], rel=1e-6)
    assert verdict == ("wait" if scale_new == 1.0 else "rollback")


def test_rmse_tests_squared_errors_with_the_margin_at_the_primarys_rmse() -> None:
    rng = np.random.default_rng(6)
    truth = rng.normal(0, 1, 800)
    guess_a, guess_b = truth + rng.normal(0, 1.0, 800), truth + rng.normal(0, 1.5, 800)
    rows = joined("1", list(guess_a), list(truth)) + joined("2", list(guess_b), list(truth))
    decision, figures = gate_decision(
        rows, QualityGateSpec(metric="rmse", margin=0.1), base="1", candidate="2"
    )
    se_a, se_b = (guess_a - truth) ** 2, (guess_b - truth) ** 2
    r = math.sqrt(se_a.mean())
    verdict, lo, hi = reference_verdict(se_a, se_b, -1.0, (r + 0.1) ** 2 - r**2, 200)
    assert decision.verdict.value == verdict == "rollback"
    assert figures["improvement_bounds"] == pytest.approx([lo, hi], rel=1e-6)
    assert figures["margin"] == pytest.approx((r + 0.1) ** 2 - r**2) and figures["margin_rmse"] == 0.1


def test_the_business_metric_kinds_drive_the_gate() -> None:
    rng = np.random.default_rng(8)
    rewards_a, rewards_b = list(rng.normal(5, 2, 600)), list(rng.normal(3, 2, 600))
    rows = joined("1", [1] * 600, [1] * 600, rewards_a) + joined("2", [1] * 600, [1] * 600, rewards_b)
    spec = QualityGateSpec(metric="business", margin=0.5, business={"kind": "reward"})
    decision, _ = gate_decision(rows, spec, base="1", candidate="2")
    verdict, *_ = reference_verdict(np.array(rewards_a), np.array(rewards_b), 1.0, 0.5, 200)
    assert decision.verdict.value == verdict == "rollback"
    costs = {"kind": "cost_matrix", "cost_matrix": {"0": {"1": 5}}}  # lower is better
    wrong_b = [0 if i % 4 == 0 else 1 for i in range(600)]  # the new version errs on a quarter
    rows = joined("1", [1] * 600, [1] * 600) + joined("2", [1] * 600, wrong_b)
    spec = QualityGateSpec(metric="business", margin=0.1, business=costs)
    assert gate_decision(rows, spec, base="1", candidate="2")[0].verdict.value == "rollback"
    function = {"kind": "function", "function": "tests.unit.business.user_metrics:revenue"}
    spec = QualityGateSpec(metric="business", margin=0.1, business=function)
    assert gate_decision(rows, spec, base="1", candidate="2")[0].verdict.value == "rollback"


def test_no_labels_for_the_new_version_never_advance() -> None:
    rows = joined("1", [1] * 2000, [1] * 2000)
    rows += [(_row(f"n{i}", "2", 1), None) for i in range(2000)]
    decision, figures = gate_decision(rows, QualityGateSpec(metric="accuracy"), base="1", candidate="2")
    assert (
        decision.verdict.value == "wait" and figures["predictions"]["new"] == 2000 and figures["n_new"] == 0
    )
