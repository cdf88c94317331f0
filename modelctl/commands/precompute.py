"""`modelctl precompute`: thin; names from the factory (modelctl/precompute/resources.py), the work from
modelctl/precompute/runner.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modelctl.commands.common import cli_factory
from modelctl.factory import Factory
from modelctl.precompute.runner import PrecomputeRunner, run_name
from modelctl.precompute.runner import Progress as RunProgress
from release.alias import AliasManager, VersionCatalog
from release.errors import RefusedError
from release.target import TargetFlags


def precompute(
    ctx: typer.Context,
    input_uri: Annotated[
        str | None, typer.Option("--input", help="data set in S3: s3://bucket/key.csv or .parquet")
    ] = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="local CSV (uploaded to the work bucket)")
    ] = None,
    grid_path: Annotated[
        Path | None, typer.Option("--grid", help='grid spec JSON: {"features": {name: [values]}}')
    ] = None,
    model_version: Annotated[
        str | None,
        typer.Option("--model-version", help="model to score with (default: the live alias's model)"),
    ] = None,
    id_column: Annotated[str, typer.Option("--id-column", help="the input's id column")] = "id",
    chunk_size: Annotated[int | None, typer.Option("--chunk-size", min=1, help="rows per chunk")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the run until it ends")] = True,
    stack: Annotated[
        str | None, typer.Option("--stack", help="precompute stack (default ModelServing-Precompute)")
    ] = None,
) -> None:
    """Score a data set or a grid with a registered model into the predictions table, then serve it
    (GET /predictions/{id}) by switching the served version in one write."""
    given = [
        name for name, value in (("--input", input_uri), ("--csv", csv_path), ("--grid", grid_path)) if value
    ]
    if len(given) != 1:
        raise RefusedError("give exactly one of --input, --csv or --grid")
    factory = cli_factory(ctx)
    clients = factory.clients
    resources = factory.precompute_resources(stack)
    target = factory.target(TargetFlags())
    version = model_version or _live_model_version(factory, target.function_name, target.alias_name)
    runner = PrecomputeRunner(
        resources=resources,
        stepfunctions=clients.client("stepfunctions"),
        s3=clients.s3,
        model_bucket=target.model_bucket,
    )
    source: dict[str, Any]
    if grid_path is not None:
        source = {"grid": runner.check_grid(grid_path, version)}
    else:
        runner.feature_names(version)  # refuse an unknown model before uploading anything
        uri = runner.upload(csv_path) if csv_path is not None else runner.stage_input(str(input_uri))
        source = {"s3_uri": uri, "id_column": id_column}
    request: dict[str, Any] = {"model_version": version, "input": source}
    if chunk_size:
        request["chunk_size"] = chunk_size
    run_id = run_name(version)
    execution_arn = runner.start(run_id=run_id, request=request)
    console = Console()
    console.print(f"precompute run [bold]{run_id}[/bold] started (model {version})\n  {execution_arn}")
    if not wait:
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("planning", total=None)

        def show(progress: RunProgress) -> None:
            label = "planning" if progress.chunks is None else f"chunks ({progress.status.lower()})"
            bar.update(task, description=label, total=progress.chunks, completed=progress.done)

        outcome = runner.wait(execution_arn, run_id, on_progress=show)
    summary = outcome.summary
    previous = summary.get("previous_version") or "none"
    console.print(
        f"[green]done[/green]: {summary.get('items', '?')} predictions in "
        f"{summary.get('chunks', '?')} chunks; "
        f"served version {summary.get('model_version', version)} (was {previous}), switched at "
        f"{summary.get('switched_at', '?')}; table {resources.table_name}"
    )


def _live_model_version(factory: Factory, function: str, alias: str) -> str:
    lambda_ = factory.clients.lambda_
    state = AliasManager(lambda_, function, alias).read()
    return VersionCatalog(lambda_, function).describe(state.routing.primary).model_version
