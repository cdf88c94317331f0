"""Option tables that both routes of a command read: the Typer command is built from a table
(`modelctl/commands/common.py`), and the plain route reads a command line against the same
table (`modelctl/commands/plain_args.py`). Typer-free, so the plain `modelctl rollback` can read it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from release.target import DEFAULT_STACK

OptionValue = str | bool | None


@dataclass(frozen=True)
class OptionSpec:
    """One string option or flag: the flag's spelling, the parameter it fills, its default (a bool
    default makes it a flag; None, an optional string) and its help text."""

    option: str
    parameter: str
    default: OptionValue
    help: str

    @property
    def is_flag(self) -> bool:
        return isinstance(self.default, bool)


FUNCTION = OptionSpec("--function", "function", None, "function name (default: stack output FunctionName)")
ALIAS = OptionSpec("--alias", "alias", None, "alias name (default: stack output AliasName)")
STACK = OptionSpec("--stack", "stack", None, f"serving stack to read names from (default {DEFAULT_STACK})")
DRY_RUN = OptionSpec("--dry-run", "dry_run", False, "print the plan and change nothing")
REASON = OptionSpec("--reason", "reason", "", "why: recorded in the history")

ROLLBACK: Sequence[OptionSpec] = (
    OptionSpec("--to", "to", None, "version to return to (default: the last good primary)"),
    DRY_RUN,
    REASON,
    FUNCTION,
    ALIAS,
    STACK,
)
"""`modelctl rollback`'s options, in the order `--help` lists them."""
