"""`modelctl rollback`: the AWS calls it makes (one UpdateAlias, reads under the lock), that the
lock still keeps two commands apart, and that the command starts without the other commands'
imports (modelctl/release/rollback.py, modelctl/rollback_cmd.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelctl.release.factory import ReleaseFactory
from tests.unit.modelctl.world import World, run_cli

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("lambda", "dynamodb", "sts", "cloudwatch", "cloudformation")


class CallLog:
    """Every AWS call the factory's clients make: (service, operation, parameters), in order of
    issue. Calls that run at the same time are in either order."""

    def __init__(self, factory: ReleaseFactory) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        for service in SERVICES:
            client = factory.clients.client(service)
            setattr(factory.clients, "lambda_" if service == "lambda" else service, client)
            client.meta.events.register("provide-client-params", self._record(service))

    def _record(self, service: str) -> Any:
        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            with self._lock:
                self.calls.append((service, model.name, dict(params)))

        return record

    def names(self) -> list[str]:
        """The calls of the command itself: without DescribeStacks, which target resolution makes
        here (the world's names come from a CloudFormation stack; test_release_target.py)."""
        return [f"{service}:{op}" for service, op, _ in self.calls if service != "cloudformation"]

    def index(self, name: str) -> int:
        return self.names().index(name)


def lock_item(world: World) -> dict[str, Any] | None:
    key = {"pk": {"S": f"LOCK#{world.function}#{world.alias}#alias"}, "sk": {"S": "LOCK"}}
    item: dict[str, Any] | None = world.dynamodb.get_item(TableName=world.table, Key=key).get("Item")
    return item


def test_rollback_is_one_alias_update_after_reads_made_under_the_lock(world: World) -> None:
    assert run_cli(world.factory(), "bluegreen", "2")[0] == 0
    factory = world.factory()
    log = CallLog(factory)
    code, output, _ = run_cli(factory, "rollback", "--reason", "latency")
    assert code == 0, output
    assert world.alias_routing() == ("1", {})
    names = log.names()
    assert [n for n in names if n in ("lambda:UpdateAlias", "lambda:GetAlias")] == [
        "lambda:GetAlias",
        "lambda:UpdateAlias",
    ]
    writes = [n for n in names if not n.split(":")[1].startswith(("Get", "Describe", "Query"))]
    assert writes == [
        "dynamodb:PutItem",  # the lock
        "lambda:UpdateAlias",
        "dynamodb:UpdateItem",  # the release state: rollback target cleared
        "dynamodb:PutItem",  # history
        "dynamodb:DeleteItem",  # the lock given back
    ]
    lock_put = names.index("dynamodb:PutItem")
    assert names.index("sts:GetCallerIdentity") < lock_put
    before_update = names[lock_put + 1 : log.index("lambda:UpdateAlias")]
    assert sorted(before_update) == ["dynamodb:GetItem", "lambda:GetAlias"]
    update = next(params for _, op, params in log.calls if op == "UpdateAlias")
    assert update["RevisionId"]  # decided on the alias read under the lock
    assert lock_item(world) is None
    entry = world.history_items()[-1]
    assert (entry["action"], entry["version"], entry["reason"]) == ("rollback", "1", "latency")
    assert entry["model_version"] == world.model_versions["1"]


def test_rollback_to_a_named_version_checks_it_before_the_update_and_not_again(world: World) -> None:
    factory = world.factory()
    log = CallLog(factory)
    code, output, _ = run_cli(factory, "rollback", "--to", "3")
    assert code == 0, output
    names = log.names()
    configurations = [i for i, n in enumerate(names) if n == "lambda:GetFunctionConfiguration"]
    assert len(configurations) == 1 and configurations[0] < log.index("lambda:UpdateAlias")
    assert world.history_items()[-1]["model_version"] == world.model_versions["3"]


def test_a_version_that_does_not_exist_is_refused_and_the_lock_given_back(world: World) -> None:
    factory = world.factory()
    log = CallLog(factory)
    code, output, _ = run_cli(factory, "rollback", "--to", "42")
    assert code == 1 and "version 42 of" in output and "does not exist" in output
    assert "lambda:UpdateAlias" not in log.names()
    assert world.alias_routing() == ("1", {})
    assert lock_item(world) is None


def test_rollback_is_refused_while_another_command_holds_the_lock(world: World) -> None:
    assert run_cli(world.factory(), "bluegreen", "2")[0] == 0
    other = world.release_lock()
    other.acquire("arn:aws:iam::123456789012:user/alice", "canary v3")
    factory = world.factory()
    log = CallLog(factory)
    code, output, _ = run_cli(factory, "rollback")
    assert code == 1
    assert "'canary v3' by arn:aws:iam::123456789012:user/alice" in output
    assert "lambda:UpdateAlias" not in log.names()
    assert world.alias_routing() == ("2", {})
    item = lock_item(world)
    assert item is not None and item["who"]["S"] == "arn:aws:iam::123456789012:user/alice"


def test_a_dry_run_only_reads_and_takes_no_lock(world: World) -> None:
    assert run_cli(world.factory(), "bluegreen", "2")[0] == 0
    factory = world.factory()
    log = CallLog(factory)
    code, output, _ = run_cli(factory, "rollback", "--dry-run")
    assert code == 0 and "would move the alias from v2 100% to v1 100%" in output
    assert sorted(log.names()) == ["dynamodb:GetItem", "lambda:GetAlias"]


def test_rollback_during_a_release_with_gates_deletes_them_and_ends_it(world: World) -> None:
    assert run_cli(world.factory(), "canary", "2", "--weight", "25")[0] == 0
    assert world.alarm_names()
    factory = world.factory()
    log = CallLog(factory)
    code, output, _ = run_cli(factory, "rollback")
    assert code == 0, output
    assert world.alias_routing() == ("1", {})
    assert world.alarm_names() == []
    assert "release" not in world.state_item()
    assert log.index("cloudwatch:DeleteAlarms") > log.index("lambda:UpdateAlias")


def test_the_rollback_command_starts_without_the_other_commands_imports() -> None:
    """A fresh interpreter: what `modelctl rollback` imports before it runs (no Rich, runner,
    gates, publishing, numpy or shadow code)."""
    probe = (
        "import json, sys\n"
        "from typer.main import get_command\n"
        "from modelctl import cli\n"
        "from modelctl.plain_args import plain_options\n"
        "app = cli._app_for(['rollback', '--to', '1'])\n"
        "names = [c.name or c.callback.__name__ for c in app.registered_commands]\n"
        "values = plain_options(get_command(app).commands['rollback'], ['--to', '1'])\n"
        "print(json.dumps({'commands': names, 'values': values, 'modules': sorted(sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(done.stdout)
    assert report["commands"] == ["rollback"]
    assert report["values"]["to"] == "1"
    modules = set(report["modules"])
    assert "modelctl.release.rollback" in modules
    unwanted = {
        "rich",
        "pydantic",  # Typer's parameter validation: the fast path reads plain options itself
        "numpy",
        "modelctl.release_cmds",
        "modelctl.release.runner",
        "modelctl.release.gates",
        "modelctl.release.publish",
        "modelctl.release.pretraffic",
        "modelctl.shadow",
        "common.metadata",
    }
    assert sorted(unwanted & modules) == []


PLAIN = [
    [],
    ["--to", "3"],
    ["--to=3", "--dry-run"],
    ["--reason", "p99 up, see #12", "--function", "fn", "--alias", "live", "--stack", "Other-Serving"],
    ["--dry-run", "--reason="],
]
NOT_PLAIN = [
    ["--help"],
    ["--to"],
    ["--to", "--dry-run"],
    ["--dry-run=yes"],
    ["--to", "1", "--to", "2"],
    ["3"],
]


def rollback_command() -> Any:
    from typer.main import get_command

    from modelctl.cli import build_app

    return get_command(build_app(rollback_only=True)).commands["rollback"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("args", PLAIN)
def test_the_fast_path_reads_options_as_typer_does(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from modelctl import rollback_cmd
    from modelctl.cli import build_app
    from modelctl.plain_args import plain_options

    passed: list[dict[str, Any]] = []
    monkeypatch.setattr(rollback_cmd, "run_rollback", lambda factory, **values: passed.append(values))
    result = CliRunner().invoke(build_app(rollback_only=True), ["rollback", *args], obj=ReleaseFactory())
    assert result.exit_code == 0, result.output
    assert plain_options(rollback_command(), args) == passed[0]


@pytest.mark.parametrize("args", NOT_PLAIN)
def test_anything_but_plain_options_is_left_to_typer(args: list[str]) -> None:
    from modelctl.plain_args import plain_options

    assert plain_options(rollback_command(), args) is None


def test_main_runs_a_plain_rollback_without_typer(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelctl import cli

    assert run_cli(world.factory(), "bluegreen", "2")[0] == 0
    factories: list[ReleaseFactory] = []
    real = ReleaseFactory

    def world_factory() -> ReleaseFactory:
        factories.append(world.factory())
        return factories[-1]

    monkeypatch.setattr("modelctl.release.factory.ReleaseFactory", world_factory)
    monkeypatch.setattr(sys, "argv", ["modelctl", "rollback", "--reason", "fast"])
    monkeypatch.setattr(cli, "_app_for", lambda argv: pytest.fail(f"Typer asked for {argv}"))
    cli.main()
    assert len(factories) == 1 and isinstance(factories[0], real)
    assert world.alias_routing() == ("1", {})
    assert world.history_items()[-1]["reason"] == "fast"


def test_ctrl_c_in_the_fast_path_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelctl import cli, rollback_cmd

    def interrupted(factory: ReleaseFactory, **values: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(rollback_cmd, "run_rollback", interrupted)
    monkeypatch.setattr(sys, "argv", ["modelctl", "rollback", "--to", "1"])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 1
    assert capsys.readouterr().err == "Aborted!\n"
