"""The controller's task steps: each takes the execution state (execution.py) and returns it with
`release` updated; the state machine decides what runs next from `release.next`.

    begin      lock, refusals, pre-traffic check, gates, the release record, history "started"
    advance    the next weight step (one UpdateAlias), history "step i/n"; next: bake | step | finish
    check      one gate check during a bake: aborted | fired | bake (wait again) | step | finish
    finish     promotion (or a canary left at its weight), history "completed", lock released
    roll_back  a gate fired: back to the base version, gates deleted, history, lock released
    await_approval  (a .waitForTaskToken task) the token stored for `modelctl approve|reject`, the
               lease extended over the wait, history "approval requested"
    approved   the decision recorded; abort flag, lease and gates checked again: step | fired | aborted
    decline    rejected, or the wait timed out: history, then as roll_back
    clean_up   any failed step (a Catch), a timed-out or stopped execution: if the release is still
               this one's, back to the base version; the lock released either way

The lock is the same lease `modelctl` takes; the lease (its owner id) travels in the state, so
every step renews it and the last one gives it back. `modelctl abort` takes it over, rolls the
alias back itself and marks the release aborted: the next step of this execution sees that and
ends without touching the alias.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from release.alias import AliasState, Routing, check_candidate, check_version_syntax
from release.clock import iso
from release.context import ReleaseContext
from release.controller.approval import REJECTED_ERROR, Approval, ApprovalStore, Decision, needs_approval
from release.controller.execution import ControllerOptions, continues, plan_from_json
from release.errors import (
    AwsCallError,
    ConcurrentUpdateError,
    LockLostError,
    RefusedError,
    ReleaseAbortedError,
)
from release.gates import summarize
from release.lock import Lease
from release.plan import FULL, Plan
from release.pretraffic import check_before_traffic
from release.quality_step import quality_check
from release.record import record_change
from release.store import HistoryEntry, ReleaseRecord

State = dict[str, Any]
MIN_WAIT_S = 1


def begin(ctx: ReleaseContext, state: State) -> State:
    plan = plan_from_json(state["plan"])
    options = ControllerOptions.from_json(state.get("options") or {})
    check_version_syntax(plan.candidate)
    if not plan.steps:
        raise RefusedError("the plan has no steps")
    alias = ctx.alias.read()
    current = alias.routing
    in_progress = ctx.store.state().release
    taking_over = continues(in_progress, plan, current) and ctx.lock.holder() is None
    if in_progress is not None and not taking_over:
        raise RefusedError(
            f"a {in_progress.kind} of v{in_progress.candidate} is in progress, started by "
            f"{in_progress.started_by} at {in_progress.started_at}: promote, rollback or abort it first"
        )
    if not taking_over and not current.same_as(Routing(plan.base)):
        raise ConcurrentUpdateError(
            f"the alias is {current.describe()}, not v{plan.base} alone as planned: check `modelctl status`"
        )
    candidate = check_candidate(plan.candidate, Routing(plan.base), ctx.catalog)
    settings = ctx.fleet_gate_settings().with_overrides(**options.gate_overrides)
    lease = ctx.lock.acquire(ctx.who, f"{plan.kind} v{plan.candidate}")
    try:
        if in_progress is not None:  # the idle release of this version (e.g. a canary) ends here
            ctx.store.finish(in_progress.release_id, previous_primary=None)
            ctx.reporter.info(f"continues the {in_progress.kind} of v{plan.candidate} ({current.describe()})")
        check_before_traffic(
            ctx, plan, candidate, current, enabled=options.pre_traffic, reason=options.reason
        )
        gate_names: list[str] = []
        if plan.total_bake_s > 0 or not plan.ends_with_promotion:
            gate_names = ctx.gates.create(candidate, settings)
        record = ReleaseRecord(
            release_id=str(state["release_id"]),
            kind=plan.kind,
            candidate=plan.candidate,
            base=plan.base,
            steps=[{"percent": s.percent, "bake_s": s.bake_s} for s in plan.steps],
            started_at=iso(ctx.clock.now()),
            started_by=ctx.who,
            reason=options.reason,
            gate_alarms=gate_names,
            updated_at=iso(ctx.clock.now()),
        )
        ctx.store.begin(record)
        record_change(
            ctx, plan.kind, "started", options.reason, current, current, record, candidate,
            detail=" | ".join(plan.describe()),
        )  # fmt: skip
    except BaseException:
        with contextlib.suppress(AwsCallError):
            ctx.lock.release()
        raise
    every = options.check_every_s or settings.period_s
    state["release"] = {
        "lease": asdict(lease),
        "index": 0,
        "count": len(plan.steps),
        "gate_alarms": gate_names,
        "check_every_s": max(MIN_WAIT_S, math.ceil(every)),
        "approve_at": options.approve_at,
        "approval_timeout_s": max(MIN_WAIT_S, math.ceil(options.approval_timeout_s)),
        "approved": False,
    }
    state["release"]["next"] = _after_step(plan, state["release"])
    return state


def advance(ctx: ReleaseContext, state: State) -> State:
    plan, release = plan_from_json(state["plan"]), state["release"]
    record = _resume(ctx, state, release)
    index = int(release["index"]) + 1
    step = plan.steps[index - 1]
    alias = _ours(ctx.alias.read(), plan)
    after = ctx.alias.update(alias, plan.routing_at(step))
    record.step_index, record.percent, record.updated_at = index, step.percent, iso(ctx.clock.now())
    ctx.store.save(record)
    record_change(
        ctx, f"{plan.kind} step {index}/{len(plan.steps)}", "ok", record.reason, alias.routing,
        after.routing, record, None, version=plan.candidate,
    )  # fmt: skip
    release.update(index=index, percent=step.percent, bake_s=step.bake_s)
    if step.bake_s > 0 or (plan.quality is not None and not step.is_full):
        release.update(
            next="bake",
            bake_started=ctx.clock.now().timestamp(),
            wait_s=_wait(step.bake_s, release["check_every_s"]),
        )
    else:
        release.update(wait_s=0)
        release["next"] = _after_step(plan, release)
    return state


def check(ctx: ReleaseContext, state: State) -> State:
    plan, release = plan_from_json(state["plan"]), state["release"]
    record = _resume_unless_stopped(ctx, state, release)
    if record is None:
        return state
    gates = ctx.gates.states(release["gate_alarms"])
    fired = [gate for gate in gates if gate.fired]
    if fired:
        details = "; ".join(f"{g.name} is {g.state}: {g.reason}" for g in fired)
        release.update(
            next="fired",
            reason=f"gate fired during step {release['index']}: {details}",
            gates=summarize(gates),
        )
        return state
    elapsed = ctx.clock.now().timestamp() - float(release["bake_started"])
    left = float(release["bake_s"]) - elapsed
    if left > 0:
        release.update(next="bake", wait_s=_wait(left, release["check_every_s"]), elapsed_s=elapsed)
    elif (
        plan.quality is not None
        and float(release["percent"]) < FULL
        and not quality_check(ctx, plan, record, release, waited_s=-left)
    ):
        pass  # the quality gate waits, rolls back or holds (release.next set)
    else:
        release.update(wait_s=0)
        release["next"] = _after_step(plan, release)
    return state


def finish(ctx: ReleaseContext, state: State) -> State:
    plan, release = plan_from_json(state["plan"]), state["release"]
    record = _resume(ctx, state, release)
    routing = ctx.alias.read().routing
    if plan.ends_with_promotion and not release.get("held"):
        ctx.store.finish(record.release_id, previous_primary=plan.base)
        ctx.gates.delete(record.gate_alarms)
        record_change(
            ctx, plan.kind, "completed", record.reason, routing, routing, record, None, version=plan.candidate
        )  # fmt: skip
        release["outcome"] = f"v{plan.candidate} is the primary; v{plan.base} is the rollback target"
    else:
        record.status = plan.kind
        ctx.store.save(record)
        release["outcome"] = release.get("held") or (
            f"v{plan.candidate} takes {routing.extra_percent:g}% of the traffic; the gates stay on. "
            "Next: `modelctl promote` or `modelctl rollback`"
        )
    ctx.lock.release()
    release["next"] = "done"
    return state


def roll_back(ctx: ReleaseContext, state: State) -> State:
    plan, release = plan_from_json(state["plan"]), state["release"]
    record = _resume(ctx, state, release)
    reason = str(release.get("reason") or "a gate fired")
    why = str(release.get("rollback_reason") or f"automatic: {reason}")
    alias = ctx.alias.read()
    base = Routing(plan.base)
    after = ctx.alias.update(alias, base) if not alias.routing.same_as(base) else alias
    ctx.store.finish(record.release_id, previous_primary=None)
    ctx.gates.delete(record.gate_alarms)
    record_change(
        ctx, f"{plan.kind} rollback", "rolled back", why, alias.routing, after.routing,
        record, None, version=plan.candidate, detail=str(release.get("gates") or ""),
    )  # fmt: skip
    ctx.lock.release()
    release.update(next="rolled back", outcome=f"v{plan.candidate} rolled back to v{plan.base}: {reason}")
    return state


def clean_up(ctx: ReleaseContext, state: State) -> State:
    """Whatever failed: if the release in the table is still this execution's (and nobody aborted
    it), the alias goes back to the base version and the release ends; the lock is released."""
    plan = plan_from_json(state["plan"])
    release = state.get("release") or {}
    error = state.get("error") or {}
    cause = f"{error.get('Error', 'failed')}: {error.get('Cause', '')}".strip(": ")
    record_state = ctx.store.state()
    record = record_state.release
    ours = record is not None and record.release_id == state["release_id"]
    if release.get("lease"):
        ctx.lock.lease = Lease(**release["lease"])
    if not ours or record_state.abort_requested_by:
        with contextlib.suppress(AwsCallError):
            ctx.lock.release()
        state["cleanup"] = "nothing to undo: the release had ended or was aborted"
        return state
    assert record is not None
    with contextlib.suppress(LockLostError):
        ctx.lock.renew()
    if ctx.lock.lease is None:  # no lease of ours (a timed-out execution): the release's, taken over
        ctx.lock.acquire(ctx.who, f"clean up {plan.kind} v{plan.candidate}", take_over=True)
    try:
        alias = ctx.alias.read()
        after = alias
        if _is_ours(alias.routing, plan) and not alias.routing.same_as(Routing(plan.base)):
            after = ctx.alias.update(alias, Routing(plan.base))
        ctx.store.finish(record.release_id, previous_primary=None)
        ctx.gates.delete(record.gate_alarms)
        record_change(
            ctx, f"{plan.kind} rollback", "rolled back", f"the release controller failed: {cause}",
            alias.routing, after.routing, record, None, version=plan.candidate,
        )  # fmt: skip
    finally:
        with contextlib.suppress(AwsCallError):
            ctx.lock.release()
    state["cleanup"] = f"rolled back to v{plan.base}"
    return state


def await_approval(ctx: ReleaseContext, state: State) -> State:
    """Store the task token for `modelctl approve|reject`; the execution waits for its answer. The
    lease is extended over the whole wait, so the release keeps the lock while nobody renews it."""
    plan, release = plan_from_json(state["plan"]), state["release"]
    record = _our_record(ctx, state)
    timeout_s = float(release["approval_timeout_s"])
    ctx.lock.lease_s = timeout_s + ctx.lock.lease_s
    _hold(ctx, release)
    now = ctx.clock.now()
    index = int(release["index"])
    approval = Approval(
        release_id=record.release_id,
        task_token=str(state.pop("task_token")),
        percent=float(release.get("percent") or 0),
        next_percent=plan.steps[index].percent,
        requested_at=iso(now),
        expires_at=iso(now + timedelta(seconds=timeout_s)),
    )
    _approvals(ctx).put(approval)
    routing = ctx.alias.read().routing
    record_change(
        ctx, f"{plan.kind} approval", "requested", record.reason, routing, routing, record, None,
        version=plan.candidate, detail=approval.describe(),
    )  # fmt: skip
    ctx.reporter.info(approval.describe())
    return state


def approved(ctx: ReleaseContext, state: State) -> State:
    """The person's approval: recorded, then the release goes on unless it was aborted meanwhile or
    a gate fired while it waited (then it rolls back as after a bake)."""
    plan, release = plan_from_json(state["plan"]), state["release"]
    decision = Decision.from_json(state.pop("approval", None))
    _approvals(ctx).delete(str(state["release_id"]))
    record = _resume_unless_stopped(ctx, state, release)
    if record is None:
        return state
    routing = ctx.alias.read().routing
    _record_decision(ctx, plan, record, routing, decision, "approved")
    release["approved"] = True
    fired = [gate for gate in ctx.gates.states(release["gate_alarms"]) if gate.fired]
    if fired:
        details = "; ".join(f"{g.name} is {g.state}: {g.reason}" for g in fired)
        release.update(next="fired", reason=f"gate fired while waiting for approval: {details}")
        return state
    release["next"] = _after_step(plan, release)
    return state


def decline(ctx: ReleaseContext, state: State) -> State:
    """Rejected by a person, or nobody decided in time: recorded, then rolled back."""
    plan, release = plan_from_json(state["plan"]), state["release"]
    error = state.pop("approval_error", None) or {}
    _approvals(ctx).delete(str(state["release_id"]))
    if error.get("Error") == REJECTED_ERROR:
        decision = Decision.from_json(error.get("Cause") or "{}")
        why = f"rejected by {decision.by}" + (f": {decision.reason}" if decision.reason else "")
        outcome = "rejected"
    else:
        decision = Decision(approved=False, by="nobody")
        why = f"no decision within {float(release['approval_timeout_s']):g} s: the approval timed out"
        outcome = "timed out"
    try:
        record = _our_record(ctx, state)
    except ReleaseAbortedError as stopped:
        release.update(next="aborted", reason=str(stopped))
        return state
    routing = ctx.alias.read().routing
    if outcome == "rejected":
        _record_decision(ctx, plan, record, routing, decision, outcome)
    release.update(reason=why, rollback_reason=why)
    state = roll_back(ctx, state)
    state["release"]["next"] = outcome
    return state


STEPS = {
    "begin": begin,
    "advance": advance,
    "check": check,
    "finish": finish,
    "roll_back": roll_back,
    "clean_up": clean_up,
    "await_approval": await_approval,
    "approved": approved,
    "decline": decline,
}


def run_step(ctx: ReleaseContext, step: str, state: State) -> State:
    try:
        function = STEPS[step]
    except KeyError:
        raise RefusedError(f"unknown release controller step {step!r} (one of {', '.join(STEPS)})") from None
    return function(ctx, state)


# -- helpers ------------------------------------------------------------------------------------------


def _our_record(ctx: ReleaseContext, state: State) -> ReleaseRecord:
    """The release record, if it is still this execution's and not aborted (else ReleaseAbortedError)."""
    current = ctx.store.state()
    record = current.release
    if record is None or record.release_id != state["release_id"]:
        raise ReleaseAbortedError(f"release {state['release_id']} is no longer in progress (ended elsewhere)")
    if current.abort_requested_by:
        raise ReleaseAbortedError(f"release {record.release_id} was aborted by {current.abort_requested_by}")
    return record


