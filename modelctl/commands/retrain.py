"""`modelctl retrain` and `modelctl models`: thin commands over modelctl/retrain/ (the factory builds
the clients and resolves names, so tests inject a session and a clock)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from modelctl.commands.common import cli_factory
from modelctl.errors import ModelctlError
from modelctl.retrain.execution import Finished, RunView, WorkflowRunner, describe_error
from modelctl.retrain.registry import list_registry
from release.clock import parse_duration
from release.errors import RefusedError
from release.target import TargetFlags

_STYLE = {"running": "yellow", "done": "green", "failed": "bold red"}


class RunRejectedError(ModelctlError):
    """The workflow ran and its gate rejected the candidate."""

    exit_code = 3


def _render(view: RunView, title: str) -> Table:
    table = Table(title=title)
    table.add_column("state")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for state in view.states.values():
        style = _STYLE.get(state.status, "white")
        table.add_row(state.name, f"[{style}]{state.status}[/{style}]", state.detail)
    return table


def retrain(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="why: passed to the run as its input")] = "",
    no_wait: Annotated[bool, typer.Option("--no-wait", help="start the run and print its ARN only")] = False,
    follow: Annotated[
        str | None, typer.Option("--follow", help="follow an execution already running (its ARN)")
    ] = None,
    timeout: Annotated[str, typer.Option("--timeout", help="how long to follow, e.g. 30m")] = "2h",
    poll: Annotated[float, typer.Option("--poll", min=0.1, help="seconds between history reads")] = 2.0,
    state_machine: Annotated[
        str | None,
        typer.Option("--state-machine", help="workflow ARN (default: stack output StateMachineArn)"),
    ] = None,
) -> None:
    """Start the retraining workflow now (the same run the schedule starts) and follow its states.
    Exits 0 when a model was released or registered, 3 when the gate rejected it, 1 when it failed."""
    factory = cli_factory(ctx)
    console = Console(soft_wrap=True, highlight=False)
    try:
        timeout_s = parse_duration(timeout)
    except ValueError as exc:
        raise RefusedError(f"--timeout: {exc}") from exc
    clients = factory.clients
    runner = WorkflowRunner(clients.client("stepfunctions"), factory.clock, poll_s=poll)
    if follow:
        execution = follow
    else:
        target = factory.retrain_target(state_machine)
        execution = runner.start(target.state_machine_arn, {"trigger": "manual", "reason": reason})
        console.print(f"started {execution}")
    if no_wait:
        typer.echo(execution)
        return
    finished = _follow(runner, execution, console, timeout_s)
    _report(console, finished)


def _follow(runner: WorkflowRunner, execution: str, console: Console, timeout_s: float) -> Finished:
    title = f"retraining {execution.rsplit(':', 1)[-1]}"
    if not console.is_terminal:  # logs and CI: one line per state change
        printed: dict[str, str] = {}

        def lines(view: RunView) -> None:
            for state in view.states.values():
                if printed.get(state.name) != state.status:
                    printed[state.name] = state.status
                    detail = f" {state.detail}" if state.detail else ""
                    console.print(f"{state.name}: {state.status}{detail}", markup=False)

        return runner.follow(execution, on_change=lines, timeout_s=timeout_s)
    with Live(_render(RunView(), title), console=console, refresh_per_second=4) as live:
        return runner.follow(
            execution, on_change=lambda view: live.update(_render(view, title)), timeout_s=timeout_s
        )


def _report(console: Console, finished: Finished) -> None:
    output: dict[str, Any] = finished.output
    outcome = finished.outcome
    if outcome == "released":
        console.print(f"[green]released:[/green] {output.get('released', {}).get('summary', '')}")
        return
    if outcome == "rejected":
        raise RunRejectedError(
            f"the gate rejected the candidate: {output.get('gate', {}).get('summary', '')}"
        )
    if finished.status == "SUCCEEDED":
        console.print(f"[green]{outcome}[/green]")
        return
    detail = _failure_detail(finished)
    raise ModelctlError(f"the retraining run {outcome}: {detail}")


def _failure_detail(finished: Finished) -> str:
    failed = finished.failed_state
    if failed is not None:
        return f"{failed.name}: {failed.detail}"
    return describe_error(finished.error, finished.cause)


def models(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    function: Annotated[str | None, typer.Option("--function", help="serving function name")] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="alias name")] = None,
    stack: Annotated[str | None, typer.Option("--stack", help="serving stack to read names from")] = None,
) -> None:
    """The registry: every model version in the store with its holdout metrics, parent, data
    fingerprint, the Lambda versions pinning it and which one serves live."""
    factory = cli_factory(ctx)
    target = factory.target(TargetFlags(function, alias, stack))
    clients = factory.clients
    entries = list_registry(
        clients.s3,
        clients.lambda_,
        bucket=target.model_bucket,
        function=target.function_name,
        alias=target.alias_name,
    )
    if json_output:
        typer.echo(json.dumps([e.to_dict() for e in entries], indent=2, sort_keys=True))
        return
    console = Console(soft_wrap=True, highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 200)
    table = Table(title=f"models in s3://{target.model_bucket}/models/ ({target.label})")
    metric_names = registry_metric_columns([entry.metrics for entry in entries])
    for column in ("version", "created", *metric_names, "parent", "data", "lambda versions", "live"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            entry.version + (f" [red]({entry.problem})[/red]" if entry.problem else ""),
            entry.created_at.replace("T", " ")[:19],
            *(_metric(entry.metrics.get(name)) for name in metric_names),
            entry.parent or "-",
            (entry.data_fingerprint.removeprefix("sha256:")[:12] or "-")
            + (" (retrained)" if entry.execution else ""),
            ", ".join(f"v{v}" for v in entry.function_versions) or "-",
            entry.live or "-",
        )
    console.print(table)


REGISTRY_METRICS = ("accuracy", "f1_macro", "mae", "rmse", "r2")
"""Holdout metrics the registry table can show: a classifier's, then a regressor's."""


def registry_metric_columns(metrics: list[dict[str, float]]) -> list[str]:
    """The holdout metrics some model in the registry has, in `REGISTRY_METRICS` order (a store
    holding only classifiers shows accuracy and F1, only regressors MAE, RMSE and R2, a mix all)."""
    present = [name for name in REGISTRY_METRICS if any(name in found for found in metrics)]
    return present or list(REGISTRY_METRICS[:2])


def _metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    app.command()(retrain)
    app.command()(models)
