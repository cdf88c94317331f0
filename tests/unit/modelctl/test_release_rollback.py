"""`modelctl rollback`: the AWS calls it makes (one UpdateAlias, reads under the lock), that the
lock still keeps two commands apart, and that the command starts without the other commands'
imports (release/rollback.py, modelctl/commands/rollback.py, modelctl/commands/rollback_plain.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelctl.factory import Factory
from tests.unit.modelctl.world import FakeClock, World, build_world, run_cli

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("lambda", "dynamodb", "sts", "cloudwatch", "cloudformation")


class CallLog:
    """Every AWS call the factory's clients make: (service, operation, parameters), in order of
    issue. Calls that run at the same time are in either order."""

    def __init__(self, factory: Factory) -> None:
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
    assert run_cli(world.factory(), "bluegreen", "--in-process", "2")[0] == 0
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
    assert run_cli(world.factory(), "bluegreen", "--in-process", "2")[0] == 0
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
    assert run_cli(world.factory(), "bluegreen", "--in-process", "2")[0] == 0
    factory = world.factory()
    log = CallLog(factory)
    code, output, _ = run_cli(factory, "rollback", "--dry-run")
    assert code == 0 and "would move the alias from v2 100% to v1 100%" in output
    assert sorted(log.names()) == ["dynamodb:GetItem", "lambda:GetAlias"]


def test_rollback_during_a_release_with_gates_deletes_them_and_ends_it(world: World) -> None:
    assert run_cli(world.factory(), "canary", "--in-process", "2", "--weight", "25")[0] == 0
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
    """A fresh interpreter runs `modelctl rollback` as `main()` does, up to the point where its
    clients exist (roll_back is replaced by a probe that makes them, so no AWS call is made):
    what it has imported by then. No Typer, boto3, Rich, pydantic, runner, gates, publishing,
    numpy or shadow code; the clients' models come from the ServiceDataLoader."""
    probe = (
        "import json, sys\n"
        "from modelctl import cli\n"
        "from release import rollback\n"
        "def probe(ctx, options, *, to=None):\n"
        "    ctx.lock, ctx.store, ctx.alias, ctx.clients.sts\n"
        "    loader = ctx.clients.botocore_session.get_component('data_loader')\n"
        "    print(json.dumps({'to': to, 'dry_run': options.dry_run, 'loader': type(loader).__name__,\n"
        "                      'modules': sorted(sys.modules)}))\n"
        "    raise SystemExit(0)\n"
        "rollback.roll_back = probe\n"
        "sys.argv = ['modelctl', 'rollback', '--to', '1', '--dry-run']\n"
        "cli.main()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELCTL_")}
    env.update(
        MODELCTL_FUNCTION="fn", MODELCTL_ALIAS="live", MODELCTL_RELEASE_TABLE="t", MODELCTL_MODEL_BUCKET="b"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["to"], report["dry_run"], report["loader"]) == ("1", True, "ServiceDataLoader")
    modules = set(report["modules"])
    assert "release.rollback" in modules and "botocore.client" in modules
    unwanted = {
        "typer",  # the fast path reads plain options itself (modelctl/commands/rollback_plain.py)
        "click",
        "pydantic",  # Typer's parameter validation
        "boto3",  # botocore makes the clients (release/aws_session.py)
        "s3transfer",
        "rich",
        "numpy",
        "modelctl.commands.rollout",
        "modelctl.commands.rollback",
        "release.runner",
        "release.gates",
        "release.publish",
        "release.pretraffic",
        "modelctl.commands.shadow",
        "modelctl.reports",
        "common.model.metadata",
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


def test_the_fast_paths_options_are_the_typer_commands() -> None:
    from modelctl.commands.plain_args import options_of
    from modelctl.commands.rollback_plain import ROLLBACK_OPTIONS

    assert options_of(rollback_command()) == ROLLBACK_OPTIONS


@pytest.mark.parametrize("args", PLAIN)
def test_the_fast_path_reads_options_as_typer_does(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from modelctl.cli import build_app
    from modelctl.commands import rollback_plain
    from modelctl.commands.plain_args import plain_options

    passed: list[dict[str, Any]] = []
    monkeypatch.setattr(rollback_plain, "run_rollback", lambda factory, **values: passed.append(values))
    result = CliRunner().invoke(build_app(rollback_only=True), ["rollback", *args], obj=Factory())
    assert result.exit_code == 0, result.output
    assert plain_options(rollback_plain.ROLLBACK_OPTIONS, args) == passed[0]


@pytest.mark.parametrize("args", NOT_PLAIN)
def test_anything_but_plain_options_is_left_to_typer(args: list[str]) -> None:
    from modelctl.commands.plain_args import plain_options
    from modelctl.commands.rollback_plain import ROLLBACK_OPTIONS

    assert plain_options(ROLLBACK_OPTIONS, args) is None


def test_main_runs_a_plain_rollback_without_typer(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelctl import cli

    assert run_cli(world.factory(), "bluegreen", "--in-process", "2")[0] == 0
    factories: list[Factory] = []
    real = Factory

    def world_factory(**options: Any) -> Factory:
        assert options == {"light_clients": True}  # botocore clients, no boto3 import
        factories.append(world.factory())
        return factories[-1]

    monkeypatch.setattr("modelctl.factory.Factory", world_factory)
    monkeypatch.setattr(sys, "argv", ["modelctl", "rollback", "--reason", "fast"])
    monkeypatch.setattr(cli, "_app_for", lambda argv: pytest.fail(f"Typer asked for {argv}"))
    cli.main()
    assert len(factories) == 1 and isinstance(factories[0], real)
    assert world.alias_routing() == ("1", {})
    assert world.history_items()[-1]["reason"] == "fast"


def run_main(world: World, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`modelctl ARGS` through `main()` with the factory a real run makes (for a plain rollback,
    light clients: modelctl's botocore session and its ServiceDataLoader), the world's names and
    clock: (exit code, stdout and stderr)."""
    from modelctl import cli

    real = Factory
    patch = pytest.MonkeyPatch()
    patch.setattr(
        "modelctl.factory.Factory",
        lambda **options: real(env=dict(world.env), clock=world.clock, **options),
    )
    patch.setattr(sys, "argv", ["modelctl", *args])
    patch.setattr(cli, "_app_for", lambda argv: pytest.fail(f"Typer asked for {argv}"))
    capsys.readouterr()
    code = 0
    try:
        cli.main()
    except SystemExit as stopped:
        code = int(stopped.code or 0)
    finally:
        patch.undo()
    captured = capsys.readouterr()
    return code, captured.out + captured.err


SCENARIOS = {
    "after a blue/green": (["bluegreen", "--in-process", "2"], None, ["--reason", "latency"]),
    "to a named version": ([], None, ["--to", "3", "--reason", "x"]),
    "nothing to roll back": ([], None, []),
    "no such version": ([], None, ["--to", "42"]),
    "already there": ([], None, ["--to", "1"]),
    "the lock is held": (["bluegreen", "--in-process", "2"], "canary v3", []),
    "a dry run": (["bluegreen", "--in-process", "2"], None, ["--dry-run"]),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_fast_path_and_typer_do_the_same(
    scenario: str, world: World, metadata: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same rollback, once through `main()`'s fast path (no Typer, botocore clients with the
    ServiceDataLoader) and once through Typer (boto3's session) on a twin deployment: the same
    exit code, output (names aside), alias, history and lock."""
    before, holder, args = SCENARIOS[scenario]
    twin = build_world(metadata, FakeClock(), suffix="twin")
    results = []
    runs: tuple[tuple[World, Callable[[], tuple[int, str]]], ...] = (
        (world, lambda: run_main(world, capsys, "rollback", *args)),
        (twin, lambda: run_cli(twin.factory(), "rollback", *args)[:2]),
    )
    for target, run in runs:
        if before:
            assert run_cli(target.factory(), *before)[0] == 0
        if holder:
            target.release_lock().acquire("arn:aws:iam::123456789012:user/alice", holder)
        code, output = run()
        history = [  # release ids are random: only whether there is one
            {k: bool(v) if k == "release_id" else v for k, v in entry.items() if k not in ("pk", "sk", "at")}
            for entry in target.history_items()
        ]
        lock = lock_item(target)
        results.append(
            (
                code,
                output.replace(target.function, "FUNCTION"),
                target.alias_routing(),
                history,
                lock["who"]["S"] if lock else None,
            )
        )
    assert results[0] == results[1]
    refused = scenario in ("nothing to roll back", "no such version", "already there", "the lock is held")
    assert results[0][0] == (1 if refused else 0)


def test_ctrl_c_in_the_fast_path_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelctl import cli
    from modelctl.commands import rollback_plain

    def interrupted(factory: Factory, **values: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(rollback_plain, "run_rollback", interrupted)
    monkeypatch.setattr(sys, "argv", ["modelctl", "rollback", "--to", "1"])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 1
    assert capsys.readouterr().err == "Aborted!\n"
