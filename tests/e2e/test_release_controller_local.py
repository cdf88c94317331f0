"""The release controller on the local cloud: the synthesized state machine runs on moto's
interpreter with its steps on our workers. The CLI that starts a release can go away; a second
release is refused while one runs; `abort` or `rollback` from another process rolls a running
release back; a release waits for approval (task token) and rolls back when nobody decides."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.test_release_local import GOOD, Release, candidate_model, publish, release

__all__ = ["candidate_model", "release"]  # fixtures, used by name
GATE_PERIOD_S = 10

DEADLINE_S = 180.0
GATES = ("--gate-p99-ms", "10000", "--gate-period", str(GATE_PERIOD_S), "--gate-evaluation-periods", "1")


def cli_env(release: Release) -> dict[str, str]:
    env = dict(os.environ)
    env["MODELCTL_LOCAL_DEPLOYMENT"] = str(release.cloud.settings.state_dir / "deployment.json")
    env["PYTHONPATH"] = os.pathsep.join([str(Path.cwd()), str(Path.cwd() / "functions")])
    return env


def start_cli(release: Release, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modelctl.cli", *args],
        env=cli_env(release),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def until(condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_a_shift_completes_after_the_cli_that_started_it_is_killed_and_a_second_is_refused(
    release: Release, candidate_model: Path
) -> None:
    version = publish(release, candidate_model)
    cli = start_cli(
        release,
        "shift",
        version,
        "--steps",
        "20,50,100",
        "--bake",
        "4s",
        "--poll",
        "1",
        "--controller",
        *GATES,
    )
    try:
        until(lambda: release.routing() == ("1", {version: 0.2}), "step 1 at 20%")
    finally:
        cli.kill()
        cli.wait()
    code, output = release.modelctl("canary", version, "--weight", "5", "--controller")
    assert code != 0 and "in progress" in output, output
    until(lambda: release.routing() == (version, {}), "the last step at 100%")
    # The last step moves the alias; the Finish step then ends the release and gives the lock back.
    until(lambda: '"release": null' in release.modelctl("status", "--json")[1], "the release to finish")
    code, output = release.modelctl("history", "--json", "--limit", "1")
    assert code == 0 and '"outcome": "completed"' in output, output


def interrupt_at_step_1(
    release: Release, candidate_model: Path, command: list[str], *shift_flags: str
) -> subprocess.CompletedProcess[str]:
    """Start a 30% -> 100% shift in the background, run `modelctl <command>` from another process
    once step 1 holds 30%, and check the shift's own process then ended with exit 3. Returns the
    other process's result."""
    version = publish(release, candidate_model)
    cli = start_cli(
        release, "shift", version, "--steps", "30,100", "--bake", "60s", "--poll", "1", *shift_flags, *GATES
    )
    try:
        until(lambda: release.routing() == ("1", {version: 0.3}), "step 1 at 30%")
        result = subprocess.run(
            [sys.executable, "-m", "modelctl.cli", *command],
            env=cli_env(release),
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert release.routing() == ("1", {})
        output, _ = cli.communicate(timeout=DEADLINE_S)
        assert cli.returncode == 3, output
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    return result


def test_abort_from_another_process_rolls_back_a_running_release(
    release: Release, candidate_model: Path
) -> None:
    interrupt_at_step_1(release, candidate_model, ["abort", "--reason", "e2e abort"], "--controller")


def test_a_gate_firing_at_step_2_rolls_back_within_a_gate_period_and_a_minute(
    release: Release, candidate_model: Path
) -> None:
    """A p99 gate no request can pass: no traffic reaches the candidate during step 1 (missing data
    does not breach), then requests at step 2 fire it and the controller rolls back on its own."""
    version = publish(release, candidate_model)
    cli = start_cli(
        release, "shift", version, "--steps", "20,50,100", "--bake", "20s", "--poll", "2", "--controller",
        "--gate-p99-ms", "0.001", "--gate-period", str(GATE_PERIOD_S), "--gate-evaluation-periods", "1",
    )  # fmt: skip
    try:
        until(lambda: release.routing() == ("1", {version: 0.5}), "step 2 at 50%")
        traffic_at = time.monotonic()

        def rolled_back() -> bool:
            if release.routing() == ("1", {}):
                return True
            release.served(20, GOOD)
            release.cloud.evaluate_alarms()
            return False

        until(rolled_back, "the gate to fire and the controller to roll back", GATE_PERIOD_S + 60)
        assert time.monotonic() - traffic_at <= GATE_PERIOD_S + 60
        output, _ = cli.communicate(timeout=DEADLINE_S)
        assert cli.returncode == 2, output
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    code, output = release.modelctl("history", "--json", "--limit", "1")
    assert code == 0, output
    (last,) = json.loads(output)
    assert (last["action"], last["outcome"]) == ("shift rollback", "rolled back")
    assert "step 2" in last["reason"] and "p99" in last["reason"]


def controller_status(release: Release) -> dict[str, Any]:
    code, output = release.modelctl("status", "--json")
    assert code == 0, output
    report: dict[str, Any] = json.loads(output)
    return report


def waiting_for_approval(release: Release) -> bool:
    return bool((controller_status(release).get("controller") or {}).get("approval"))


def test_a_release_waits_for_approval_at_its_weight_and_goes_on_when_approved(
    release: Release, candidate_model: Path
) -> None:
    """The controller is the default (no flag): the shift stops at 30% for a person; `approve`
    from another command lets it go on to 100%, and the decision is in the history."""
    version = publish(release, candidate_model)
    cli = start_cli(
        release, "shift", version, "--steps", "30,100", "--bake", "2s", "--poll", "1", "--approve-at", "30",
        "--approval-timeout", "5m", *GATES,
    )  # fmt: skip
    try:
        until(lambda: waiting_for_approval(release), "the release to wait for approval")
        assert release.routing() == ("1", {version: 0.3})
        code, output = release.modelctl("approve", "--reason", "e2e approval")
        assert code == 0 and "approved" in output, output
        output, _ = cli.communicate(timeout=DEADLINE_S)
        assert cli.returncode == 0, output
        assert "v2 is the primary" in output or f"v{version} is the primary" in output, output
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert release.routing() == (version, {})
    code, output = release.modelctl("history", "--json", "--limit", "6")
    actions = [(e["action"], e["outcome"], e["reason"]) for e in json.loads(output)]
    assert ("shift approval", "approved", "e2e approval") in actions
    assert actions[0][:2] == ("shift", "completed")


def test_a_release_nobody_approves_in_time_rolls_back(release: Release, candidate_model: Path) -> None:
    version = publish(release, candidate_model)
    cli = start_cli(
        release, "shift", version, "--steps", "30,100", "--bake", "2s", "--poll", "1", "--approve-at", "30",
        "--approval-timeout", "4s", *GATES,
    )  # fmt: skip
    try:
        output, _ = cli.communicate(timeout=DEADLINE_S)
        assert cli.returncode == 3 and "not approved" in " ".join(output.split()), output
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert release.routing() == ("1", {})
    code, output = release.modelctl("history", "--json", "--limit", "1")
    assert code == 0, output
    (last,) = json.loads(output)
    assert (last["action"], last["outcome"]) == ("shift rollback", "rolled back")
    assert "approval timed out" in last["reason"]
    assert controller_status(release)["release"] is None


def test_rollback_while_the_controller_runs_a_release_aborts_it_and_rolls_back(
    release: Release, candidate_model: Path
) -> None:
    rolled = interrupt_at_step_1(release, candidate_model, ["rollback", "--reason", "e2e rollback"])
    said = " ".join(rolled.stdout.split())
    assert "runs in the release controller" in said and "stopped its execution" in said, rolled.stdout
    report = controller_status(release)
    assert report["release"] is None and report["lock"] is None
