"""`modelctl status` and `modelctl history`: the alias and release state, and every change made."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from modelctl.commands.common import AliasOpt, FunctionOpt, JsonOpt, StackOpt, cli_factory, release_context
from modelctl.render.console import make_console
from release.aws import aws_errors
from release.status import collect_status
from release.store import HistoryEntry, ReleaseStore
from release.target import TargetFlags


def status(
    ctx: typer.Context,
    json_output: JsonOpt = False,
    function: FunctionOpt = None,
    alias: AliasOpt = None,
    stack: StackOpt = None,
) -> None:
    """The alias's versions and weights, the model each pins, the release in progress, alarm states."""
    console = make_console()
    with aws_errors("status"):
        release_ctx = release_context(ctx, function, alias, stack, console=console)
        report = collect_status(release_ctx)
        if report["release"]:
            controller = _controller_execution(
                ctx,
                TargetFlags(function, alias, stack),
                release_ctx.target.stack_name,
                report["release"]["id"],
            )
            if controller:
                report["controller"] = controller
    if json_output:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    table = Table(title=f"{report['function']}:{report['alias']}  ({report['routing']})")
    for column in ("version", "role", "traffic", "model"):
        table.add_column(column)
    for version in report["versions"]:
        table.add_row(
            f"v{version['version']}", version["role"], f"{version['percent']:g}%", version["model_version"]
        )
    console.print(table)
    release = report["release"]
    if release:
        console.print(
            f"release in progress: {release['kind']} of v{release['candidate']} from v{release['base']} "
            f"({release['status']}, step {release['step']}/{release['steps']}, {release['percent']:g}%), "
            f"started {release['started_at']} by {release['started_by']}"
        )
        if report.get("controller"):
            execution = report["controller"]
            console.print(f"release controller: {execution['status']}  ({execution['execution_arn']})")
            if execution.get("approval"):
                console.print(
                    f"waiting for approval: {execution['approval']}. Answer with `modelctl approve` or "
                    "`modelctl reject` (--reason)"
                )
    else:
        console.print("no release in progress")
    if report["lock"]:
        lock = report["lock"]
        console.print(f"running now: '{lock['operation']}' by {lock['who']} since {lock['since']}")
    if report["rollback_target"]:
        console.print(f"rollback target: v{report['rollback_target']}")
    for gate in report["gates"]:
        console.print(f"gate {gate['kind']}: {gate['state']}  ({gate['name']})")
    for alarm in report["fleet_alarms"]:
        console.print(f"alias alarm {alarm['name']}: {alarm['state']}")


def history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="newest entries to show")] = 20,
    json_output: JsonOpt = False,
    function: FunctionOpt = None,
    alias: AliasOpt = None,
    stack: StackOpt = None,
) -> None:
    """Every change, newest first: when, who, from, to, why, outcome (stored in the release table)."""
    console = make_console()
    with aws_errors("history"):
        target = cli_factory(ctx).target(TargetFlags(function, alias, stack))
        clients = cli_factory(ctx).clients
        entries = ReleaseStore(
            clients.dynamodb, target.release_table, target.function_name, target.alias_name
        ).history(limit)
    if json_output:
        typer.echo(json.dumps([e.to_json() for e in entries], indent=2, sort_keys=True))
        return
    if not entries:
        console.print(f"no history yet for {target.label}")
        return
    table = Table(title=f"history of {target.label} (newest first)")
    for column in ("at", "who", "action", "from", "to", "outcome", "why"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(*_history_row(entry))
    console.print(table)


def _history_row(entry: HistoryEntry) -> list[str]:
    who = entry.who.rsplit("/", 1)[-1] if "/" in entry.who else entry.who
    version = f" v{entry.version}" if entry.version and entry.action == "publish" else ""
    model = f" ({entry.model_version})" if entry.model_version and entry.action == "publish" else ""
    why = entry.reason + (f" [{entry.detail}]" if entry.detail and entry.outcome != "started" else "")
    return [
        entry.at.replace("T", " ")[:19] + "Z",
        who,
        entry.action + version + model,
        entry.before.describe() if entry.before else "",
        entry.after.describe() if entry.after else "",
        entry.outcome,
        why,
    ]


def _controller_execution(
    ctx: typer.Context, flags: TargetFlags, serving_stack: str, release_id: str
) -> dict[str, str] | None:
    """The release controller's execution of this release, if the controller runs it, and the
    approval it waits for, if it does."""
    from botocore.exceptions import ClientError

    from release.controller import client
    from release.controller.approval import ApprovalStore

    factory = cli_factory(ctx)
    try:
        arn = client.controller_arn(serving_stack, factory.env, factory.outputs)
    except client.ControllerMissingError:
        return None
    execution_arn = client.execution_arn(arn, release_id)
    try:
        execution = factory.clients.client("stepfunctions").describe_execution(executionArn=execution_arn)
    except ClientError:
        return None  # run in process, not by the controller
    found = {"execution_arn": execution_arn, "status": str(execution["status"])}
    target = factory.target(flags)
    approval = ApprovalStore(
        factory.clients.dynamodb, target.release_table, target.function_name, target.alias_name
    ).get()
    if found["status"] == "RUNNING" and approval is not None and approval.release_id == release_id:
        found["approval"] = approval.describe()
    return found
