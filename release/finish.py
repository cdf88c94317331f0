"""Finishing a release: `promote` makes its new version the primary, `abort` stops it (even one
running in another terminal, by taking its lock over) and returns the alias to the base version.
Each is one alias update, recorded in the history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from release.alias import Routing
from release.errors import RefusedError
from release.gates import summarize
from release.outcome import Outcome, ReleaseOptions
from release.record import record_change

if TYPE_CHECKING:
    from release.context import ReleaseContext


def promote(ctx: ReleaseContext, options: ReleaseOptions, *, force: bool = False) -> Outcome:
    """The release's new version (or the alias's extra one) becomes the primary with no extra weight;
    refused when one of its gates fired, unless `force`."""
    state = ctx.alias.read()
    record = ctx.store.state()
    routing = state.routing
    release = record.release
    if release is not None:
        candidate, base = release.candidate, release.base
    elif routing.extra is not None:
        candidate, base = routing.extra, routing.primary
    else:
        raise RefusedError(
            f"nothing to promote: no release is in progress and the alias is {routing.describe()}"
        )
    gate_names = release.gate_alarms if release else []
    fired = [g for g in ctx.gates.states(gate_names) if g.fired]
    if fired and not force:
        raise RefusedError(
            f"a gate of v{candidate} fired ({summarize(fired)}): roll back, or pass --force to promote anyway"
        )
    target = Routing(candidate)
    if options.dry_run:
        ctx.reporter.info(f"dry run: would move the alias from {routing.describe()} to {target.describe()}")
        return Outcome("dry run: nothing changed", routing, changed=False)
    with ctx.lock.held(ctx.who, f"promote v{candidate}"):
        after = ctx.alias.update(state, target) if not routing.same_as(target) else state
        ctx.store.finish(release.release_id if release else None, previous_primary=base)
        ctx.gates.delete(gate_names)
        record_change(
            ctx,
            "promote",
            "ok",
            options.reason,
            routing,
            after.routing,
            release,
            None,
            version=candidate,
            detail="forced past a fired gate" if fired else "",
        )
    return Outcome(f"v{candidate} is the primary; v{base} is the rollback target", after.routing)


def abort(ctx: ReleaseContext, options: ReleaseOptions) -> Outcome:
    """Ask the running release to stop, take its lock over and move the alias back to its base."""
    record = ctx.store.state()
    release = record.release
    if release is None:
        raise RefusedError(
            "no release is in progress (see `modelctl status`); `modelctl rollback` undoes a finished one"
        )
    state = ctx.alias.read()
    target = Routing(release.base)
    if options.dry_run:
        ctx.reporter.info(
            f"dry run: would stop the {release.kind} of v{release.candidate} and move the alias from "
            f"{state.routing.describe()} to {target.describe()}"
        )
        return Outcome("dry run: nothing changed", state.routing, changed=False)
    ctx.store.request_abort(release.release_id, ctx.who, options.reason)
    with ctx.lock.held(ctx.who, f"abort {release.kind} v{release.candidate}", take_over=True):
        state = ctx.alias.read()
        after = ctx.alias.update(state, target) if not state.routing.same_as(target) else state
        ctx.store.finish(release.release_id, previous_primary=None)
        ctx.gates.delete(release.gate_alarms)
        record_change(
            ctx,
            "abort",
            "rolled back",
            options.reason,
            state.routing,
            after.routing,
            release,
            None,
            version=release.candidate,
        )
    return Outcome(
        f"aborted the {release.kind} of v{release.candidate}: {after.routing.describe()}", after.routing
    )
