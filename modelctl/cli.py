"""`modelctl`: the operator's CLI. One command group; each command lives in its own module."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from release.errors import ReleaseError

if TYPE_CHECKING:  # imported where an app is built: a plain `modelctl rollback` runs without Typer
    import typer

HELP = "Train, publish and release models served by the inference Lambda."


def _root() -> None:
    """Train, publish and release models served by the inference Lambda."""


def _register_other_commands(app: typer.Typer) -> None:
    """Everything but the release commands. Imported only when the command line may need it:
    `modelctl rollback` must not pay for numpy, the shadow report or training at start-up."""
    from modelctl.commands import precompute, report, report_ab, retrain, shadow, train

    app.command()(train.train)
    app.command()(precompute.precompute)
    app.add_typer(shadow.shadow_app, name="shadow")
    report.report_app.command("ab")(report_ab.ab)  # modelctl report ab (docs/ab-report.md)
    app.add_typer(report.report_app, name="report")  # modelctl report accuracy (docs/monitoring.md)
    retrain.register(app)  # modelctl retrain | models


def build_app(*, release_only: bool = False, rollback_only: bool = False) -> typer.Typer:
    import typer

    app = typer.Typer(
        name="modelctl", help=HELP, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False
    )
    app.callback()(_root)
    if rollback_only:  # the operator's emergency command: not even the other release commands' imports
        from modelctl.commands.rollback import rollback

        app.command()(rollback)
        return app
    from modelctl.commands import rollout

    if not release_only:
        _register_other_commands(app)
    rollout.register(app)
    return app


def _release_command_names() -> set[str]:
    import typer

    from modelctl.commands import rollout

    probe = typer.Typer()
    rollout.register(probe)
    return {c.name or (c.callback.__name__ if c.callback else "") for c in probe.registered_commands}


def _app_for(argv: list[str]) -> typer.Typer:
    """`rollback` gets an app with that command alone, another release command (abort, status, ...)
    one with the release commands only; anything else (help, train, shadow, unknown words) the
    whole CLI."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command == "rollback":
        return build_app(rollback_only=True)
    names = {name.replace("_", "-") for name in _release_command_names()}
    return build_app(release_only=command is not None and command in names)


def __getattr__(name: str) -> typer.Typer:
    """`modelctl.cli.app`: the whole CLI, built on first access (tests drive it in-process)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    app = globals()["app"] = build_app()
    return app


def _plain_rollback(argv: list[str]) -> bool:
    """`modelctl rollback` with only its own string options and flags: run it without importing
    Typer (modelctl/commands/rollback_plain.py). False: not such a command line (help, a mistake, another
    command), for Typer to handle."""
    if not argv or argv[0] != "rollback":
        return False
    from modelctl.commands.rollback_plain import run_plain_rollback

    return run_plain_rollback(argv[1:])


def main() -> None:
    """Entry point: usage errors are the framework's; a ReleaseError (ModelctlError among them)
    becomes one line and its exit code."""
    try:
        if not _plain_rollback(sys.argv[1:]):
            _app_for(sys.argv[1:])()
    except ReleaseError as exc:
        from rich.console import Console

        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # Ctrl-C in the fast path: what Typer prints for the commands it runs
        print("Aborted!", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
