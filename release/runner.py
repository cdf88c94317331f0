"""Releases, step by step: refuse what is unsafe, check before traffic, move weights, bake behind
the gates, roll back on the first sign of trouble, and record every change.

Every alias change is one UpdateAlias carrying the RevisionId of the state it was decided on
(`AliasManager.update`). Every command that changes the alias holds the release lock while it
runs; `abort` is the one command that takes the lock over from a running release.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NoReturn

from release.alias import AliasState, Routing, VersionInfo, check_candidate, check_version_syntax
from release.clock import format_duration, iso
from release.compare import CompareSettings, compare
from release.context import ReleaseContext
from release.errors import (
    ConcurrentUpdateError,
    GateFiredError,
    OperatorInterruptError,
    RefusedError,
    ReleaseAbortedError,
)
from release.finish import abort, promote
from release.gates import NAMESPACE_ENV, SERVICE_ENV, GateSettings, GateState, summarize
from release.outcome import Outcome as Outcome
from release.outcome import ReleaseOptions as ReleaseOptions
from release.plan import Plan, Step, remaining_steps
from release.pretraffic import check_before_traffic
from release.record import record_change
from release.rollback import roll_back
from release.store import AliasRecord, ReleaseRecord


class _GateFailedError(Exception):
    def __init__(self, reason: str, gates: list[GateState]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.gates = gates


class Releaser:
    def __init__(self, ctx: ReleaseContext) -> None:
        self.ctx = ctx

    # -- canary, shift, bluegreen ----------------------------------------------------------------------

    def release(self, version: str, make_plan: Callable[[str], Plan], options: ReleaseOptions) -> Outcome:
        ctx = self.ctx
        check_version_syntax(version)
        state = ctx.alias.read()
        record = ctx.store.state()
        current = state.routing
        existing = self._resumable(version, current, record)
        base = existing.base if existing else current.primary
        candidate = check_candidate(version, current, ctx.catalog)
        plan = make_plan(base)
        if existing is not None:
            plan = remaining_steps(plan, current.percent_of(version))
            if not plan.steps:
                raise RefusedError(f"v{version} already has {current.percent_of(version):g}%: nothing to do")
            fired = [gate for gate in ctx.gates.states(existing.gate_alarms) if gate.fired]
            if fired:  # re-creating the alarms would reset them and hide the firing
                raise RefusedError(
                    f"a gate of v{version} fired ({summarize(fired)}): `modelctl rollback` (or abort), "
                    "not more traffic"
                )
        settings = ctx.fleet_gate_settings().with_overrides(**options.gate_overrides)
        self._warn_short_bakes(plan, settings)
        if options.dry_run:
            return self._dry_run_release(plan, candidate, settings, current, options)
        with ctx.lock.held(ctx.who, f"{plan.kind} v{version}"):
            fresh = ctx.alias.read()
            if not fresh.routing.same_as(current):
                raise ConcurrentUpdateError(
                    f"the alias changed while this command started ({current.describe()} -> "
                    f"{fresh.routing.describe()}): check `modelctl status` and try again"
                )
            state = fresh
            check_before_traffic(
                self.ctx,
                plan,
                candidate,
                state.routing,
                enabled=options.pre_traffic,
                reason=options.reason,
                skipped_note=" (--skip-pre-traffic-check)",
            )
            gate_names: list[str] = []
            if plan.total_bake_s > 0 or not plan.ends_with_promotion:  # someone will watch them
                gate_names = ctx.gates.create(candidate, settings)
                ctx.reporter.info(
                    f"gates on v{version}: {', '.join(gate_names)} "
                    f"(breach for {format_duration(settings.window_s)} fires)"
                )
            release = existing or ReleaseRecord(
                release_id=ReleaseRecord.new_id(),
                kind=plan.kind,
                candidate=version,
                base=base,
                steps=[],
                started_at=iso(ctx.clock.now()),
                started_by=ctx.who,
                reason=options.reason,
            )
            release.kind = plan.kind
            release.steps = [{"percent": s.percent, "bake_s": s.bake_s} for s in plan.steps]
            release.gate_alarms = gate_names
            release.status = "running"
            release.updated_at = iso(ctx.clock.now())
            ctx.store.begin(release)
            record_change(
                self.ctx,
                plan.kind,
                "started",
                options.reason,
                state.routing,
                state.routing,
                release,
                candidate,
                detail=" | ".join(plan.describe()),
            )
            return self._run(plan, release, state, candidate, options)

    def _resumable(self, version: str, current: Routing, record: AliasRecord) -> ReleaseRecord | None:
        release = record.release
        if release is not None:
            if release.candidate != version:
                raise RefusedError(
                    f"a {release.kind} of v{release.candidate} is in progress ({current.describe()}), "
                    f"started by {release.started_by} at {release.started_at}: promote, rollback or abort it "
                    "first"
                )
            if current.primary != release.base:
                raise RefusedError(
                    f"v{version} already took over as primary in the {release.kind} in progress: "
                    "`modelctl promote` finishes it, `modelctl rollback` returns to "
                    f"v{release.base}"
                )
            return release
        if current.extra is not None:
            raise RefusedError(
                f"the alias already sends {current.extra_percent:g}% to v{current.extra} outside a modelctl "
                "release: `modelctl promote` makes it primary, `modelctl rollback` removes it"
            )
        return None

    def _warn_short_bakes(self, plan: Plan, settings: GateSettings) -> None:
        short = [s for s in plan.steps if 0 < s.bake_s < settings.window_s]
        if short:
            self.ctx.reporter.warn(
                f"a bake of {format_duration(short[0].bake_s)} is shorter than the gates' window "
                f"({settings.evaluation_periods} x {settings.period_s}s): a gate may fire only after "
                "the release moved on"
            )

    def _dry_run_release(
        self,
        plan: Plan,
        candidate: VersionInfo,
        settings: GateSettings,
        current: Routing,
        options: ReleaseOptions,
    ) -> Outcome:
        reporter = self.ctx.reporter
        reporter.info(f"dry run: nothing will change. The alias is {current.describe()}.")
        for line in plan.describe():
            reporter.info(line)
        if options.pre_traffic:
            reporter.info(
                f"before any weight moves: invoke v{candidate.version} directly (pre-traffic check)"
            )
        else:
            reporter.warn("the pre-traffic check would be skipped (--skip-pre-traffic-check)")
        for spec in self.ctx.gates.definitions(candidate, settings).values():
            reporter.info(
                f"gate {spec['AlarmName']}: {spec['MetricName']} "
                f"{spec.get('ExtendedStatistic') or spec['Statistic']} "
                f">= {spec['Threshold']:g} for {settings.evaluation_periods} x {settings.period_s}s"
            )
        if options.compare is not None:
            reporter.info(
                f"after each bake: v{candidate.version} must be no worse than v{plan.base} "
                f"(+{options.compare.error_margin_pp:g} pp errors, +{options.compare.latency_margin_pct:g}% "
                "mean duration)"
            )
        return Outcome("dry run: nothing changed", current, changed=False)

    def _run(
        self,
        plan: Plan,
        release: ReleaseRecord,
        state: AliasState,
        candidate: VersionInfo,
        options: ReleaseOptions,
    ) -> Outcome:
        ctx = self.ctx
        total = len(plan.steps)
        try:
            for index, step in enumerate(plan.steps, start=1):
                ctx.store.save(release)  # also: stop here if someone aborted the release
                before = state.routing
                state = ctx.alias.update(state, plan.routing_at(step))
                release.step_index, release.percent, release.updated_at = (
                    index,
                    step.percent,
                    iso(ctx.clock.now()),
                )
                ctx.store.save(release)
                record_change(
                    self.ctx,
                    f"{plan.kind} step {index}/{total}",
                    "ok",
                    options.reason,
                    before,
                    state.routing,
                    release,
                    candidate,
                )
                ctx.reporter.info(f"step {index}/{total}: {state.routing.describe()}")
                if step.bake_s > 0:
                    self._bake(plan, release, index, step, state, options)
                if plan.quality is not None and not step.is_full:
                    held = self._quality(plan, release, index, state, candidate)
                    if held is not None:
                        return held
        except _GateFailedError as failure:
            return self._roll_back_release(plan, release, state, candidate, options, failure)
        except KeyboardInterrupt:
            return self._interrupted(plan, release, state, candidate, options)
        if plan.ends_with_promotion:
            ctx.store.finish(release.release_id, previous_primary=plan.base)
            ctx.gates.delete(release.gate_alarms)
            record_change(
                self.ctx,
                plan.kind,
                "completed",
                options.reason,
                state.routing,
                state.routing,
                release,
                candidate,
            )
            return Outcome(
                f"v{plan.candidate} is the primary; v{plan.base} is the rollback target", state.routing
            )
        release.status = plan.kind
        ctx.store.save(release)
        return Outcome(
            f"v{plan.candidate} takes {state.routing.extra_percent:g}% of the traffic; the gates stay on. "
            "Next: `modelctl promote` or `modelctl rollback`",
            state.routing,
        )

    def _bake(
        self,
        plan: Plan,
        release: ReleaseRecord,
        index: int,
        step: Step,
        state: AliasState,
        options: ReleaseOptions,
    ) -> None:
        ctx = self.ctx
        started_mono, started_at = ctx.clock.monotonic(), ctx.clock.now()
        try:
            while True:
                self._check_active(release)
                ctx.lock.renew()
                gates = ctx.gates.states(release.gate_alarms)
                elapsed = ctx.clock.monotonic() - started_mono
                ctx.reporter.bake(
                    step=index,
                    steps=len(plan.steps),
                    routing=state.routing,
                    elapsed_s=min(elapsed, step.bake_s),
                    bake_s=step.bake_s,
                    gates=gates,
                )
                fired = [gate for gate in gates if gate.fired]
                if fired:
                    details = "; ".join(f"{g.name} is {g.state}: {g.reason}" for g in fired)
                    raise _GateFailedError(f"gate fired during step {index}: {details}", gates)
                if elapsed >= step.bake_s:
                    break
                ctx.clock.sleep(min(ctx.poll_s, step.bake_s - elapsed))
        finally:
            ctx.reporter.bake_done()
        if options.compare is not None and not step.is_full:
            self._compare(plan, started_at, options.compare, gates)

    def _compare(
        self, plan: Plan, started_at: datetime, settings: CompareSettings, gates: list[GateState]
    ) -> None:
        ctx = self.ctx
        candidate = ctx.catalog.describe(plan.candidate)
        namespace, service = candidate.environment.get(NAMESPACE_ENV), candidate.environment.get(SERVICE_ENV)
        end = ctx.clock.now()
        new = ctx.metrics.stats(
            plan.candidate, namespace=namespace, service=service, start=started_at, end=end
        )
        old = ctx.metrics.stats(plan.base, namespace=namespace, service=service, start=started_at, end=end)
        verdict = compare(new, old, settings)
        if not verdict.ok:
            raise _GateFailedError(f"metric comparison: {verdict.reason}", gates)
        ctx.reporter.info(f"metric comparison: {verdict.reason}")

    def _quality(
        self, plan: Plan, release: ReleaseRecord, index: int, state: AliasState, candidate: VersionInfo
    ) -> Outcome | None:
        """The quality gate after a step (release/quality_step.py): None to go on, the outcome of a
        release held at its weight, or _GateFailedError to roll back."""
        from release.gates import QUALITY_HOLD, QUALITY_ROLLBACK
        from release.quality_step import wait_for_quality

        check = wait_for_quality(self.ctx, plan, release, index, state, candidate, self._check_active)
        if check.action == QUALITY_ROLLBACK:
            raise _GateFailedError(check.reason, self.ctx.gates.states(release.gate_alarms))
        if check.action != QUALITY_HOLD:
            return None
        release.status = plan.kind
        self.ctx.store.save(release)
        return Outcome(check.reason, state.routing)

    def _check_active(self, release: ReleaseRecord) -> None:
        record = self.ctx.store.state()
        if record.release is not None and record.release.release_id == release.release_id:
            if not record.abort_requested_by:
                return
            by = f"aborted by {record.abort_requested_by}"
        else:
            last = self.ctx.store.history(1)
            ended = last[0] if last and last[0].release_id == release.release_id else None
            by = f"ended by `{ended.action}` from {ended.who}" if ended else "ended elsewhere"
        raise ReleaseAbortedError(
            f"release {release.release_id} was {by}: this command stops without touching the alias"
        )

    def _roll_back_release(
        self,
        plan: Plan,
        release: ReleaseRecord,
        state: AliasState,
        candidate: VersionInfo,
        options: ReleaseOptions,
        failure: _GateFailedError,
    ) -> NoReturn:
        ctx = self.ctx
        target = Routing(plan.base)
        rolled = ctx.alias.update(state, target)
        ctx.reporter.warn(f"{failure.reason}")
        ctx.reporter.warn(f"rolled back: {rolled.routing.describe()}")
        ctx.store.finish(release.release_id, previous_primary=None)
        ctx.gates.delete(release.gate_alarms)
        record_change(
            self.ctx,
            f"{plan.kind} rollback",
            "rolled back",
            f"automatic: {failure.reason}",
            state.routing,
            rolled.routing,
            release,
            candidate,
            detail=summarize(failure.gates),
        )
        raise GateFiredError(f"v{plan.candidate} rolled back to v{plan.base}: {failure.reason}")

    def _interrupted(
        self,
        plan: Plan,
        release: ReleaseRecord,
        state: AliasState,
        candidate: VersionInfo,
        options: ReleaseOptions,
    ) -> NoReturn:
        ctx = self.ctx
        # Ctrl-C may have landed between our UpdateAlias and its answer: go by what the alias says now,
        # as long as it is one of this release's states.
        fresh = ctx.alias.read()
        ours = {None, plan.candidate}
        if fresh.routing.primary in (plan.base, plan.candidate) and fresh.routing.extra in ours:
            state = fresh
        question = f"OperatorInterruptError at {state.routing.describe()}. Roll back to v{plan.base}?"
        try:
            roll_back = ctx.prompt.confirm(question)
        except (KeyboardInterrupt, EOFError):
            roll_back = True  # a second Ctrl-C (or no terminal): the safe answer
        if roll_back:
            rolled = (
                ctx.alias.update(state, Routing(plan.base))
                if not state.routing.same_as(Routing(plan.base))
                else state
            )
            ctx.store.finish(release.release_id, previous_primary=None)
            ctx.gates.delete(release.gate_alarms)
            record_change(
                self.ctx,
                f"{plan.kind} rollback",
                "rolled back",
                "interrupted by the operator (Ctrl-C)",
                state.routing,
                rolled.routing,
                release,
                candidate,
            )
            raise OperatorInterruptError(f"interrupted: rolled back to {rolled.routing.describe()}")
        release.status = "paused"
        ctx.store.save(release)
        record_change(
            self.ctx,
            plan.kind,
            "paused",
            "interrupted by the operator (Ctrl-C)",
            state.routing,
            state.routing,
            release,
            candidate,
        )
        raise OperatorInterruptError(
            f"interrupted: left at {state.routing.describe()} with the gates on; run the same command to "
            "continue, or `modelctl promote` / `modelctl rollback`"
        )

    # -- promote, rollback, abort (release/finish.py, release/rollback.py) ----------------------------

    def promote(self, options: ReleaseOptions, *, force: bool = False) -> Outcome:
        """Make the release's new version the primary (release/finish.py)."""
        return promote(self.ctx, options, force=force)

    def rollback(self, options: ReleaseOptions, *, to: str | None = None) -> Outcome:
        """Back to the last good primary: one alias update (release/rollback.py)."""
        return roll_back(self.ctx, options, to=to)

    def abort(self, options: ReleaseOptions) -> Outcome:
        """Stop the release in progress and roll it back (release/finish.py)."""
        return abort(self.ctx, options)
