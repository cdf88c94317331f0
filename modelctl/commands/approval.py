"""`modelctl approve` and `modelctl reject`: answer a release that waits in the release controller
for a person before going past a weight (`--approve-at`), from any terminal. The decision goes to
the waiting execution with its task token; the controller records it in the history, then moves on
(approve) or rolls back (reject)."""

from __future__ import annotations

from collections.abc import Callable

import typer

from modelctl.commands.common import AliasOpt, FunctionOpt, ReasonOpt, StackOpt, cli_factory, release_context
from modelctl.render.console import make_console
from release.aws import aws_errors
from release.errors import RefusedError


def _decide(ctx: typer.Context, approved: bool, reason: str, function: str | None, alias: str | None,
            stack: str | None) -> None:  # fmt: skip
    from release.controller.approval import ApprovalStore, Decision, decide

    console = make_console()
    with aws_errors("approve" if approved else "reject"):
        release_ctx = release_context(ctx, function, alias, stack, console=console)
        record = release_ctx.store.state().release
        if record is None:
            raise RefusedError("no release is in progress: nothing waits for approval")
        target = release_ctx.target
        store = ApprovalStore(
            release_ctx.clients.dynamodb, target.release_table, target.function_name, target.alias_name
        )
        sfn = cli_factory(ctx).clients.client("stepfunctions")
        approval = decide(sfn, store, record.release_id, Decision(approved, release_ctx.who, reason))
    if approved:
        console.print(
            f"approved: release {approval.release_id} goes past {approval.percent:g}% to "
            f"{approval.next_percent:g}% (the controller checks the gates first). "
            "Follow it with `modelctl status`"
        )
    else:
        console.print(
            f"rejected: release {approval.release_id} rolls back to v{record.base} in the controller. "
            "`modelctl status` / `modelctl history` show it"
        )


def _command(name: str, approved: bool, summary: str) -> Callable[..., None]:
    """The `approve` or `reject` command: the same options, one decision."""

    def command(
        ctx: typer.Context,
        reason: ReasonOpt = "",
        function: FunctionOpt = None,
        alias: AliasOpt = None,
        stack: StackOpt = None,
    ) -> None:
        _decide(ctx, approved, reason, function, alias, stack)

    command.__name__ = command.__qualname__ = name
    command.__doc__ = summary
    return command


approve = _command(
    "approve", True, "Let the release waiting for approval go past its weight (recorded in the history)."
)
reject = _command(
    "reject",
    False,
    "Stop the release waiting for approval: the controller rolls it back (recorded in the history).",
)
