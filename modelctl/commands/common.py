"""What the release commands' CLI modules share: the target and change options, and the factory
taken from Typer's context. Light on purpose (Typer and the factory only): `modelctl rollback`
imports it at start-up."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.factory import ReleaseFactory
from release.target import DEFAULT_STACK

FunctionOpt = Annotated[
    str | None, typer.Option("--function", help="function name (default: stack output FunctionName)")
]
AliasOpt = Annotated[str | None, typer.Option("--alias", help="alias name (default: stack output AliasName)")]
StackOpt = Annotated[
    str | None, typer.Option("--stack", help=f"serving stack to read names from (default {DEFAULT_STACK})")
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="print the plan and change nothing")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="why: recorded in the history")]


def release_factory(ctx: typer.Context) -> ReleaseFactory:
    """The factory tests put in `ctx.obj`, or the default one (created once per command line)."""
    obj = ctx.obj
    if obj is None:
        obj = ctx.obj = ReleaseFactory()
    if not isinstance(obj, ReleaseFactory):
        raise TypeError(f"modelctl's context object must be a ReleaseFactory, got {type(obj).__name__}")
    return obj
