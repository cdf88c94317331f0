"""What a release shows the operator: plain lines, and a Rich progress display while it bakes.

Rich is imported when something is printed, not with this module: `modelctl rollback` prints only
after its one UpdateAlias, and should not pay for Rich before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from release.alias import Routing
from release.clock import format_duration
from release.outcome import Outcome

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from release.gates import GateState

_STATE_STYLE = {"OK": "green", "ALARM": "bold red", "MISSING": "bold red", "INSUFFICIENT_DATA": "dim"}


def gate_summary(gates: Sequence[GateState], *, markup: bool) -> str:
    if not gates:
        return "no gates"
    if not markup:
        return ", ".join(f"{g.kind} {g.state}" for g in gates)
    return ", ".join(f"{g.kind} [{_STATE_STYLE.get(g.state, 'white')}]{g.state}[/]" for g in gates)


def make_console(*, stderr: bool = False) -> Console:
    """The CLI's console: no highlighting; piped or captured, tables keep one row per line."""
    from rich.console import Console

    console = Console(soft_wrap=True, highlight=False, stderr=stderr)
    if not console.is_terminal:
        console.width = max(console.width, 160)
    return console


def print_outcome(console: Console, outcome: Outcome) -> None:
    """A command's last line: green when it changed something, cyan when not (dry run)."""
    style = "green" if outcome.changed else "cyan"
    console.print(f"[{style}]{outcome.message}[/{style}]")


class ConsoleReporter:
    """Prints on `console`, or on a `make_console()` created when the first line is printed."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            self._console = make_console()
        return self._console

    def info(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)

    def warn(self, message: str) -> None:
        from rich.markup import escape

        self.console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)

    def bake(
        self,
        *,
        step: int,
        steps: int,
        routing: Routing,
        elapsed_s: float,
        bake_s: float,
        gates: Sequence[GateState],
    ) -> None:
        left = f"{format_duration(max(0.0, bake_s - elapsed_s))} left"
        description = f"step {step}/{steps} {routing.describe()}"
        if not self.console.is_terminal:  # logs and CI: one line per gate check
            self.info(f"baking {description}: {left}, gates: {gate_summary(gates, markup=False)}")
            return
        if self._progress is None:
            from rich.progress import BarColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[left]}"),
                TextColumn("gates: {task.fields[gates]}"),
                console=self.console,
                auto_refresh=False,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(description, total=bake_s, left=left, gates="")
        assert self._task is not None
        self._progress.update(
            self._task,
            description=description,
            completed=elapsed_s,
            total=bake_s,
            left=left,
            gates=gate_summary(gates, markup=True),
        )
        self._progress.refresh()

    def bake_done(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None


class TyperPrompt:
    def confirm(self, question: str) -> bool:
        import typer  # imported when asked: `modelctl rollback` never asks, and starts without Typer

        return bool(typer.confirm(question, default=True))
