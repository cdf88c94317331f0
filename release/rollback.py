"""`modelctl rollback`: back to the last good primary with no extra weight, in one UpdateAlias.

Rollback is what an operator runs when something is wrong, so the calls before the one that moves
traffic are as few and as parallel as the safety allows. Its AWS calls, in order (calls on one
line run at the same time, each line waits for the one before):

1. `sts:GetCallerIdentity`: who, recorded in the lock and the history;
2. `dynamodb:PutItem` (conditional): the release lock, refused while another command holds it;
3. `lambda:GetAlias` | `dynamodb:GetItem` (the release state) | with `--to`,
   `lambda:GetFunctionConfiguration` (the version must exist): read under the lock, so the
   decision is made on what nobody else can change through modelctl meanwhile;
4. `lambda:UpdateAlias` carrying the RevisionId read in 3: **the one call that moves traffic**;
5. `dynamodb:UpdateItem` (the release ends, the rollback target is cleared) | without `--to`,
   `lambda:GetFunctionConfiguration` (the model version, for the history);
6. `dynamodb:PutItem` (history) | `cloudwatch:DeleteAlarms` (only if a release had gate alarms);
7. `dynamodb:DeleteItem` (conditional): the lock is given back.

`--dry-run` makes only the reads of 3, without the lock. Refusals (nothing to roll back, already
there, no such version) are found in 3 and leave the alias as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from release.alias import AliasState, Routing, VersionInfo, check_version_syntax
from release.clock import iso
from release.errors import RefusedError
from release.outcome import Outcome, ReleaseOptions
from release.store import AliasRecord, HistoryEntry

if TYPE_CHECKING:
    from release.context import ReleaseContext

T = TypeVar("T")
U = TypeVar("U")


def both(first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
    """Run two independent calls at once (each is a round trip to AWS) and return both results;
    an exception of either is raised here, after both finished."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(second)
        result = first()
        return result, pending.result()


def rollback_target(routing: Routing, record: AliasRecord, to: str | None) -> Routing:
    """Where a rollback goes: `--to`, else the primary during a release with extra weight, else the
    release's base, else the primary before the last promotion."""
    release = record.release
    if to is not None:
        target = Routing(to)
    elif routing.extra is not None:
        target = Routing(routing.primary)
    elif release is not None and release.base != routing.primary:
        target = Routing(release.base)
    elif record.previous_primary and record.previous_primary != routing.primary:
        target = Routing(record.previous_primary)
    else:
        raise RefusedError(
            f"nothing to roll back: the alias is {routing.describe()} and no earlier primary is "
            "recorded; name one with --to VERSION"
        )
    if routing.same_as(target):
        raise RefusedError(f"the alias is already {routing.describe()}")
    return target


def _read(ctx: ReleaseContext, to: str | None) -> tuple[AliasState, AliasRecord]:
    """The alias and the release state (and, with `to`, that version's configuration) at once.
    The clients are created here, in this thread: a boto3 session is not thread-safe, its clients are."""
    alias, store, catalog = ctx.alias, ctx.store, ctx.catalog

    def state_and_version() -> AliasRecord:
        if to is None:
            return store.state()
        record, _ = both(store.state, lambda: catalog.describe(to))
        return record

    return both(alias.read, state_and_version)


def roll_back(ctx: ReleaseContext, options: ReleaseOptions, *, to: str | None = None) -> Outcome:
    if to is not None:
        check_version_syntax(to)
    if options.dry_run:
        state, record = _read(ctx, to)
        target = rollback_target(state.routing, record, to)
        ctx.reporter.info(
            f"dry run: would move the alias from {state.routing.describe()} to {target.describe()}"
        )
        return Outcome("dry run: nothing changed", state.routing, changed=False)
    # Lambda's client is made while the identity and the lock are asked for:
    with ctx.clients_made_ahead(), ctx.lock.held(ctx.who, "rollback"):
        state, record = _read(ctx, to)
        target = rollback_target(state.routing, record, to)
        after = ctx.alias.write(state, target)  # the one call that moves traffic
        release = record.release
        catalog = ctx.catalog
        _, version = both(
            lambda: ctx.store.finish(release.release_id if release else None, previous_primary=None),
            lambda: catalog.describe(target.primary),  # no call with --to: read in _read
        )
        entry = _history_entry(ctx, options, state.routing, after.routing, version, record)
        if release is not None and release.gate_alarms:
            gates = ctx.gates
            both(lambda: ctx.store.append(entry), lambda: gates.delete(release.gate_alarms))
        else:
            ctx.store.append(entry)
    return Outcome(f"rolled back: {after.routing.describe()}", after.routing)


def _history_entry(
    ctx: ReleaseContext,
    options: ReleaseOptions,
    before: Routing,
    after: Routing,
    version: VersionInfo,
    record: AliasRecord,
) -> HistoryEntry:
    return HistoryEntry(
        at=iso(ctx.clock.now()),
        who=ctx.who,
        action="rollback",
        outcome="ok",
        reason=options.reason,
        before=before,
        after=after,
        version=version.version,
        model_version=version.model_version,
        release_id=record.release.release_id if record.release else "",
    )
