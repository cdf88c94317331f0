"""What the commands share: the target and change options, commands built from an option table,
and the one factory, taken from Typer's context. Light on purpose (Typer and the factory only):
`modelctl rollback` imports it at start-up."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelctl.commands.options import ALIAS, DRY_RUN, FUNCTION, REASON, STACK, OptionSpec
from modelctl.factory import Factory
from release.lock import ALIAS_SCOPE
from release.target import TargetFlags

if TYPE_CHECKING:
    from rich.console import Console

    from release.context import ReleaseContext


def typer_option(spec: OptionSpec) -> Any:
    """The annotation of `spec`'s parameter in a Typer command."""
    kind: Any = bool if spec.is_flag else (str | None if spec.default is None else str)
    return Annotated[kind, typer.Option(spec.option, help=spec.help)]


FunctionOpt = Annotated[str | None, typer.Option(FUNCTION.option, help=FUNCTION.help)]
AliasOpt = Annotated[str | None, typer.Option(ALIAS.option, help=ALIAS.help)]
StackOpt = Annotated[str | None, typer.Option(STACK.option, help=STACK.help)]
DryRunOpt = Annotated[bool, typer.Option(DRY_RUN.option, help=DRY_RUN.help)]
ReasonOpt = Annotated[str, typer.Option(REASON.option, help=REASON.help)]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def with_options(command: Callable[..., None], table: Sequence[OptionSpec]) -> Callable[..., None]:
    """`command(ctx, **values)` as a Typer command whose options are `table`'s, in its order."""
    plain = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [
        inspect.Parameter("ctx", plain, annotation=typer.Context),
        *(
            inspect.Parameter(spec.parameter, plain, default=spec.default, annotation=typer_option(spec))
            for spec in table
        ),
    ]
    command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return command


def cli_factory(ctx: typer.Context) -> Factory:
    """The factory tests put in `ctx.obj`, or the default one (created once per command line)."""
    obj = ctx.obj
    if obj is None:
        obj = ctx.obj = Factory()
    if not isinstance(obj, Factory):
        raise TypeError(f"modelctl's context object must be a Factory, got {type(obj).__name__}")
    return obj


def release_context(
    ctx: typer.Context,
    function: str | None,
    alias: str | None,
    stack: str | None,
    *,
    console: Console,
    poll_s: float = 15.0,
    scope: str = ALIAS_SCOPE,
) -> ReleaseContext:
    """A release command's context: its target from the flags, reporting on `console`."""
    from modelctl.render.console import ConsoleReporter, TyperPrompt

    return cli_factory(ctx).context(
        TargetFlags(function, alias, stack),
        reporter=ConsoleReporter(console),
        prompt=TyperPrompt(),
        poll_s=poll_s,
        scope=scope,
    )
