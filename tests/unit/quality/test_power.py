"""Sample sizes: the fixed-sample z-test formula and the always-valid test's, solved on its boundary."""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from release.quality import ArmSummary, compare, fixed_horizon_labels, labels_needed, sequential_labels
from release.quality.sequential import DEFAULT_MIXTURE_SCALE, boundary

V_PRIMARY, V_NEW = 0.09, 0.1275  # accuracy 0.90 and 0.85


def test_fixed_horizon_matches_the_textbook_formula() -> None:
    n = fixed_horizon_labels(0.05, V_PRIMARY, V_NEW, 0.1, power=0.8, alpha=0.05)
    z = norm.ppf(0.975) + norm.ppf(0.8)
    expected = z**2 * (V_NEW / 0.1 + V_PRIMARY / 0.9) / 0.05**2
    assert n == math.ceil(expected)


@pytest.mark.parametrize(("distance", "share"), [(0.05, 0.1), (0.04, 0.1), (0.02, 0.5), (-0.03, 0.25)])
def test_sequential_sample_size_sits_on_the_boundary(distance: float, share: float) -> None:
    n = sequential_labels(distance, V_PRIMARY, V_NEW, share, power=0.8)
    assert n is not None

    def margin_at(rows: float) -> float:
        variance = (V_NEW / share + V_PRIMARY / (1 - share)) / rows
        pooled = (1 - share) * V_PRIMARY + share * V_NEW
        lam = DEFAULT_MIXTURE_SCALE**2 * pooled / variance
        return abs(distance) - math.sqrt(variance) * (float(boundary(lam, 0.05)) + float(norm.ppf(0.8)))

    assert margin_at(n) >= 0 > margin_at(n - 1)
    fixed = fixed_horizon_labels(distance, V_PRIMARY, V_NEW, share, power=0.8)
    assert fixed is not None and n > fixed  # always-valid inference costs rows


def test_no_effect_cannot_be_detected() -> None:
    assert sequential_labels(0.0, V_PRIMARY, V_NEW, 0.1) is None
    assert fixed_horizon_labels(0.0, V_PRIMARY, V_NEW, 0.1) is None


def test_labels_needed_uses_the_current_allocation_and_counts_what_is_left() -> None:
    comparison = compare(ArmSummary.of_counts(1_800, 2_000), ArmSummary.of_counts(180, 200))
    size = labels_needed(comparison, effect=-0.05)
    assert size is not None
    assert size.new_share == pytest.approx(200 / 2_200)
    assert size.current_total == 2_200
    assert size.sequential_total is not None and size.fixed_horizon_total is not None
    assert size.sequential_more == size.sequential_total - 2_200
    assert size.to_dict()["sequential_more"] == size.sequential_more
    # the gate's question: distance to -margin, not to 0
    with_margin = labels_needed(comparison, effect=-0.05, margin=0.01)
    assert with_margin is not None and with_margin.sequential_total is not None
    assert with_margin.sequential_total > size.sequential_total


def test_labels_needed_without_both_versions_is_none() -> None:
    assert labels_needed(compare(ArmSummary.of_counts(900, 1_000), ArmSummary.empty()), effect=0.05) is None
    assert labels_needed(compare(ArmSummary.empty(), ArmSummary.empty()), effect=0.05, new_share=0.1) is None


def test_labels_needed_can_plan_before_the_new_version_has_labels() -> None:
    # GIVEN a canary about to start at 10%, the new version's variance taken as the primary's
    size = labels_needed(
        compare(ArmSummary.of_counts(900, 1_000), ArmSummary.empty()), effect=-0.05, new_share=0.1
    )
    assert size is not None
    variance = ArmSummary.of_counts(900, 1_000).variance()
    assert size.sequential_total == sequential_labels(-0.05, variance, variance, 0.1)
    fixed = fixed_horizon_labels(-0.05, variance, variance, 0.1)
    assert fixed is not None and size.fixed_horizon_more == fixed - 1_000


@pytest.mark.parametrize("kwargs", [{"power": 1.0}, {"alpha": 0.0}])
def test_invalid_inputs_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        sequential_labels(0.05, V_PRIMARY, V_NEW, 0.1, **kwargs)
    with pytest.raises(ValueError):
        fixed_horizon_labels(0.05, V_PRIMARY, V_NEW, 1.0)