def _resume(ctx: ReleaseContext, state: State, release: dict[str, Any]) -> ReleaseRecord:
    """`_our_record`, then `_hold`: the step goes on with this execution's record and lease."""
    record = _our_record(ctx, state)
    _hold(ctx, release)
    return record


def _resume_unless_stopped(
    ctx: ReleaseContext, state: State, release: dict[str, Any]
) -> ReleaseRecord | None:
    """`_resume`, or None with the release marked `aborted` when it was aborted, ended elsewhere or
    its lock taken over."""
    try:
        return _resume(ctx, state, release)
    except (ReleaseAbortedError, LockLostError) as stopped:
        release.update(next="aborted", reason=str(stopped))
        return None


def _hold(ctx: ReleaseContext, release: dict[str, Any]) -> None:
    """Renew this execution's lease (LockLostError if it was taken over) and keep it in the state."""
    ctx.lock.lease = Lease(**release["lease"])
    ctx.lock.renew()
    assert ctx.lock.lease is not None
    release["lease"] = asdict(ctx.lock.lease)


def _is_ours(routing: Routing, plan: Plan) -> bool:
    return routing.primary in (plan.base, plan.candidate) and routing.extra in (None, plan.candidate)


def _ours(alias: AliasState, plan: Plan) -> AliasState:
    if not _is_ours(alias.routing, plan):
        raise ConcurrentUpdateError(
            f"the alias is {alias.routing.describe()}, not a state of the {plan.kind} of v{plan.candidate}"
        )
    return alias


def _after_step(plan: Plan, release: dict[str, Any]) -> str:
    """After a step (and its bake): approve (a person first), step, or finish."""
    if int(release["index"]) >= len(plan.steps):
        return "finish"
    return "approve" if needs_approval(plan, release) else "step"


def _approvals(ctx: ReleaseContext) -> ApprovalStore:
    target = ctx.target
    return ApprovalStore(ctx.clients.dynamodb, target.release_table, target.function_name, target.alias_name)


def _record_decision(
    ctx: ReleaseContext, plan: Plan, record: ReleaseRecord, routing: Routing, decision: Decision, outcome: str
) -> None:
    ctx.store.append(
        HistoryEntry(
            at=iso(ctx.clock.now()),
            who=decision.by,
            action=f"{plan.kind} approval",
            outcome=outcome,
            reason=decision.reason,
            before=routing,
            after=routing,
            version=plan.candidate,
            release_id=record.release_id,
        )
    )


def _wait(left_s: float, every_s: float) -> int:
    """Seconds to the next gate check: every `every_s`, the last at the bake's end."""
    return max(MIN_WAIT_S, math.ceil(min(left_s, every_s)))
