"""`modelctl`: the operator's CLI. One command group; each command lives in its own module."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from modelctl import release_cmds
from modelctl.errors import ModelctlError
from modelctl.precompute import precompute
from modelctl.report import report_app
from modelctl.retrain import commands as retrain_commands
from modelctl.shadow import shadow_app
from modelctl.train_cmd import train

app = typer.Typer(
    name="modelctl",
    help="Train, publish and release models served by the inference Lambda.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Train, publish and release models served by the inference Lambda."""


app.command()(train)
app.command()(precompute)
release_cmds.register(app)
app.add_typer(shadow_app, name="shadow")
app.add_typer(report_app, name="report")  # modelctl report accuracy (docs/monitoring.md)
retrain_commands.register(app)  # modelctl retrain | models (modelctl/retrain/)


def main() -> None:
    """Entry point: usage errors are the framework's; ModelctlError becomes one line and exit 1."""
    try:
        app()
    except ModelctlError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
