"""`modelctl rollback` while the release controller runs a release: what the operator means is
"stop this release and go back", so the rollback becomes an abort of the running release (the
abort flag, the lock taken over, the alias back to the release's base, its gates deleted, history)
and the execution is stopped; with `--to` another version, a rollback to it follows.

Only a lock held by the controller is taken over this way (its lease names the release controller
as the holder); a lock held by another terminal's command refuses the rollback as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from release.outcome import Outcome, ReleaseOptions

if TYPE_CHECKING:
    from release.context import ReleaseContext

CONTROLLER_HOLDER = "(release controller)"  # release/controller/handler.py names the lease's holder so


def abort_controller_release(
    ctx: ReleaseContext,
    controller: Callable[[], tuple[Any, str]],
    options: ReleaseOptions,
    *,
    to: str | None = None,
) -> Outcome | None:
    """Abort the release the controller runs and stop its execution; `controller()` gives the Step
    Functions client and the state machine's ARN. None (nothing done) if the controller does not
    hold the lock of a release in progress."""
    from release.controller.client import ControllerMissingError, stop
    from release.finish import abort
    from release.rollback import roll_back

    holder = ctx.lock.holder()
    record = ctx.store.state().release
    if holder is None or record is None or not holder.who.endswith(CONTROLLER_HOLDER):
        return None
    reason = options.reason or "modelctl rollback during a release in the release controller"
    ctx.reporter.info(
        f"the {record.kind} of v{record.candidate} runs in the release controller (release "
        f"{record.release_id}): aborting it and rolling back to v{record.base}"
    )
    outcome = abort(ctx, ReleaseOptions(reason=reason))
    try:
        sfn, arn = controller()
        stopped = stop(sfn, arn, record.release_id, reason)
    except ControllerMissingError:
        stopped = False
    ctx.reporter.info(
        "stopped its execution" if stopped else "its execution had ended; its next step would have stopped"
    )
    if to is not None and to != record.base:
        outcome = roll_back(ctx, options, to=to)
    return Outcome(f"rolled back (release aborted): {outcome.routing.describe()}", outcome.routing)
