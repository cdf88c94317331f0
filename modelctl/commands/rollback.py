"""`modelctl rollback`, the Typer command: a module of its own so that the command starts with only
what it uses, not the other release commands' imports. `modelctl/cli.py` builds an app with this
one command when the command line starts with it and is not made of plain options (those run
without Typer: modelctl/commands/rollback_plain.py). Both routes read the one option table,
`modelctl.commands.options.ROLLBACK`. The calls it makes are listed in release/rollback.py."""

from __future__ import annotations

from typing import Any

import typer

from modelctl.commands import rollback_plain
from modelctl.commands.common import cli_factory, with_options
from modelctl.commands.options import ROLLBACK


def _rollback(ctx: typer.Context, **values: Any) -> None:
    """Back to the last good primary with no extra weight: one alias update."""
    rollback_plain.run_rollback(cli_factory(ctx), **values)


_rollback.__name__ = "rollback"
rollback = with_options(_rollback, ROLLBACK)
