"""The quality gate in a release, in process and in the release controller's steps, against moto:
it decides (advance / roll back) once the test can, waits for labels, holds the weight when the
wait runs out, and never promotes a version without labels; every decision is in the history."""

from __future__ import annotations

import json
from typing import Any

import pytest

from release.context import ReleaseContext
from release.controller.execution import ControllerOptions, execution_input
from release.controller.steps import run_step
from release.errors import GateFiredError, RefusedError
from release.plan import bluegreen_plan, canary_plan, shift_plan, with_quality
from release.quality.release_gate import QualityGateSpec
from release.runner import ReleaseOptions, Releaser
from release.target import TargetFlags
from tests.unit.modelctl.world import No, Notes, World
from tests.unit.quality_release.labels import LabelStream

SPEC = QualityGateSpec(metric="accuracy", margin=0.01, min_labels=200, max_wait_s=1800, log_bucket="logs")


def context(world: World, stream: LabelStream, notes: Notes | None = None) -> ReleaseContext:
    ctx = world.factory().context(TargetFlags(), reporter=notes or Notes(), prompt=No(), poll_s=60)
    ctx.quality_rows_override = stream
    return ctx


def quality_entries(world: World) -> list[dict[str, Any]]:
    return [e for e in world.history_items() if "quality gate" in e["action"]]


def test_a_worse_canary_is_rolled_back_once_the_test_decides(world: World) -> None:
    stream = LabelStream({"1": 0.92, "2": 0.80})
    notes = Notes()
    plan = lambda base: with_quality(canary_plan("2", base, 10, 60), SPEC)  # noqa: E731
    with pytest.raises(GateFiredError, match="quality gate"):
        Releaser(context(world, stream, notes)).release("2", plan, ReleaseOptions(pre_traffic=False))
    assert world.alias_routing() == ("1", {})
    [entry] = quality_entries(world)
    assert entry["outcome"] == "rollback"
    figures = json.loads(entry["detail"])
    assert figures["verdict"] == "rollback" and figures["metric"] == "accuracy"
    assert figures["improvement_bounds"][1] < -0.01 and figures["p_value"] < 0.05
    assert figures["labelled"]["new"] == figures["n_new"] > 0
    assert ("canary rollback", "rolled back") in world.actions()
    assert world.alarm_names() == []


def test_a_shift_waits_for_labels_then_advances_to_promotion(world: World) -> None:
    stream = LabelStream({"1": 0.80, "2": 0.97}, delay_s=240)
    notes = Notes()
    plan = lambda base: with_quality(shift_plan("2", base, [50, 100], 60), SPEC)  # noqa: E731
    outcome = Releaser(context(world, stream, notes)).release("2", plan, ReleaseOptions(pre_traffic=False))
    assert world.alias_routing() == ("2", {})
    assert "is the primary" in outcome.message
    assert any("waits: no labelled rows" in line for line in notes.lines)
    [entry] = quality_entries(world)
    assert entry["outcome"] == "advance"
    figures = json.loads(entry["detail"])
    assert figures["n_new"] >= 200 and figures["improvement_bounds"][0] > -0.01
    assert figures["waited_s"] >= 240 - 60


def test_no_labels_hold_the_weight_when_the_wait_runs_out_and_never_promote(world: World) -> None:
    stream = LabelStream({"1": 0.9, "2": 0.9}, delay_s=10**9)
    plan = lambda base: with_quality(shift_plan("2", base, [20, 100], 60), SPEC)  # noqa: E731
    outcome = Releaser(context(world, stream)).release("2", plan, ReleaseOptions(pre_traffic=False))
    assert world.alias_routing() == ("1", {"2": 0.2})
    assert "holds its weight" in outcome.message and "no labelled rows" in outcome.message
    [entry] = quality_entries(world)
    assert entry["outcome"] == "hold" and json.loads(entry["detail"])["n_new"] == 0
    assert json.loads(world.state_item()["release"])["status"] == "shift"  # for promote / rollback
    assert stream.calls >= 1800 / 60


def test_a_gate_without_a_step_below_100_percent_is_refused() -> None:
    with pytest.raises(RefusedError, match="no step below 100%"):
        with_quality(bluegreen_plan("2", "1", 0), SPEC)


def test_the_dry_run_describes_the_gate(world: World) -> None:
    notes = Notes()
    plan = lambda base: with_quality(canary_plan("2", base, 10, 60), SPEC)  # noqa: E731
    Releaser(context(world, LabelStream({}), notes)).release("2", plan, ReleaseOptions(dry_run=True))
    assert any("quality gate: accuracy, margin 0.01" in line for line in notes.lines)


# -- the release controller's steps -------------------------------------------------------------------


def run(world: World, stream: LabelStream, name: str, state: dict[str, Any]) -> dict[str, Any]:
    return run_step(context(world, stream), name, state)


def controller_input(plan_kind: str = "shift") -> dict[str, Any]:
    plan = with_quality(shift_plan("2", "1", [25, 100], 60), SPEC)
    return execution_input("r1", "tester", plan, ControllerOptions(reason="test", check_every_s=60))


def drive(world: World, stream: LabelStream, limit: int = 200) -> dict[str, Any]:
    """Run the steps as the state machine would, the Wait state advancing the clock."""
    state = run(world, stream, "begin", controller_input())
    for _ in range(limit):
        nxt = state["release"]["next"]
        if nxt == "step":
            state = run(world, stream, "advance", state)
        elif nxt == "bake":
            world.clock.advance(state["release"]["wait_s"])
            state = run(world, stream, "check", state)
        elif nxt == "fired":
            return run(world, stream, "roll_back", state)
        elif nxt == "finish":
            return run(world, stream, "finish", state)
        else:
            return state
    raise AssertionError("the release did not end")


def test_the_controller_rolls_back_a_worse_version_on_the_quality_gate(world: World) -> None:
    state = drive(world, LabelStream({"1": 0.92, "2": 0.80}))
    assert state["release"]["next"] == "rolled back"
    assert "quality gate (accuracy)" in state["release"]["outcome"]
    assert world.alias_routing() == ("1", {})
    assert [e["outcome"] for e in quality_entries(world)] == ["rollback"]


def test_the_controller_advances_a_better_version_after_waiting(world: World) -> None:
    state = drive(world, LabelStream({"1": 0.80, "2": 0.97}, delay_s=300))
    assert state["release"]["next"] == "done"
    assert world.alias_routing() == ("2", {})
    assert [e["outcome"] for e in quality_entries(world)] == ["advance"]


def test_the_controller_holds_a_version_without_labels_and_does_not_promote_it(world: World) -> None:
    state = drive(world, LabelStream({"1": 0.9, "2": 0.9}, delay_s=10**9))
    assert state["release"]["next"] == "done"
    assert "holds its weight" in state["release"]["outcome"]
    assert world.alias_routing() == ("1", {"2": 0.25})
    assert [e["outcome"] for e in quality_entries(world)] == ["hold"]
