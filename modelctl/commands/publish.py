"""`modelctl publish`: validate an artifact, upload it immutably, publish a function version pinning it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from modelctl.commands.common import (
    AliasOpt,
    DryRunOpt,
    FunctionOpt,
    JsonOpt,
    ReasonOpt,
    StackOpt,
    cli_factory,
    release_context,
)
from modelctl.render.console import make_console
from release.aws import aws_errors
from release.lock import PUBLISH_SCOPE
from release.models import read_published_metadata
from release.publish import check_compatible, validate_artifact
from release.publishing import publish_artifact


def publish(
    ctx: typer.Context,
    model_dir: Annotated[Path, typer.Argument(help="artifact folder: model_artifacts/<version>/")],
    dry_run: DryRunOpt = False,
    reason: ReasonOpt = "",
    allow_feature_change: Annotated[
        bool,
        typer.Option(
            "--allow-feature-change", help="publish a model whose features differ from the live one"
        ),
    ] = False,
    json_output: JsonOpt = False,
    function: FunctionOpt = None,
    alias: AliasOpt = None,
    stack: StackOpt = None,
) -> None:
    """Validate an artifact, upload it immutably, publish a function version pinning it; print it."""
    console = make_console(stderr=json_output)
    artifact = validate_artifact(model_dir)
    for check in artifact.checks:
        console.print(f"[green]ok[/green] {check}")
    factory = cli_factory(ctx)
    with aws_errors("publish"):
        release_ctx = release_context(ctx, function, alias, stack, console=console, scope=PUBLISH_SCOPE)
        target = release_ctx.target
        live = release_ctx.catalog.describe(release_ctx.alias.read().routing.primary)
        if live.model_uri and not allow_feature_change:
            check_compatible(artifact.metadata, read_published_metadata(release_ctx.s3, live.model_uri))
        uploader = factory.uploader(target)
        publisher = factory.publisher(target)
        model_uri = uploader.model_uri(artifact.version)
        planned = uploader.plan(artifact)
        existing = publisher.find_existing(model_uri)
        if dry_run:
            for item in planned:
                console.print(
                    f"would {'upload' if item.action == 'upload' else 'keep'} s3://{target.model_bucket}/{item.key}"
                )
            if existing:
                console.print(f"v{existing} already pins {model_uri}: nothing would be published")
            else:
                console.print(
                    f"would set MODEL_URI={model_uri} on $LATEST of {target.function_name} "
                    "and publish a version"
                )
            console.print("[cyan]dry run: nothing changed[/cyan]")
            return
        outcome = publish_artifact(release_ctx, uploader, publisher, artifact, reason=reason)
        uploaded, published = outcome.uploaded, outcome.published
    for item in uploaded:
        console.print(
            f"{'uploaded' if item.action == 'upload' else 'unchanged'} s3://{target.model_bucket}/{item.key}"
        )
    if json_output:
        typer.echo(
            json.dumps(
                {
                    "version": published.version,
                    "created": published.created,
                    "model_version": artifact.version,
                    "model_uri": model_uri,
                    "function": target.function_name,
                }
            )
        )
        return
    verb = "published" if published.created else "already published as"
    console.print(
        f"[green]{verb} version {published.version}[/green] of {target.function_name} "
        f"(model {artifact.version})"
    )
    typer.echo(published.version)
