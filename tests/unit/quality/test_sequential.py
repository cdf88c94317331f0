"""The always-valid test against an independent computation on fixed samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from release.quality import ArmSummary, Direction, compare, mixture_scale_for
from release.quality.sequential import (
    DEFAULT_MIXTURE_SCALE,
    boundary,
    mixture_log_likelihood_ratio,
    tightest_lambda,
)
from tests.unit.quality.reference import (
    confidence_sequence_quad,
    difference_and_variance,
    mixture_likelihood_ratio_quad,
)

RNG = np.random.default_rng(20261207)
# Fixed samples: accuracy rows at a 10% canary, and absolute errors of two regressors.
PRIMARY_CORRECT = (RNG.random(1800) < 0.90).astype(float)
NEW_CORRECT = (RNG.random(200) < 0.84).astype(float)
PRIMARY_ERRORS = np.abs(RNG.normal(0.0, 1.0, 900))
NEW_ERRORS = np.abs(RNG.normal(0.0, 1.25, 100))

SAMPLES = [
    pytest.param(PRIMARY_CORRECT, NEW_CORRECT, id="accuracy"),
    pytest.param(PRIMARY_ERRORS, NEW_ERRORS, id="absolute-error"),
    pytest.param(PRIMARY_CORRECT[:40], NEW_CORRECT[:5], id="few-rows"),
    pytest.param(np.ones(50), np.ones(6), id="all-correct"),
]


@pytest.mark.parametrize(("primary", "new"), SAMPLES)
@pytest.mark.parametrize("rho", [DEFAULT_MIXTURE_SCALE, 0.02, 0.5])
def test_likelihood_ratio_p_value_and_bounds_match_numerical_integration(
    primary: np.ndarray, new: np.ndarray, rho: float
) -> None:
    # GIVEN fixed samples and an independent reference: D, V from the rows, Lambda by quadrature
    d, v, pooled = difference_and_variance(primary, new)
    tau = rho * math.sqrt(pooled)
    reference_lr = mixture_likelihood_ratio_quad(d, v, tau)
    reference_cs = confidence_sequence_quad(d, v, tau, alpha=0.05)

    # WHEN the closed form is computed from per-version summaries
    result = compare(ArmSummary.of(primary), ArmSummary.of(new), mixture_scale=rho, alpha=0.05, burn_in=2)

    # THEN they agree
    assert result.difference == pytest.approx(d, rel=1e-12, abs=1e-15)
    assert result.standard_error == pytest.approx(math.sqrt(v), rel=1e-12)
    assert math.exp(result.log_likelihood_ratio) == pytest.approx(reference_lr, rel=1e-7)
    assert result.p_value == pytest.approx(min(1.0, 1.0 / reference_lr), rel=1e-7)
    assert result.lower == pytest.approx(reference_cs[0], rel=1e-7, abs=1e-10)
    assert result.upper == pytest.approx(reference_cs[1], rel=1e-7, abs=1e-10)


def test_p_value_is_below_alpha_exactly_when_the_sequence_excludes_zero() -> None:
    for k in range(0, 60, 3):
        new = np.concatenate([np.ones(150 - k), np.zeros(50 + k)]) if k else NEW_CORRECT
        result = compare(ArmSummary.of(PRIMARY_CORRECT), ArmSummary.of(new), alpha=0.05)
        excludes_zero = result.lower > 0 or result.upper < 0
        assert (result.p_value < 0.05) == excludes_zero


def test_the_sequence_is_wider_than_the_fixed_sample_interval() -> None:
    result = compare(ArmSummary.of(PRIMARY_CORRECT), ArmSummary.of(NEW_CORRECT))
    assert result.difference_ci95 is not None
    assert result.lower < result.difference_ci95[0] < result.difference_ci95[1] < result.upper


def test_log_likelihood_ratio_formula_against_quad_over_a_grid() -> None:
    for z in (-4.0, -1.0, 0.0, 0.5, 2.5, 6.0):
        for lam in (0.01, 1.0, 8.2, 300.0):
            v = 1e-4
            tau = math.sqrt(lam * v)
            expected = math.log(mixture_likelihood_ratio_quad(z * math.sqrt(v), v, tau))
            assert float(mixture_log_likelihood_ratio(z, lam)) == pytest.approx(expected, rel=1e-8, abs=1e-10)


def test_tightest_lambda_solves_its_equation_and_minimises_the_width() -> None:
    for alpha in (0.01, 0.05, 0.1):
        lam = tightest_lambda(alpha)
        assert lam == pytest.approx(2 * math.log(1 / alpha) + math.log1p(lam), rel=1e-9)
        grid = np.geomspace(lam / 20, lam * 20, 4001)
        assert float(boundary(lam, alpha)) <= float(boundary(grid, alpha).min()) + 1e-9
    assert mixture_scale_for(600.0) == pytest.approx(math.sqrt(tightest_lambda(0.05) / 600.0))
    assert mixture_scale_for(600.0) == pytest.approx(DEFAULT_MIXTURE_SCALE)


def test_lower_is_better_orients_the_improvement() -> None:
    # GIVEN a regressor whose absolute errors are larger (worse) than the primary's
    result = compare(
        ArmSummary.of(PRIMARY_ERRORS), ArmSummary.of(NEW_ERRORS), direction=Direction.LOWER_IS_BETTER
    )
    assert result.difference is not None and result.difference > 0  # raw: new errors are larger
    assert result.improvement is not None and result.improvement < 0  # oriented: new is worse
    assert result.improvement_lower == pytest.approx(-result.upper)
    assert result.improvement_upper == pytest.approx(-result.lower)
    # THEN it is the mirror image of the same rows negated with higher-is-better
    mirrored = compare(ArmSummary.of(-PRIMARY_ERRORS), ArmSummary.of(-NEW_ERRORS))
    assert mirrored.improvement_lower == pytest.approx(result.improvement_lower)
    assert mirrored.improvement_upper == pytest.approx(result.improvement_upper)
    assert mirrored.p_value == pytest.approx(result.p_value)


@pytest.mark.parametrize(
    ("primary", "new"),
    [
        pytest.param(ArmSummary.of(PRIMARY_CORRECT), ArmSummary.empty(), id="no-labels-for-new"),
        pytest.param(ArmSummary.empty(), ArmSummary.of(NEW_CORRECT), id="one-version-only"),
        pytest.param(ArmSummary.empty(), ArmSummary.empty(), id="no-labels"),
        pytest.param(ArmSummary.of(PRIMARY_CORRECT), ArmSummary.of([1.0]), id="one-row"),
    ],
)
def test_undefined_comparisons_are_unbounded_with_p_value_one(primary: ArmSummary, new: ArmSummary) -> None:
    result = compare(primary, new)
    assert not result.defined
    assert result.p_value == 1.0
    assert result.lower == -math.inf and result.upper == math.inf
    assert result.to_dict()["confidence_sequence"] == [None, None]
    assert compare(primary, new, previous_p_value=0.2).p_value == 0.2


def test_before_the_burn_in_the_difference_is_shown_but_not_tested() -> None:
    # GIVEN 99 labelled rows for the new version, one short of the burn-in
    result = compare(ArmSummary.of(PRIMARY_CORRECT), ArmSummary.of(NEW_CORRECT[:99]), burn_in=100)
    # THEN the estimate and its fixed-sample interval are there, the sequential test is not
    assert not result.defined
    assert result.difference is not None and result.difference_ci95 is not None
    assert (result.p_value, result.lower, result.upper) == (1.0, -math.inf, math.inf)
    assert compare(ArmSummary.of(PRIMARY_CORRECT), ArmSummary.of(NEW_CORRECT[:100]), burn_in=100).defined
    with pytest.raises(ValueError):
        compare(ArmSummary.of(PRIMARY_CORRECT), ArmSummary.of(NEW_CORRECT), burn_in=1)


def test_previous_p_value_is_carried_as_a_running_minimum() -> None:
    first = compare(ArmSummary.of(PRIMARY_CORRECT), ArmSummary.of(NEW_CORRECT))
    assert (
        compare(ArmSummary.of(PRIMARY_CORRECT), ArmSummary.of(NEW_CORRECT), previous_p_value=1e-9).p_value
        == 1e-9
    )
    assert compare(
        ArmSummary.of(PRIMARY_CORRECT), ArmSummary.of(NEW_CORRECT), previous_p_value=1.0
    ).p_value == (first.p_value)
    with pytest.raises(ValueError):
        compare(ArmSummary.of(PRIMARY_CORRECT), ArmSummary.of(NEW_CORRECT), previous_p_value=1.5)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        compare(ArmSummary.of(PRIMARY_CORRECT), ArmSummary.of(NEW_CORRECT), alpha=0.0)
    with pytest.raises(ValueError):
        compare(ArmSummary.of(PRIMARY_CORRECT), ArmSummary.of(NEW_CORRECT), mixture_scale=0.0)
    with pytest.raises(ValueError):
        mixture_scale_for(0.0)
