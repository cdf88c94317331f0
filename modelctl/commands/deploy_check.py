"""`modelctl deploy-check`: before `cdk deploy`, refuse a deploy that would reset the alias's weights
or pin another version (the checks are in release/deploy_check.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError

from modelctl.commands.common import StackOpt, cli_factory, release_context
from modelctl.render.console import make_console
from release.aws import aws_errors, error_code, error_message
from release.deploy_check import check_deploy, load_template
from release.errors import AwsCallError, RefusedError
from release.target import DEFAULT_STACK


def deploy_check(
    ctx: typer.Context,
    template: Annotated[
        Path | None,
        typer.Option("--template", help="synthesized template (default cdk.out/<stack>.template.json)"),
    ] = None,
    stack: StackOpt = None,
) -> None:
    """Before `cdk deploy`: refuse a deploy that would reset the alias's weights or pin another version."""
    console = make_console()
    factory = cli_factory(ctx)
    stack_name = stack or factory.env.get("MODELCTL_STACK") or DEFAULT_STACK
    synthesized = load_template(template or Path("cdk.out") / f"{stack_name}.template.json")
    cloudformation = factory.clients.cloudformation
    with aws_errors("deploy-check"):
        deployed = _deployed_template(cloudformation, stack_name)
        routing = record = None
        if deployed is not None:
            release_ctx = release_context(ctx, None, None, stack_name, console=console)
            try:
                routing = release_ctx.alias.read().routing
            except RefusedError:
                routing = None
            record = release_ctx.store.state()

        def physical_id(logical_id: str) -> str | None:
            try:
                detail = cloudformation.describe_stack_resource(
                    StackName=stack_name, LogicalResourceId=logical_id
                )
            except ClientError:
                return None
            return str(detail["StackResourceDetail"]["PhysicalResourceId"])

        verdict = check_deploy(
            synthesized=synthesized,
            deployed=deployed,
            physical_id=physical_id,
            routing=routing,
            record=record,
        )
    console.print(f"[green]ok:[/green] {verdict.message}")


def _deployed_template(cloudformation: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        body = cloudformation.get_template(StackName=stack_name, TemplateStage="Original")["TemplateBody"]
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in error_message(exc):
            return None
        raise AwsCallError(
            f"reading the deployed template of {stack_name}: {error_code(exc)}: {error_message(exc)}"
        ) from exc
    if isinstance(body, str):
        try:
            return dict(json.loads(body))
        except json.JSONDecodeError as exc:
            raise RefusedError(f"the deployed template of {stack_name} is not JSON: {exc}") from exc
    return dict(body)
