"""A command line of plain options, read without Typer.

Typer checks every parameter's value with a pydantic TypeAdapter, so parsing any command line
imports pydantic and builds the adapters; with Typer's own import, that is a large share of
`modelctl rollback`'s time before the traffic moves (docs/performance.md). Rollback's options are
strings and flags, which need no conversion. `plain_options` reads such a command line against a
`PlainOptions` (option names, which are flags, defaults; `plain_table` makes one from an option
table), and answers None for anything else (`--help`, an unknown or repeated option, a missing
value), which the caller then hands to Typer as usual, errors and help included. `options_of`
derives the `PlainOptions` from the click command Typer builds, so a test can check that both
routes agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelctl.commands.options import OptionSpec

_PLAIN_TYPES = (str, bool)


@dataclass(frozen=True)
class PlainOptions:
    """A command's options: {option: (parameter name, is a flag)} and {parameter name: default}."""

    options: Mapping[str, tuple[str, bool]]
    defaults: Mapping[str, Any]


def plain_table(table: Sequence[OptionSpec]) -> PlainOptions:
    """The `PlainOptions` of an option table."""
    return PlainOptions(
        options={spec.option: (spec.parameter, spec.is_flag) for spec in table},
        defaults={spec.parameter: spec.default for spec in table},
    )


def plain_options(command: PlainOptions, args: Sequence[str]) -> dict[str, Any] | None:
    """{parameter name: value} for `args` made only of `command`'s options, else None."""
    by_option, values = command.options, dict(command.defaults)
    seen: set[str] = set()
    position = 0
    while position < len(args):
        word = args[position]
        name, _, inline = word.partition("=")
        option = by_option.get(name)
        if option is None or option[0] in seen:
            return None
        parameter, is_flag = option
        seen.add(parameter)
        if is_flag:
            if inline or "=" in word:
                return None
            values[parameter] = True
        elif "=" in word:
            values[parameter] = inline
        else:
            position += 1
            if position >= len(args) or args[position].startswith("-"):
                return None  # a missing value (or one that looks like an option): Typer's message
            values[parameter] = args[position]
        position += 1
    return values


def options_of(command: Any) -> PlainOptions | None:
    """The options of a click command (`typer.main.get_command(app).commands[name]`), or None if
    it has any parameter that is not a plain string option or flag."""
    try:
        return _options_of(command)
    except AttributeError:  # not the command structure this reads
        return None


def _options_of(command: Any) -> PlainOptions | None:
    by_option: dict[str, tuple[str, bool]] = {}
    defaults: dict[str, Any] = {}
    for param in command.params:
        annotation = param.type_descriptor.annotation
        simple = (
            param.param_type_name == "option"
            and annotation in _PLAIN_TYPES
            and param.is_flag == (annotation is bool)
            and not param.secondary_opts
            and not param.multiple
            and param.nargs == 1
            and not param.envvar
            and not param.prompt
            and param.callback is None
            and not param.required
        )
        if not simple:
            return None
        for option in param.opts:
            by_option[option] = (param.name, bool(param.is_flag))
        defaults[param.name] = param.default
    return PlainOptions(by_option, defaults)
