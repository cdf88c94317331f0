"""Invariants of the always-valid test on generated samples (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from release.quality import ArmSummary, Direction, QualityGateConfig, Verdict, compare, decide

binary_rows = st.lists(st.sampled_from([0.0, 1.0]), min_size=0, max_size=300)
real_rows = st.lists(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), min_size=0, max_size=200)
rows = st.one_of(binary_rows, real_rows)
directions = st.sampled_from(list(Direction))
scales = st.floats(min_value=1e-3, max_value=5.0)
alphas = st.floats(min_value=1e-4, max_value=0.5)


@settings(max_examples=200, deadline=None)
@given(rows, rows, directions, scales, alphas)
def test_p_value_in_unit_interval_and_sequence_holds_the_estimate(
    primary: list[float], new: list[float], direction: Direction, scale: float, alpha: float
) -> None:
    result = compare(
        ArmSummary.of(primary),
        ArmSummary.of(new),
        direction=direction,
        mixture_scale=scale,
        alpha=alpha,
        burn_in=2,
    )
    assert 0.0 <= result.p_value <= 1.0
    assert result.lower <= result.upper
    assert result.improvement_lower <= result.improvement_upper
    if result.defined:
        assert result.difference is not None
        assert result.lower <= result.difference <= result.upper
        assert math.isfinite(result.lower) and math.isfinite(result.upper)
        assert result.improvement is not None
        assert result.improvement_lower <= result.improvement <= result.improvement_upper


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(binary_rows, binary_rows), min_size=1, max_size=12))
def test_running_p_value_never_rises_across_checks(batches: list[tuple[list[float], list[float]]]) -> None:
    primary, new = ArmSummary.empty(), ArmSummary.empty()
    previous: float | None = None
    for primary_batch, new_batch in batches:
        primary = primary.merge(ArmSummary.of(primary_batch))
        new = new.merge(ArmSummary.of(new_batch))
        result = compare(primary, new, previous_p_value=previous, burn_in=2)
        assert previous is None or result.p_value <= previous
        previous = result.p_value


@settings(max_examples=150, deadline=None)
@given(
    rows, rows, st.floats(min_value=0.0, max_value=10.0), st.integers(min_value=1, max_value=500), directions
)
def test_gate_never_advances_without_min_labels_and_is_json(
    primary: list[float], new: list[float], margin: float, min_labels: int, direction: Direction
) -> None:
    config = QualityGateConfig(margin=margin, min_labels=min_labels, burn_in=2)
    decision = decide(ArmSummary.of(primary), ArmSummary.of(new), config, direction=direction)
    if len(new) < min_labels:
        assert decision.verdict is not Verdict.ADVANCE
    if decision.verdict is Verdict.ROLLBACK:
        assert decision.comparison.improvement_upper < -margin
    if decision.verdict is Verdict.ADVANCE:
        assert decision.comparison.improvement_lower > -margin
    record = decision.to_dict()
    assert record["verdict"] == decision.verdict.value
    assert record["n_new"] == len(new)


@settings(max_examples=100, deadline=None)
@given(rows, rows)
def test_swapping_versions_mirrors_the_sequence(primary: list[float], new: list[float]) -> None:
    forward = compare(ArmSummary.of(primary), ArmSummary.of(new), burn_in=2)
    backward = compare(ArmSummary.of(new), ArmSummary.of(primary), burn_in=2)
    assert math.isclose(forward.p_value, backward.p_value, rel_tol=1e-9, abs_tol=1e-300)
    if forward.defined:
        assert math.isclose(forward.lower, -backward.upper, rel_tol=1e-9, abs_tol=1e-9)
