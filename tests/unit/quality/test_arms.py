"""Per-version summaries and intervals against textbook formulas (scipy.stats.norm only)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy.stats import norm

from release.quality import ArmSummary, summarise, wilson_interval
from release.quality.arms import binary_variance
from tests.unit.quality.reference import wilson_reference


@pytest.mark.parametrize(
    ("successes", "n"), [(0, 1), (1, 1), (0, 10), (10, 10), (7, 10), (900, 1000), (1, 3)]
)
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_wilson_interval_matches_the_closed_form(successes: int, n: int, level: float) -> None:
    low, high = wilson_interval(successes, n, level)
    ref_low, ref_high = wilson_reference(successes, n, level)
    assert low == pytest.approx(max(0.0, ref_low), abs=1e-12)
    assert high == pytest.approx(min(1.0, ref_high), abs=1e-12)
    assert 0.0 <= low <= successes / n <= high <= 1.0


def test_binary_summary_uses_wilson_and_reports_accuracy() -> None:
    rows = np.array([1.0] * 45 + [0.0] * 5)
    summary = ArmSummary.of(rows)
    assert summary.binary and summary.n == 50 and summary.successes == 45
    assert summary.mean == pytest.approx(0.9)
    assert summary.interval() == pytest.approx(wilson_reference(45, 50))
    assert summary.variance() == pytest.approx((46 / 52) * (6 / 52))
    counted = ArmSummary.of_counts(45, 50)
    assert (counted.n, counted.binary) == (50, True)
    assert (counted.mean, counted.m2) == pytest.approx((summary.mean, summary.m2))


def test_continuous_summary_uses_the_normal_interval() -> None:
    rows = np.array([0.3, 1.2, 0.05, 2.4, 0.7, 0.9, 1.1])
    summary = ArmSummary.of(rows)
    assert not summary.binary
    assert summary.variance() == pytest.approx(rows.var(ddof=1))
    half = norm.ppf(0.975) * rows.std(ddof=1) / math.sqrt(rows.size)
    assert summary.interval() == pytest.approx((rows.mean() - half, rows.mean() + half))
    assert summary.to_dict()["metric"] == pytest.approx(rows.mean())


def test_binary_variance_is_never_zero_and_tends_to_p_one_minus_p() -> None:
    assert float(binary_variance(0, 0)) == pytest.approx(0.25)
    assert float(binary_variance(10, 10)) > 0
    assert float(binary_variance(900_000, 1_000_000)) == pytest.approx(0.09, rel=1e-4)


def test_merge_equals_the_summary_of_all_rows() -> None:
    rng = np.random.default_rng(3)
    parts = [rng.normal(size=k) for k in (1, 5, 0, 40, 2)]
    merged = summarise(parts)
    whole = ArmSummary.of(np.concatenate(parts))
    assert merged.n == whole.n
    assert merged.mean == pytest.approx(whole.mean)
    assert merged.m2 == pytest.approx(whole.m2)
    assert not merged.binary


def test_binary_rows_merged_with_continuous_rows_are_continuous() -> None:
    assert not ArmSummary.of([0.0, 1.0]).merge(ArmSummary.of([0.5, 2.0])).binary
    assert not ArmSummary.empty(binary=False).merge(ArmSummary.of([1.0, 0.0])).binary
    assert ArmSummary.of([1.0, 0.0]).merge(ArmSummary.empty()).binary
    assert not ArmSummary.of([1.0, 0.0], binary=False).binary  # a 0/1 metric may be read as continuous


def test_empty_and_tiny_summaries() -> None:
    empty = summarise([])
    assert empty.n == 0 and empty.interval() is None and math.isnan(empty.variance())
    assert empty.to_dict() == {
        "n": 0,
        "metric": None,
        "interval": None,
        "interval_level": 0.95,
        "binary": True,
    }
    one = ArmSummary.of([2.5])
    assert one.interval() is None and math.isnan(one.variance())
    assert ArmSummary.of([3.0, 3.0]).variance() > 0  # floored


@pytest.mark.parametrize(
    "bad",
    [
        lambda: ArmSummary(n=-1, mean=0.0, m2=0.0, binary=True),
        lambda: ArmSummary(n=0, mean=1.0, m2=0.0, binary=True),
        lambda: ArmSummary(n=2, mean=math.nan, m2=0.0, binary=False),
        lambda: ArmSummary.of([1.0, math.inf]),
        lambda: ArmSummary.of_counts(5, 3),
        lambda: ArmSummary.of([0.0, 0.5], binary=True),
        lambda: wilson_interval(0, 0),
    ],
)
def test_invalid_summaries_are_refused(bad: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        bad()
