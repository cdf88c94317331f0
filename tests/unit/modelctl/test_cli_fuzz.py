"""Property-based: whatever arguments an operator types, `modelctl` exits 0, 1 or 2 with a message,
never with a stack trace.

Argument vectors are generated from the CLI's own command tree (every command, every option and
argument it declares, plus unknown ones) with values that are plausible, borderline or garbage,
and run through Typer's runner against a serving deployment in moto (tests/unit/modelctl/world.py):
nothing real is touched, and time only moves when a command sleeps (FakeClock).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from modelctl.cli import app
from release.errors import ReleaseError
from tests.unit.modelctl.world import World

EXAMPLES = int(os.environ.get("MODELCTL_FUZZ_EXAMPLES", "1000"))
TRAIN_EXAMPLES = int(os.environ.get("MODELCTL_FUZZ_TRAIN_EXAMPLES", "100"))


def command_tree(group: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every leaf command by its path, e.g. ('shadow', 'start') (Typer vendors its own Click, so
    groups and options are recognised by what they hold)."""
    commands: dict[tuple[str, ...], Any] = {}
    for name, command in group.commands.items():
        if isinstance(getattr(command, "commands", None), dict):
            commands.update(command_tree(command, (*prefix, name)))
        else:
            commands[(*prefix, name)] = command
    return commands


COMMANDS = command_tree(typer.main.get_command(app))


def option_names(command: Any) -> list[str]:
    return sorted(
        name
        for param in command.params
        if param.param_type_name == "option"
        for name in (*param.opts, *param.secondary_opts)
        if name != "--help"
    )


# Values that mean something to some option (percents, durations, versions, paths), borderline
# numbers, and garbage. Durations stay short: a valid bake really is baked (on a fake clock).
PLAUSIBLE = [
    "",
    " ",
    "0",
    "1",
    "2",
    "3",
    "4",
    "-1",
    "0.1",
    "10",
    "50",
    "99.9",
    "100",
    "101",
    "1e309",
    "-0",
    "nan",
    "inf",
    "0s",
    "5s",
    "1m",
    "90s",
    "-5s",
    "10,25,100",
    "50,10",
    "0,100",
    "1,,2",
    "m-2f4854ecd677",
    "m-one",
    "m-two",
    "m-does-not-exist",
    "$LATEST",
    "live",
    "ModelServing-Serving",
    "no-such-stack",
    "/nonexistent/folder",
    "/",
    ".",
    "..",
    "-",
    "--",
    "2026-01-01T00:00:00Z",
    "24h",
    "yesterday",
    "é\x00",
]
garbage = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Nd"]), max_size=12
)  # no digits: a number here would be an arbitrary (long) duration
values = st.sampled_from(PLAUSIBLE) | garbage


@st.composite
def argument_vectors(draw: st.DrawFn, commands: dict[tuple[str, ...], Any]) -> list[str]:
    path = draw(st.sampled_from(sorted(commands)))
    names = option_names(commands[path])
    tokens = st.one_of(
        st.sampled_from(names) if names else values,
        values,
        st.sampled_from(["--no-such-option", "-x", "--help", "--json", "--dry-run"]),
    )
    argv = [*path, *draw(st.lists(tokens, max_size=8))]
    if draw(st.integers(0, 19)) == 0:  # now and then a command that does not exist
        argv[0] = draw(values)
    return argv


def run(argv: list[str], obj: Any) -> tuple[int, str]:
    """As `modelctl.cli.main` runs it: a ReleaseError is one line and its exit code; anything else
    that escapes is a bug (the test fails with the exception and the arguments)."""
    result = CliRunner().invoke(app, argv, obj=obj, catch_exceptions=True)
    error = result.exception
    if isinstance(error, ReleaseError):
        message = str(error).strip()
        assert message and "\n" not in message, f"{argv!r}: a multi-line or empty message: {message!r}"
        return error.exit_code, message
    if error is not None and not isinstance(error, SystemExit):
        raise AssertionError(f"modelctl {argv!r} raised {error!r}") from error
    return result.exit_code, result.output


@pytest.fixture()
def in_tmp_dir(tmp_path: Path) -> Iterator[Path]:
    """Commands that write files (reports, artifacts) write them here."""
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(previous)


RELEASE_AND_SHADOW = {path: command for path, command in COMMANDS.items() if path != ("train",)}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(argv=argument_vectors(RELEASE_AND_SHADOW))
def test_every_argument_vector_exits_0_1_or_2_without_a_traceback(
    world: World, in_tmp_dir: Path, argv: list[str]
) -> None:
    code, output = run(argv, world.factory())
    assert code in (0, 1, 2), (argv, code, output)
    assert "Traceback" not in output, (argv, output)


@settings(max_examples=TRAIN_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(argv=argument_vectors({("train",): COMMANDS[("train",)]}))
def test_train_arguments_exit_0_1_or_2_without_a_traceback(in_tmp_dir: Path, argv: list[str]) -> None:
    """`train` runs no AWS call; a valid vector trains for real, into the temporary folder."""
    code, output = run(argv, None)
    assert code in (0, 1, 2), (argv, code, output)
    assert "Traceback" not in output, (argv, output)


def test_the_tree_covers_every_command() -> None:
    assert {path[0] for path in COMMANDS} >= {"train", "publish", "canary", "status", "shadow"}
    assert ("shadow", "report") in COMMANDS and len(COMMANDS) >= 14
