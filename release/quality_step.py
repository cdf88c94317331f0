"""The quality gate after a step, for both runners. In process (`wait_for_quality`): check, and
while the test cannot decide, wait and check again, watching the alarm gates and the abort flag,
until it advances, rolls back or the wait runs out.

In the release controller (`quality_check`): one check per `check` step, the state machine's Wait
between them. Every decision that ends the wait goes to the release history with its figures
(`record_quality`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from release.alias import AliasState, Routing, VersionInfo
from release.gates import (
    LOG_BUCKET_ENV,
    QUALITY_ADVANCE,
    QUALITY_HOLD,
    QUALITY_ROLLBACK,
    QUALITY_WAIT,
    QualityCheck,
    check_quality,
    s3_rows,
)
from release.plan import Plan
from release.record import record_change
from release.store import ReleaseRecord

if TYPE_CHECKING:
    from release.context import ReleaseContext
    from release.gates import RowsSource


def quality_rows(ctx: ReleaseContext, plan: Plan) -> RowsSource:
    """Where the gate reads joined rows: the test's override, else the log bucket in S3."""
    assert plan.quality is not None
    if ctx.quality_rows_override is not None:
        return ctx.quality_rows_override
    return s3_rows(ctx.s3, plan.quality.log_bucket or os.environ.get(LOG_BUCKET_ENV, ""))


def record_quality(
    ctx: ReleaseContext, plan: Plan, record: ReleaseRecord, routing: Routing, check: QualityCheck, index: int
) -> None:
    record_change(
        ctx, f"{plan.kind} quality gate {index}/{len(plan.steps)}", check.action, check.reason,
        routing, routing, record, None, version=plan.candidate, detail=check.history_detail(),
    )  # fmt: skip


def _since(record: ReleaseRecord) -> datetime:
    return datetime.fromisoformat(record.started_at.replace("Z", "+00:00"))


def wait_for_quality(
    ctx: ReleaseContext,
    plan: Plan,
    record: ReleaseRecord,
    index: int,
    state: AliasState,
    candidate: VersionInfo,
    check_active: Callable[[ReleaseRecord], None],
) -> QualityCheck:
    """Check until the gate decides (advance / rollback) or the wait runs out (hold)."""
    assert plan.quality is not None
    rows = quality_rows(ctx, plan)
    since = _since(record)
    started = ctx.clock.monotonic()
    previous_p: float | None = None
    last_reason = ""
    while True:
        check_active(record)
        ctx.lock.renew()
        fired = [gate for gate in ctx.gates.states(record.gate_alarms) if gate.fired]
        if fired:
            details = "; ".join(f"{g.name} is {g.state}: {g.reason}" for g in fired)
            return QualityCheck(
                QUALITY_ROLLBACK, f"gate fired during step {index}: {details}", {}, previous_p
            )
        waited = ctx.clock.monotonic() - started
        check = check_quality(
            rows, plan.quality, base=plan.base, candidate=candidate.version, since=since,
            now=ctx.clock.now(), waited_s=waited, previous_p_value=previous_p,
        )  # fmt: skip
        previous_p = check.p_value
        if check.action != QUALITY_WAIT:
            record_quality(ctx, plan, record, state.routing, check, index)
            ctx.reporter.info(check.reason)
            return check
        if check.reason != last_reason:
            ctx.reporter.info(check.reason)
            last_reason = check.reason
        ctx.clock.sleep(max(0.0, min(ctx.poll_s, plan.quality.max_wait_s - waited)))


def quality_check(
    ctx: ReleaseContext, plan: Plan, record: ReleaseRecord, release: dict[str, Any], *, waited_s: float
) -> bool:
    """The release controller's check of the quality gate once the step's bake is over: sets
    `release.next` to bake (wait again), fired (roll back) or finish (held at its weight), or returns
    True when the release may go on (the caller decides what comes next: a step, an approval)."""
    assert plan.quality is not None
    index = int(release["index"])
    previous = release.get("quality_p")
    check = check_quality(
        quality_rows(ctx, plan), plan.quality, base=plan.base, candidate=plan.candidate,
        since=_since(record), now=ctx.clock.now(), waited_s=waited_s,
        previous_p_value=float(previous) if previous is not None else None,
    )  # fmt: skip
    release["quality_p"] = check.p_value
    if check.action == QUALITY_WAIT:
        left = plan.quality.max_wait_s - waited_s
        every = float(release["check_every_s"])
        release.update(next="bake", wait_s=max(1, math.ceil(min(left, every))), quality=check.reason)
        ctx.reporter.info(check.reason)
        return False
    routing = ctx.alias.read().routing
    record_quality(ctx, plan, record, routing, check, index)
    ctx.reporter.info(check.reason)
    if check.action == QUALITY_ROLLBACK:
        release.update(next="fired", reason=check.reason, gates="quality gate")
        return False
    if check.action == QUALITY_HOLD:
        release.update(next="finish", held=check.reason, wait_s=0)
        return False
    assert check.action == QUALITY_ADVANCE
    return True
