"""The release commands through Typer's runner, against moto, with a clock that never sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from modelctl.factory import Factory
from modelctl.render.console import ConsoleReporter, TyperPrompt
from release.alias import Routing
from release.compare import VersionStats
from release.runner import ReleaseOptions, Releaser
from release.target import TargetFlags
from tests.unit.modelctl.world import World, run_cli

GATES = ("errors", "p99", "internal-errors")

SHIFT_TO_HALF = ("shift", "--in-process", "2", "--steps", "50", "--bake", "1m")
"""A shift of v2 to 50% then 100%, baking one minute at each step."""


def count_alias_updates(factory: Factory) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(params)

    factory.clients.lambda_.meta.events.register("provide-client-params.lambda.UpdateAlias", record)
    return calls


def when_sleeping(world: World, action: Callable[[], None], *, at_weight: float | None = None) -> None:
    """Run `action` once, on the first sleep (a bake) where the canary has `at_weight` (any if None)."""
    done: list[bool] = []

    def hook(_: float) -> None:
        if done:
            return
        weights = world.alias_routing()[1]
        if at_weight is None or weights.get("2") == at_weight:
            done.append(True)
            action()

    world.clock.on_sleep.append(hook)


# -- status -------------------------------------------------------------------------------------------


def test_status_shows_versions_weights_and_models(world: World) -> None:
    world.set_routing("1", {"2": 0.1})
    code, output, _ = run_cli(world.factory(), "status")
    assert code == 0
    assert "v1 90% + v2 10%" in output
    assert "m-one" in output and "m-two" in output
    assert "no release in progress" in output


def test_status_json_for_scripts(world: World) -> None:
    code, output, _ = run_cli(world.factory(), "status", "--json")
    report = json.loads(output)
    assert code == 0
    assert report["routing"] == "v1 100%"
    assert report["versions"] == [
        {
            "version": "1",
            "role": "primary",
            "percent": 100.0,
            "model_version": "m-one",
            "model_uri": f"s3://{world.bucket}/models/m-one/",
            "description": "",
        }
    ]
    assert {a["name"] for a in report["fleet_alarms"]} == {world.errors_alarm, world.p99_alarm}
    assert report["release"] is None and report["lock"] is None


# -- canary -------------------------------------------------------------------------------------------


def test_canary_checks_the_version_first_then_sends_it_its_share(world: World) -> None:
    code, output, _ = run_cli(
        world.factory(), "canary", "--in-process", "2", "--weight", "10", "--reason", "new model"
    )
    assert code == 0, output
    assert world.alias_routing() == ("1", {"2": 0.1})
    assert world.invoker.calls == [("2", "GET /health"), ("2", "POST /predict")]
    assert "pre-traffic check passed: v2" in output
    assert sorted(world.alarm_names()) == sorted(world.gate_alarm("2", kind) for kind in GATES)
    state = world.state_item()
    assert json.loads(state["release"])["kind"] == "canary"
    assert ("canary step 1/1", "ok") in world.actions()


def test_canary_dry_run_changes_nothing(world: World) -> None:
    code, output, _ = run_cli(world.factory(), "canary", "--in-process", "2", "--weight", "10", "--dry-run")
    assert code == 0
    assert "v1 90% + v2 10%" in output and "dry run: nothing changed" in output
    assert world.gate_alarm("2", "errors") in output
    assert world.alias_routing() == ("1", {})
    assert world.alarm_names() == [] and world.history_items() == [] and world.invoker.calls == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("2", "--weight", "0"), "outside (0, 100)"),
        (("2", "--weight", "100"), "use `modelctl bluegreen`"),
        (("$LATEST",), "$LATEST cannot take alias traffic"),
        (("42",), "version 42 of inference does not exist"),
        (("1",), "already the primary"),
    ],
)
def test_canary_refusals_change_nothing(world: World, args: tuple[str, ...], message: str) -> None:
    code, output, _ = run_cli(world.factory(), "canary", "--in-process", *args)
    assert code == 1
    assert message in output
    assert world.alias_routing() == ("1", {})
    assert world.history_items() == []


def test_a_second_release_is_refused_while_one_is_in_progress(world: World) -> None:
    assert run_cli(world.factory(), "canary", "--in-process", "2")[0] == 0
    code, output, _ = run_cli(world.factory(), "canary", "--in-process", "3")
    assert code == 1
    assert "a canary of v2 is in progress" in output
    assert world.alias_routing() == ("1", {"2": 0.1})


def test_a_release_command_running_elsewhere_holds_the_lock(world: World) -> None:
    other = world.release_lock()
    other.acquire("arn:aws:iam::123456789012:user/alice", "shift v3")
    code, output, _ = run_cli(world.factory(), "canary", "--in-process", "2")
    assert code == 1
    assert "'shift v3' by arn:aws:iam::123456789012:user/alice" in output
    assert world.alias_routing() == ("1", {})


def test_weights_set_outside_modelctl_are_not_overwritten(world: World) -> None:
    world.set_routing("1", {"3": 0.2})
    code, output, _ = run_cli(world.factory(), "canary", "--in-process", "2")
    assert code == 1
    assert "already sends 20% to v3 outside a modelctl release" in output


def test_a_canary_weight_can_be_raised(world: World) -> None:
    run_cli(world.factory(), "canary", "--in-process", "2", "--weight", "10")
    code, _, _ = run_cli(world.factory(), "canary", "--in-process", "2", "--weight", "30")
    assert code == 0
    assert world.alias_routing() == ("1", {"2": 0.3})


def test_more_traffic_for_a_canary_whose_gate_fired_is_refused(world: World) -> None:
    run_cli(world.factory(), "canary", "--in-process", "2", "--weight", "10")
    world.set_alarm(world.gate_alarm("2", "internal-errors"), "ALARM")
    code, output, _ = run_cli(world.factory(), "canary", "--in-process", "2", "--weight", "30")
    assert code == 1 and "a gate of v2 fired (internal-errors ALARM)" in output
    assert world.alias_routing() == ("1", {"2": 0.1})


def test_a_failing_pre_traffic_check_stops_the_release_before_users_see_it(world: World) -> None:
    world.invoker.failing["2"] = "RuntimeError"
    code, output, _ = run_cli(world.factory(), "canary", "--in-process", "2")
    assert code == 1
    assert "pre-traffic check: GET /health on v2 failed (Unhandled)" in output
    assert world.alias_routing() == ("1", {})
    assert world.actions() == [("canary", "refused")]
    assert world.alarm_names() == []


def test_skipping_the_pre_traffic_check_warns(world: World) -> None:
    code, output, _ = run_cli(world.factory(), "canary", "--in-process", "2", "--skip-pre-traffic-check")
    assert code == 0
    assert "pre-traffic check skipped" in output
    assert world.invoker.calls == []


# -- shift ----------------------------------------------------------------------------------------------


def test_a_progressive_release_completes_without_really_sleeping(world: World) -> None:
    code, output, _ = run_cli(
        world.factory(), "shift", "--in-process", "2", "--steps", "10,50,100", "--bake", "5m", "--poll", "60"
    )
    assert code == 0, output
    assert world.alias_routing() == ("2", {})
    assert sum(world.clock.slept) == 600
    assert world.actions() == [
        ("shift", "started"),
        ("shift step 1/3", "ok"),
        ("shift step 2/3", "ok"),
        ("shift step 3/3", "ok"),
        ("shift", "completed"),
    ]
    assert world.alarm_names() == []
    state = world.state_item()
    assert "release" not in state and state["previous_primary"] == "1"
    assert "v2 is the primary; v1 is the rollback target" in output


def test_every_history_entry_records_who_from_to_and_why(world: World) -> None:
    run_cli(world.factory(), *SHIFT_TO_HALF, "--reason", "better recall")
    step = next(item for item in world.history_items() if item["action"] == "shift step 1/2")
    assert step["who"] == "arn:aws:sts::123456789012:user/moto"
    assert Routing.from_item(step["before"]) == Routing("1")
    assert Routing.from_item(step["after"]) == Routing("1", "2", 50)
    assert step["reason"] == "better recall" and step["model_version"] == "m-two"
    assert step["at"] == "2026-03-01T12:00:00.000000Z"


def test_linear_shift_moves_by_the_increment(world: World) -> None:
    updates = count_alias_updates(factory := world.factory())
    code, _, _ = run_cli(factory, "shift", "--in-process", "2", "--linear", "25", "--every", "30s")
    assert code == 0
    weights = [u["RoutingConfig"]["AdditionalVersionWeights"] for u in updates]
    assert weights == [{"2": 0.25}, {"2": 0.5}, {"2": 0.75}, {}]
    assert world.alias_routing() == ("2", {})


def test_shift_needs_steps_or_linear(world: World) -> None:
    code, output, _ = run_cli(world.factory(), "shift", "--in-process", "2")
    assert code == 1 and "give either --steps" in output


def test_a_gate_that_fires_mid_way_rolls_back_at_once(world: World) -> None:
    factory = world.factory()
    when_sleeping(
        world,
        lambda: world.set_alarm(world.gate_alarm("2", "errors"), "ALARM", "6 errors in 3 periods"),
        at_weight=0.5,
    )
    code, output, _ = run_cli(factory, "shift", "--in-process", "2", "--steps", "10,50,100", "--bake", "5m")
    assert code == 2
    assert world.alias_routing() == ("1", {})
    assert "gate fired during step 2" in output and "6 errors in 3 periods" in output
    assert "rolled back to v1" in output
    assert world.actions()[-1] == ("shift rollback", "rolled back")
    rollback = world.history_items()[-1]
    assert rollback["reason"].startswith("automatic: gate fired during step 2")
    assert world.alarm_names() == []
    assert "release" not in world.state_item()


def test_the_gate_is_checked_before_the_bake_ends(world: World) -> None:
    when_sleeping(world, lambda: world.set_alarm(world.gate_alarm("2", "internal-errors"), "ALARM"))
    code, _, _ = run_cli(
        world.factory(), "shift", "--in-process", "2", "--steps", "10", "--bake", "10m", "--poll", "15"
    )
    assert code == 2
    assert world.clock.slept == [15]


def test_metric_comparison_blocks_a_worse_version(world: World) -> None:
    class Stats:
        def stats(self, version: str, **_: Any) -> VersionStats:
            errors = 9.0 if version == "2" else 1.0
            return VersionStats(version, 100, errors, 10.0)

    factory = world.factory(metrics=Stats())
    code, output, _ = run_cli(factory, *SHIFT_TO_HALF, "--compare")
    assert code == 2
    assert "metric comparison: error rate 9.00% of v2 exceeds v1's 1.00%" in output
    assert world.alias_routing() == ("1", {})


def test_metric_comparison_lets_a_version_that_is_no_worse_advance(world: World) -> None:
    class Stats:
        def stats(self, version: str, **_: Any) -> VersionStats:
            return VersionStats(version, 100, 1.0, 10.0)

    code, output, _ = run_cli(world.factory(metrics=Stats()), *SHIFT_TO_HALF, "--compare")
    assert code == 0, output
    assert "no worse than the primary" in output


def interrupted_shift(world: World, answer: str) -> tuple[int, str]:
    """A shift to 10% then 50%, Ctrl-C pressed during the second bake and `answer` given to the
    question that follows: (exit code, output)."""

    def interrupt() -> None:
        raise KeyboardInterrupt

    when_sleeping(world, interrupt, at_weight=0.5)
    code, output, _ = run_cli(
        world.factory(), "shift", "--in-process", "2", "--steps", "10,50", "--bake", "5m", input=f"{answer}\n"
    )
    return code, output


def test_ctrl_c_during_a_bake_asks_and_rolls_back(world: World) -> None:
    code, output = interrupted_shift(world, "y")
    assert code == 130
    assert "Roll back to v1?" in output
    assert world.alias_routing() == ("1", {})
    assert world.actions()[-1] == ("shift rollback", "rolled back")


def test_ctrl_c_answered_no_leaves_the_release_paused_and_it_resumes(world: World) -> None:
    code, output = interrupted_shift(world, "n")
    assert code == 130
    assert "left at v1 50% + v2 50%" in output
    assert world.alias_routing() == ("1", {"2": 0.5})
    assert json.loads(world.state_item()["release"])["status"] == "paused"
    world.clock.on_sleep.clear()
    updates = count_alias_updates(factory := world.factory())
    code, output, _ = run_cli(factory, "shift", "--in-process", "2", "--steps", "10,50", "--bake", "5m")
    assert code == 0, output
    assert [u["FunctionVersion"] for u in updates] == ["2"]  # only the remaining step: 100%


def test_abort_from_another_terminal_stops_a_running_release(world: World) -> None:
    def abort_elsewhere() -> None:
        ctx = world.factory().context(TargetFlags(), reporter=ConsoleReporter_silent(), prompt=TyperPrompt())
        Releaser(ctx).abort(ReleaseOptions(reason="bad canary"))

    when_sleeping(world, abort_elsewhere, at_weight=0.5)
    code, output, _ = run_cli(
        world.factory(), "shift", "--in-process", "2", "--steps", "10,50", "--bake", "5m"
    )
    assert code == 3
    assert "was ended by `abort` from arn:aws:sts::123456789012:user/moto" in output
    assert world.alias_routing() == ("1", {})
    assert ("abort", "rolled back") in world.actions()
    assert world.alarm_names() == []


def ConsoleReporter_silent() -> ConsoleReporter:  # noqa: N802
    from rich.console import Console

    return ConsoleReporter(Console(quiet=True))


def test_someone_else_changing_the_alias_mid_release_stops_it_untouched(world: World) -> None:
    when_sleeping(world, lambda: world.set_routing("1", {"3": 0.05}), at_weight=0.1)
    code, output, _ = run_cli(
        world.factory(), "shift", "--in-process", "2", "--steps", "10,50", "--bake", "1m"
    )
    assert code == 1
    assert "changed while this command ran" in output
    assert world.alias_routing() == ("1", {"3": 0.05})


class StaleRevisionLambda:
    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def update_alias(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": "PreconditionFailedException", "Message": "revision mismatch"}}, "UpdateAlias"
        )


def test_a_revision_conflict_is_one_clear_line(world: World) -> None:
    factory = world.factory()
    factory.clients.__dict__["lambda_"] = StaleRevisionLambda(factory.clients.lambda_)
    code, output, _ = run_cli(factory, "canary", "--in-process", "2")
    assert code == 1
    assert "was updated by someone else after this command read it" in output
    assert world.alias_routing() == ("1", {})


# -- bluegreen, promote, rollback, abort ----------------------------------------------------------------


def test_bluegreen_moves_everything_and_rollback_is_one_alias_update(world: World) -> None:
    assert run_cli(world.factory(), "bluegreen", "--in-process", "2")[0] == 0
    assert world.alias_routing() == ("2", {})
    assert world.alarm_names() == []  # no bake: no gates to watch
    updates = count_alias_updates(factory := world.factory())
    code, output, _ = run_cli(factory, "rollback", "--reason", "latency")
    assert code == 0
    assert len(updates) == 1 and updates[0]["FunctionVersion"] == "1"
    assert world.alias_routing() == ("1", {})
    assert "rolled back: v1 100%" in output


def test_bluegreen_with_a_bake_rolls_back_to_the_previous_primary_when_a_gate_fires(world: World) -> None:
    when_sleeping(world, lambda: world.set_alarm(world.gate_alarm("2", "p99"), "ALARM"))
    code, _output, _ = run_cli(world.factory(), "bluegreen", "--in-process", "2", "--bake", "5m")
    assert code == 2
    assert world.alias_routing() == ("1", {})


def test_promote_makes_the_canary_primary_and_ends_the_release(world: World) -> None:
    run_cli(world.factory(), "canary", "--in-process", "2")
    code, _output, _ = run_cli(world.factory(), "promote")
    assert code == 0
    assert world.alias_routing() == ("2", {})
    assert world.alarm_names() == []
    assert world.state_item()["previous_primary"] == "1"
    assert world.actions()[-1] == ("promote", "ok")


def test_promote_is_refused_while_a_gate_fires_unless_forced(world: World) -> None:
    run_cli(world.factory(), "canary", "--in-process", "2")
    world.set_alarm(world.gate_alarm("2", "errors"), "ALARM")
    code, output, _ = run_cli(world.factory(), "promote")
    assert code == 1 and "a gate of v2 fired (errors ALARM)" in output
    assert world.alias_routing() == ("1", {"2": 0.1})
    assert run_cli(world.factory(), "promote", "--force")[0] == 0
    assert world.alias_routing() == ("2", {})


def test_promote_without_a_release_is_refused(world: World) -> None:
    code, output, _ = run_cli(world.factory(), "promote")
    assert code == 1 and "nothing to promote" in output


def test_rollback_during_a_canary_removes_its_weight(world: World) -> None:
    run_cli(world.factory(), "canary", "--in-process", "2", "--weight", "25")
    code, _, _ = run_cli(world.factory(), "rollback")
    assert code == 0
    assert world.alias_routing() == ("1", {})
    assert "release" not in world.state_item()
    assert world.alarm_names() == []


def test_rollback_with_nothing_to_return_to_is_refused(world: World) -> None:
    code, output, _ = run_cli(world.factory(), "rollback")
    assert code == 1 and "nothing to roll back" in output


def test_rollback_to_a_named_version(world: World) -> None:
    code, _, _ = run_cli(world.factory(), "rollback", "--to", "3")
    assert code == 0
    assert world.alias_routing() == ("3", {})


def test_rollback_twice_does_not_roll_forward(world: World) -> None:
    run_cli(world.factory(), "bluegreen", "--in-process", "2")
    run_cli(world.factory(), "rollback")
    code, output, _ = run_cli(world.factory(), "rollback")
    assert code == 1 and "nothing to roll back" in output
    assert world.alias_routing() == ("1", {})


def test_rollback_dry_run_changes_nothing(world: World) -> None:
    run_cli(world.factory(), "bluegreen", "--in-process", "2")
    code, output, _ = run_cli(world.factory(), "rollback", "--dry-run")
    assert code == 0 and "would move the alias from v2 100% to v1 100%" in output
    assert world.alias_routing() == ("2", {})


def test_abort_rolls_back_the_release_in_progress(world: World) -> None:
    run_cli(world.factory(), "canary", "--in-process", "2")
    code, output, _ = run_cli(world.factory(), "abort", "--reason", "wrong model")
    assert code == 0
    assert "aborted the canary of v2" in output
    assert world.alias_routing() == ("1", {})
    assert world.history_items()[-1]["reason"] == "wrong model"


def test_abort_without_a_release_is_refused(world: World) -> None:
    code, output, _ = run_cli(world.factory(), "abort")
    assert code == 1 and "no release is in progress" in output


# -- history ------------------------------------------------------------------------------------------


def test_history_lists_every_change_newest_first(world: World) -> None:
    run_cli(world.factory(), "canary", "--in-process", "2")
    run_cli(world.factory(), "rollback", "--reason", "p99 regression")
    code, output, _ = run_cli(world.factory(), "history", "--json")
    entries = json.loads(output)
    assert code == 0
    assert [e["action"] for e in entries] == ["rollback", "canary step 1/1", "canary"]
    assert entries[0]["before"] == {"primary": "1", "extra": "2", "extra_percent": "10.0"}
    assert entries[0]["reason"] == "p99 regression"
    code, output, _ = run_cli(world.factory(), "history", "--limit", "1")
    assert code == 0 and "rollback" in output and "p99 regression" in output


def test_errors_reach_the_terminal_as_one_line_from_main(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelctl import cli

    monkeypatch.setenv("MODELCTL_STACK", world.stack)
    monkeypatch.setattr("sys.argv", ["modelctl", "canary", "--in-process", "$LATEST"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: $LATEST cannot take alias traffic") and err.count("\n") == 1
