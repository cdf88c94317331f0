"""Plans: the weights a release moves through, and the refusals of impossible ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from release.clock import format_duration, parse_duration
from release.errors import RefusedError
from release.plan import (
    Step,
    bluegreen_plan,
    canary_plan,
    linear_plan,
    parse_percents,
    remaining_steps,
    shift_plan,
)


def test_shift_bakes_between_steps_and_ends_with_the_candidate_as_primary() -> None:
    plan = shift_plan("3", "1", [10, 25, 50, 100], 300)
    assert plan.steps == (Step(10, 300), Step(25, 300), Step(50, 300), Step(100, 0))
    assert plan.ends_with_promotion
    assert plan.routing_at(plan.steps[0]).describe() == "v1 90% + v3 10%"
    assert plan.routing_at(plan.steps[-1]).describe() == "v3 100%"


def test_shift_adds_the_final_100_percent_step() -> None:
    assert [s.percent for s in shift_plan("3", "1", [20, 60], 60).steps] == [20, 60, 100]


@pytest.mark.parametrize("steps", [[25, 10, 100], [10, 10, 100]])
def test_shift_steps_must_increase(steps: list[float]) -> None:
    with pytest.raises(RefusedError, match="must increase"):
        shift_plan("3", "1", steps, 60)


def test_shift_needs_a_bake() -> None:
    with pytest.raises(RefusedError, match="must be positive"):
        shift_plan("3", "1", [50], 0)


def test_linear_moves_by_the_increment_until_all_traffic() -> None:
    plan = linear_plan("3", "1", 10, 60)
    assert [s.percent for s in plan.steps] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert {s.bake_s for s in plan.steps[:-1]} == {60}


def test_linear_with_an_increment_that_does_not_divide_100() -> None:
    assert [s.percent for s in linear_plan("3", "1", 30, 60).steps] == [30, 60, 90, 100]


@pytest.mark.parametrize("weight", [0, 100, -5, 150, 0.001])
def test_canary_weight_outside_0_100_or_too_precise_is_refused(weight: float) -> None:
    with pytest.raises(RefusedError):
        canary_plan("3", "1", weight, 0)


def test_canary_keeps_the_candidate_weighted_and_bluegreen_moves_everything() -> None:
    canary = canary_plan("3", "1", 12.5, 0)
    assert not canary.ends_with_promotion
    assert canary.routing_at(canary.steps[0]).describe() == "v1 87.5% + v3 12.5%"
    assert bluegreen_plan("3", "1", 0).steps == (Step(100, 0),)


def test_resuming_skips_the_steps_already_taken() -> None:
    plan = shift_plan("3", "1", [10, 25, 50], 60)
    assert [s.percent for s in remaining_steps(plan, 25).steps] == [50, 100]


@pytest.mark.parametrize("text", ["10,x", "0,50", "50,101", "-1"])
def test_bad_step_lists_are_refused(text: str) -> None:
    with pytest.raises(RefusedError):
        parse_percents(text)


def test_dry_run_description_names_every_step() -> None:
    lines = shift_plan("3", "1", [50], 90).describe()
    assert lines == [
        "shift of v3 (primary now v1):",
        "  1. v1 50% + v3 50%, bake 1m30s watching the gates",
        "  2. v3 100%",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("90s", 90), ("90", 90), ("1h30m", 5400), ("1m30s", 90), ("0.5s", 0.5)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m", "1.5m", "-1s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10 * 86_400))
def test_formatted_durations_parse_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
