"""`modelctl rollback` without Typer: its options as the fast path reads them, and its work.

Typer's import and its per-parameter validation (pydantic) cost ~0.15-0.25 s of CPU, a fifth of
the second the command has to move traffic. A command line made only of rollback's string
options and flags is read here (modelctl/plain_args.py) and run without importing Typer at all;
anything else (`--help`, a mistake, an unusual form) goes to the Typer command in
modelctl/rollback_cmd.py, with Typer's messages. `ROLLBACK_OPTIONS` restates that command's
options; tests/unit/modelctl/test_release_rollback.py fails if it differs from what Typer builds
from modelctl/rollback_cmd.py (names, flags, defaults), and if the two paths read any command
line differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelctl.plain_args import PlainOptions, plain_options

if TYPE_CHECKING:
    from modelctl.factory import ReleaseFactory

ROLLBACK_OPTIONS = PlainOptions(
    options={
        "--to": ("to", False),
        "--dry-run": ("dry_run", True),
        "--reason": ("reason", False),
        "--function": ("function", False),
        "--alias": ("alias", False),
        "--stack": ("stack", False),
    },
    defaults={"to": None, "dry_run": False, "reason": "", "function": None, "alias": None, "stack": None},
)


def run_plain_rollback(args: Sequence[str]) -> bool:
    """Run `modelctl rollback ARGS` if ARGS are plain options; False (nothing done) otherwise."""
    values = plain_options(ROLLBACK_OPTIONS, args)
    if values is None:
        return False
    from modelctl.factory import ReleaseFactory

    run_rollback(ReleaseFactory(light_clients=True), **values)
    return True


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
    """The command's work, once its options are read (by Typer, or by `run_plain_rollback`)."""
    from modelctl.render.console import ConsoleReporter, TyperPrompt, print_outcome
    from release.aws import aws_errors
    from release.outcome import ReleaseOptions
    from release.rollback import roll_back
    from release.target import TargetFlags

    reporter = ConsoleReporter()  # its console (and Rich) is created when it first prints
    with aws_errors("rollback"):
        flags = TargetFlags(function, alias, stack)
        context = factory.context(flags, reporter=reporter, prompt=TyperPrompt())
        outcome = roll_back(context, ReleaseOptions(reason=reason, dry_run=dry_run), to=to)
    print_outcome(reporter.console, outcome)
