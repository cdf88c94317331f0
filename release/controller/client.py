"""Starting, following and stopping the controller's executions (the CLI's side; no Typer, no Rich).

The controller's state machine is found in the release stack's outputs (`ReleaseControllerArn`;
the stack is `<project>-Release` beside `<project>-Serving`, or MODELCTL_RELEASE_STACK), or given
directly in MODELCTL_RELEASE_CONTROLLER.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from release.alias import Routing, check_candidate
from release.aws import aws_errors, error_code
from release.context import ReleaseContext
from release.controller.approval import ApprovalStore
from release.controller.execution import ControllerOptions, continues, execution_input, execution_name
from release.errors import GateFiredError, RefusedError, ReleaseAbortedError, ReleaseError
from release.outcome import Outcome
from release.plan import Plan
from release.store import ReleaseRecord
from release.target import OutputsSource

CONTROLLER_ENV = "MODELCTL_RELEASE_CONTROLLER"
STACK_ENV = "MODELCTL_RELEASE_STACK"
OUTPUT = "ReleaseControllerArn"


class ControllerMissingError(RefusedError):
    """The release controller is not deployed (or cannot be found)."""


def release_stack_name(serving_stack: str, env: Mapping[str, str]) -> str:
    return env.get(STACK_ENV) or serving_stack.removesuffix("-Serving") + "-Release"


def controller_arn(serving_stack: str, env: Mapping[str, str], source: Callable[[], OutputsSource]) -> str:
    if env.get(CONTROLLER_ENV):
        return env[CONTROLLER_ENV]
    stack = release_stack_name(serving_stack, env)
    try:
        arn = source().outputs(stack).get(OUTPUT)
    except ReleaseError as exc:
        raise ControllerMissingError(
            f"the release controller is not deployed ({exc}): deploy the release stack, set "
            f"{CONTROLLER_ENV}, or pass --in-process to run the release in this terminal"
        ) from exc
    if not arn:
        raise ControllerMissingError(
            f"the release controller is not deployed: stack {stack} has no output {OUTPUT}. Deploy it, "
            "or pass --in-process to run the release in this terminal"
        )
    return arn


def execution_arn(state_machine_arn: str, release_id: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{execution_name(release_id)}"


@dataclass(frozen=True)
class Started:
    release_id: str
    execution_arn: str


def start(
    ctx: ReleaseContext,
    sfn: Any,
    state_machine_arn: str,
    make_plan: Callable[[str], Plan],
    options: ControllerOptions,
) -> Started:
    """Refuse what the controller would refuse (a release in progress, the lock held, an unfit
    version) before starting it, then start one execution named after the new release id."""
    alias = ctx.alias.read()
    record = ctx.store.state().release
    holder = ctx.lock.holder()
    plan = make_plan(alias.routing.primary)
    taking_over = holder is None and continues(record, plan, alias.routing)
    if record is not None and not taking_over:
        raise RefusedError(
            f"a {record.kind} of v{record.candidate} is in progress ({alias.routing.describe()}), started "
            f"by {record.started_by} at {record.started_at}: follow it with `modelctl status`, or "
            "promote, rollback or abort it first"
        )
    if holder is not None:
        raise RefusedError(
            f"another release command is running on this alias: {holder.describe()}. Wait for it, or "
            "stop it with `modelctl abort`"
        )
    if alias.routing.extra is not None and not taking_over:
        raise RefusedError(
            f"the alias already sends {alias.routing.extra_percent:g}% to v{alias.routing.extra}: "
            "`modelctl promote` or `modelctl rollback` first"
        )
    check_candidate(plan.candidate, Routing(plan.base), ctx.catalog)
    release_id = ReleaseRecord.new_id()
    document = execution_input(release_id, ctx.who, plan, options)
    with aws_errors("starting the release controller"):
        response = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=execution_name(release_id), input=json.dumps(document)
        )
    return Started(release_id, str(response["executionArn"]))


def follow(ctx: ReleaseContext, sfn: Any, started: Started, poll_s: float) -> Outcome:
    """Show the release as the controller runs it (each step, and during a bake the same progress
    and gate states as an in-process release) until the execution ends; its outcome, or the
    release error its failure stands for (GateFiredError, ReleaseAbortedError)."""
    seen: tuple[int, float] | None = None
    step_seen_at = ctx.clock.monotonic()
    target = ctx.target
    approvals = ApprovalStore(
        ctx.clients.dynamodb, target.release_table, target.function_name, target.alias_name
    )
    asked = False
    try:
        while True:
            with aws_errors("following the release controller"):
                execution = sfn.describe_execution(executionArn=started.execution_arn)
            status = execution["status"]
            record = ctx.store.state().release
            if record is not None and record.release_id == started.release_id and record.step_index:
                now = (record.step_index, record.percent)
                if now != seen:
                    if seen is not None:
                        ctx.reporter.bake_done()
                    seen, step_seen_at = now, ctx.clock.monotonic()
                    ctx.reporter.info(
                        f"step {record.step_index}/{len(record.steps)}: "
                        f"v{record.candidate} at {record.percent:g}%"
                    )
                bake_s = float(record.steps[record.step_index - 1].get("bake_s", 0))
                approval = approvals.get() if status == "RUNNING" else None
                if approval is not None and approval.release_id == started.release_id:
                    if not asked:
                        ctx.reporter.bake_done()
                        ctx.reporter.info(f"{approval.describe()}: `modelctl approve` or `modelctl reject`")
                    asked = True
                elif status == "RUNNING" and bake_s > 0:
                    ctx.reporter.bake(
                        step=record.step_index,
                        steps=len(record.steps),
                        routing=ctx.alias.read().routing,
                        elapsed_s=min(bake_s, ctx.clock.monotonic() - step_seen_at),
                        bake_s=bake_s,
                        gates=ctx.gates.states(record.gate_alarms),
                    )
            if status != "RUNNING":
                break
            ctx.clock.sleep(poll_s)
    finally:
        ctx.reporter.bake_done()
    return _ended(ctx, execution)


def _ended(ctx: ReleaseContext, execution: Mapping[str, Any]) -> Outcome:
    status = execution["status"]
    routing = ctx.alias.read().routing
    if status == "SUCCEEDED":
        output = json.loads(execution.get("output") or "{}")
        message = str((output.get("release") or {}).get("outcome") or "the release completed")
        return Outcome(message, routing)
    error, cause = str(execution.get("error") or status), str(execution.get("cause") or "")
    last = ctx.store.history(1)
    detail = f"{last[0].action}: {last[0].reason}" if last else cause
    if error == "GateFiredError":
        raise GateFiredError(
            f"rolled back by the release controller ({detail}); the alias is {routing.describe()}"
        )
    if error == "ReleaseNotApprovedError":
        raise ReleaseAbortedError(
            f"the release was not approved ({detail}); the alias is {routing.describe()}"
        )
    if error == "ReleaseAbortedError" or status == "ABORTED":
        raise ReleaseAbortedError(f"the release was aborted ({detail}); the alias is {routing.describe()}")
    raise ReleaseError(
        f"the release controller ended {status} ({error}: {detail}); the alias is {routing.describe()}"
    )


def stop(sfn: Any, state_machine_arn: str, release_id: str, cause: str) -> bool:
    """Stop the release's execution; False if it had already ended (or never ran in the controller)."""
    try:
        sfn.stop_execution(executionArn=execution_arn(state_machine_arn, release_id), cause=cause[:32000])
    except ClientError as exc:
        if error_code(exc) in ("ExecutionDoesNotExist", "ValidationException"):
            return False
        raise
    return True
