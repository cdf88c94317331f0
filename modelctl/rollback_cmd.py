"""`modelctl rollback`, the Typer command: a module of its own so that the command starts with only
what it uses, not the other release commands' imports; `modelctl/cli.py` builds an app with this
one command when the command line starts with it and is not made of plain options (those run
without Typer: modelctl/rollback_run.py). The calls it makes are listed in
release/rollback.py."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl import rollback_run
from modelctl.commands.common import AliasOpt, DryRunOpt, FunctionOpt, ReasonOpt, StackOpt, release_factory


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
    rollback_run.run_rollback(
        factory, to=to, dry_run=dry_run, reason=reason, function=function, alias=alias, stack=stack
    )
