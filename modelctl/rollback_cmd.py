"""`modelctl rollback`: a module of its own so that the command starts with only what it uses
(Typer, boto3, the release lock, store and alias), not the other release commands' imports;
`modelctl/cli.py` builds an app with this one command when the command line starts with it.
The calls it makes are listed in modelctl/release/rollback.py."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.release.aws import aws_errors
from modelctl.release.cli_common import AliasOpt, DryRunOpt, FunctionOpt, ReasonOpt, StackOpt, release_factory
from modelctl.release.console import ConsoleReporter, TyperPrompt, print_outcome
from modelctl.release.factory import ReleaseFactory
from modelctl.release.outcome import ReleaseOptions
from modelctl.release.rollback import roll_back
from modelctl.release.target import TargetFlags


def rollback(
    ctx: typer.Context,
    to: Annotated[
        str | None, typer.Option("--to", help="version to return to (default: the last good primary)")
    ] = None,
    dry_run: DryRunOpt = False,
    reason: ReasonOpt = "",
    function: FunctionOpt = None,
    alias: AliasOpt = None,
    stack: StackOpt = None,
) -> None:
    """Back to the last good primary with no extra weight: one alias update."""
    factory = release_factory(ctx)
    run_rollback(factory, to=to, dry_run=dry_run, reason=reason, function=function, alias=alias, stack=stack)


def run_rollback(
    factory: ReleaseFactory,
    *,
    to: str | None,
    dry_run: bool,
    reason: str,
    function: str | None,
    alias: str | None,
    stack: str | None,
) -> None:
    """The command's work, once its options are read (by Typer, or by modelctl/cli.py's fast path)."""
    reporter = ConsoleReporter()  # its console (and Rich) is created when it first prints
    with aws_errors("rollback"):
        flags = TargetFlags(function, alias, stack)
        context = factory.context(flags, reporter=reporter, prompt=TyperPrompt())
        outcome = roll_back(context, ReleaseOptions(reason=reason, dry_run=dry_run), to=to)
    print_outcome(reporter.console, outcome)
