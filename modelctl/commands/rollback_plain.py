"""`modelctl rollback` without Typer: a command line of plain options read here, and the work.

Importing Typer and its per-parameter validation (pydantic) are a large share of the time the
command has before it moves traffic, so a command line made only of rollback's string options and
flags is read here (modelctl/commands/plain_args.py) against the command's one option table
(`modelctl.commands.options.ROLLBACK`) and run without Typer. Anything else (`--help`, a mistake, an
unusual form) goes to the Typer command built from the same table (modelctl/commands/rollback.py),
with Typer's messages; tests/unit/modelctl/test_release_rollback.py checks that both routes read
every command line alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelctl.commands.options import ROLLBACK
from modelctl.commands.plain_args import plain_options, plain_table

if TYPE_CHECKING:
    from modelctl.factory import Factory

ROLLBACK_OPTIONS = plain_table(ROLLBACK)


def run_plain_rollback(args: Sequence[str]) -> bool:
    """Run `modelctl rollback ARGS` if ARGS are plain options; False (nothing done) otherwise."""
    values = plain_options(ROLLBACK_OPTIONS, args)
    if values is None:
        return False
    from modelctl.factory import Factory

    run_rollback(Factory(light_clients=True), **values)
    return True


def run_rollback(
    factory: Factory,
    *,
    to: str | None,
    dry_run: bool,
    reason: str,
    function: str | None,
    alias: str | None,
    stack: str | None,
) -> None:
    """The command's work, once its options are read (by Typer, or by `run_plain_rollback`)."""
    from modelctl.render.console import ConsoleReporter, TyperPrompt, print_outcome
    from release.aws import aws_errors
    from release.errors import LockHeldError
    from release.outcome import ReleaseOptions
    from release.rollback import roll_back
    from release.target import TargetFlags

    reporter = ConsoleReporter()  # its console (and Rich) is created when it first prints
    with aws_errors("rollback"):
        flags = TargetFlags(function, alias, stack)
        context = factory.context(flags, reporter=reporter, prompt=TyperPrompt())
        options = ReleaseOptions(reason=reason, dry_run=dry_run)
        try:
            outcome = roll_back(context, options, to=to)
        except LockHeldError:  # by the release controller: abort its release, or refused as before
            from release.controller.takeover import abort_controller_release

            def controller() -> tuple[Any, str]:
                from release.controller.client import controller_arn

                arn = controller_arn(context.target.stack_name, factory.env, factory.outputs)
                return factory.clients.client("stepfunctions"), arn

            taken_over = abort_controller_release(context, controller, options, to=to)
            if taken_over is None:
                raise
            outcome = taken_over
    print_outcome(reporter.console, outcome)
