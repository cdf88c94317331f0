"""`modelctl canary|shift|bluegreen|promote|abort`: move traffic to a published version step by step,
gated, and finish or stop the release; `register` adds every release command to the CLI.

Thin: parse options, ask the factory (ctx.obj, or the default one) for collaborators, call the
release domain (release/), print. Every refusal and AWS error is a ReleaseError: one line and a
non-zero exit (modelctl/cli.py).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, get_type_hints

import typer

from modelctl.commands.approval import approve, reject
from modelctl.commands.common import (
    AliasOpt,
    DryRunOpt,
    FunctionOpt,
    ReasonOpt,
    StackOpt,
    cli_factory,
    release_context,
)
from modelctl.commands.deploy_check import deploy_check
from modelctl.commands.publish import publish
from modelctl.commands.quality_options import QUALITY_RUN_OPTIONS, quality_log_bucket, quality_spec
from modelctl.commands.rollback import rollback
from modelctl.commands.status import history, status
from modelctl.render.console import make_console
from modelctl.render.console import print_outcome as _done
from release.aws import aws_errors
from release.clock import parse_duration
from release.compare import CompareSettings
from release.errors import RefusedError
from release.outcome import Outcome
from release.plan import (
    Plan,
    bluegreen_plan,
    canary_plan,
    linear_plan,
    parse_percents,
    shift_plan,
    with_quality,
)
from release.runner import ReleaseOptions, Releaser

DEFAULT_POLL_S = 15.0
BakeOpt = Annotated[str, typer.Option("--bake", help="how long to watch the gates after moving, e.g. 5m")]
SkipCheckOpt = Annotated[
    bool,
    typer.Option("--skip-pre-traffic-check", help="do not invoke the new version before moving traffic"),
]
PollOpt = Annotated[float, typer.Option("--poll", min=0.1, help="seconds between gate checks while baking")]
GateErrorsOpt = Annotated[float | None, typer.Option("--gate-errors", help="errors per period that fire")]
GateP99Opt = Annotated[float | None, typer.Option("--gate-p99-ms", help="p99 duration (ms) that fires")]
GateInternalOpt = Annotated[
    float | None, typer.Option("--gate-internal-errors", help="model errors (HTTP 500) per period that fire")
]
GatePeriodOpt = Annotated[
    int | None, typer.Option("--gate-period", help="gate period in seconds (10, 30, 60n)")
]
GatePeriodsOpt = Annotated[
    int | None, typer.Option("--gate-evaluation-periods", min=1, help="breaching periods before a gate fires")
]
CompareOpt = Annotated[
    bool, typer.Option("--compare", help="after each bake, advance only if no worse than the primary")
]
ErrorMarginOpt = Annotated[
    float, typer.Option("--error-margin", help="--compare: allowed extra error rate, percentage points")
]
LatencyMarginOpt = Annotated[
    float, typer.Option("--latency-margin", help="--compare: allowed extra mean duration, percent")
]


ControllerOpt = Annotated[
    bool | None,
    typer.Option(
        "--controller/--in-process",
        help="run the release in the release controller (the default: Step Functions, it goes on if "
        "this terminal closes; Ctrl-C detaches) or in this process (the default with --compare)",
        show_default=False,
    ),
]
ApproveAtOpt = Annotated[
    float | None,
    typer.Option(
        "--approve-at",
        help="controller: wait for `modelctl approve` before going past this percent of the traffic",
    ),
]
ApprovalTimeoutOpt = Annotated[
    str,
    typer.Option("--approval-timeout", help="with --approve-at: roll back if nobody decides in time (1h)"),
]


# canary, shift and bluegreen: these options, declared once (_release_command adds them).
_RUN_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("dry_run", DryRunOpt, False),
    ("reason", ReasonOpt, ""),
    ("skip_pre_traffic_check", SkipCheckOpt, False),
    ("poll", PollOpt, DEFAULT_POLL_S),
    ("gate_errors", GateErrorsOpt, None),
    ("gate_p99_ms", GateP99Opt, None),
    ("gate_internal_errors", GateInternalOpt, None),
    ("gate_period", GatePeriodOpt, None),
    ("gate_evaluation_periods", GatePeriodsOpt, None),
    ("controller", ControllerOpt, None),
    ("approve_at", ApproveAtOpt, None),
    ("approval_timeout", ApprovalTimeoutOpt, "1h"),
    *QUALITY_RUN_OPTIONS,
)
_TARGET_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("function", FunctionOpt, None),
    ("alias", AliasOpt, None),
    ("stack", StackOpt, None),
)


@dataclass(frozen=True)
class ReleaseFlags:
    """The values of _RUN_OPTIONS and _TARGET_OPTIONS, one field each."""

    dry_run: bool
    reason: str
    skip_pre_traffic_check: bool
    poll: float
    gate_errors: float | None
    gate_p99_ms: float | None
    gate_internal_errors: float | None
    gate_period: int | None
    gate_evaluation_periods: int | None
    controller: bool | None
    approve_at: float | None
    approval_timeout: str
    quality_gate: str
    quality_margin: float | None
    quality_min_labels: int | None
    quality_max_wait: str
    business_metric: str
    function: str | None
    alias: str | None
    stack: str | None

    def options(self, compare: CompareSettings | None = None) -> ReleaseOptions:
        gate_period = self.gate_period
        if gate_period is not None and not (
            gate_period in (10, 30) or (gate_period >= 60 and gate_period % 60 == 0)
        ):
            raise RefusedError(
                f"--gate-period {gate_period}: CloudWatch takes 10, 30 or a multiple of 60 seconds"
            )
        return ReleaseOptions(
            reason=self.reason,
            dry_run=self.dry_run,
            pre_traffic=not self.skip_pre_traffic_check,
            gate_overrides={
                "errors_threshold": self.gate_errors,
                "p99_ms": self.gate_p99_ms,
                "internal_errors_threshold": self.gate_internal_errors,
                "period_s": gate_period,
                "evaluation_periods": self.gate_evaluation_periods,
            },
            compare=compare,
        )


def _release_command(command: Callable[..., None]) -> Callable[..., None]:
    """`command(ctx, version, <own options>, flags: ReleaseFlags, <own later options>)` as a Typer
    command: its signature lists its own options, then _RUN_OPTIONS, then its later options, then
    _TARGET_OPTIONS (the order `--help` shows), and the shared values reach it as `flags`."""
    hints = get_type_hints(command, include_extras=True)
    plain = inspect.Parameter.POSITIONAL_OR_KEYWORD
    own = [
        parameter.replace(kind=plain, annotation=hints[parameter.name])
        for parameter in inspect.signature(command).parameters.values()
    ]
    at = [parameter.name for parameter in own].index("flags")

    def shared(options: tuple[tuple[str, Any, Any], ...]) -> list[inspect.Parameter]:
        return [
            inspect.Parameter(name, plain, default=default, annotation=annotation)
            for name, annotation, default in options
        ]

    parameters = [*own[:at], *shared(_RUN_OPTIONS), *own[at + 1 :], *shared(_TARGET_OPTIONS)]
    names = [name for name, _, _ in (*_RUN_OPTIONS, *_TARGET_OPTIONS)]

    @functools.wraps(command)
    def typer_command(**values: Any) -> None:
        flags = ReleaseFlags(**{name: values.pop(name) for name in names})
        command(**values, flags=flags)

    typer_command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    typer_command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return typer_command


def _seconds(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise RefusedError(f"{option}: {exc}") from exc


def _release(
    ctx: typer.Context,
    version: str,
    make_plan: Callable[[str], Plan],
    flags: ReleaseFlags,
    compare: CompareSettings | None = None,
) -> None:
    options = flags.options(compare)
    console = make_console()
    make_plan = _with_quality(ctx, make_plan, flags)
    in_controller = flags.controller if flags.controller is not None else compare is None
    if in_controller and compare is not None:
        raise RefusedError("--compare runs in this process only: pass --in-process with it")
    if not in_controller and flags.approve_at is not None:
        raise RefusedError("--approve-at runs in the release controller only: leave out --in-process")
    if in_controller and not options.dry_run:
        _done(console, _release_in_controller(ctx, make_plan, flags, options, console))
        return
    with aws_errors("release"):
        release_ctx = release_context(
            ctx, flags.function, flags.alias, flags.stack, console=console, poll_s=flags.poll
        )
        outcome = Releaser(release_ctx).release(version, make_plan, options)
    _done(console, outcome)


def _with_quality(
    ctx: typer.Context, make_plan: Callable[[str], Plan], flags: ReleaseFlags
) -> Callable[[str], Plan]:
    """The plan with the quality gate of --quality-gate (modelctl/commands/quality_options.py)."""
    if not flags.quality_gate and flags.quality_margin is None and flags.quality_min_labels is None:
        return make_plan
    spec = quality_spec(
        metric=flags.quality_gate, margin=flags.quality_margin, min_labels=flags.quality_min_labels,
        max_wait_s=_seconds(flags.quality_max_wait, "--quality-max-wait"),
        business_metric=flags.business_metric, log_bucket=quality_log_bucket(cli_factory(ctx)),
    )  # fmt: skip
    return lambda base: with_quality(make_plan(base), spec)


def _release_in_controller(
    ctx: typer.Context,
    make_plan: Callable[[str], Plan],
    flags: ReleaseFlags,
    options: ReleaseOptions,
    console: Any,
) -> Outcome:
    """Start the release controller with the plan, then follow it until it ends; Ctrl-C detaches."""
    from release.controller import client
    from release.controller.execution import ControllerOptions

    with aws_errors("release"):
        release_ctx = release_context(ctx, flags.function, flags.alias, flags.stack, console=console)
        factory = cli_factory(ctx)
        arn = client.controller_arn(release_ctx.target.stack_name, factory.env, factory.outputs)
        sfn = factory.clients.client("stepfunctions")
        controller_options = ControllerOptions(
            reason=options.reason,
            pre_traffic=options.pre_traffic,
            gate_overrides=options.gate_overrides,
            check_every_s=flags.poll if flags.poll != DEFAULT_POLL_S else None,
            approve_at=flags.approve_at,
            approval_timeout_s=_seconds(flags.approval_timeout, "--approval-timeout"),
        )
        started = client.start(release_ctx, sfn, arn, make_plan, controller_options)
        console.print(f"release {started.release_id} runs in the release controller: {started.execution_arn}")
        try:
            return client.follow(release_ctx, sfn, started, min(flags.poll, DEFAULT_POLL_S))
        except KeyboardInterrupt:
            console.print(
                f"detached: release {started.release_id} goes on in the release controller. "
                "Follow it with `modelctl status`; stop it and roll back with `modelctl abort` (or "
                "`modelctl rollback`)"
            )
            raise typer.Exit(0) from None


@_release_command
def canary(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="published version to send traffic to")],
    weight: Annotated[float, typer.Option("--weight", help="percent of the traffic, in (0, 100)")] = 10.0,
    bake: BakeOpt = "0s",
    *,
    flags: ReleaseFlags,
) -> None:
    """Send WEIGHT% of the traffic to VERSION (after a pre-traffic check); gates watch it."""
    bake_s = _seconds(bake, "--bake")
    _release(ctx, version, lambda base: canary_plan(version, base, weight, bake_s), flags)


@_release_command
def shift(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="published version to move the traffic to")],
    steps: Annotated[str | None, typer.Option("--steps", help="percentages, e.g. 10,25,50,100")] = None,
    bake: BakeOpt = "5m",
    linear: Annotated[
        float | None, typer.Option("--linear", help="instead of --steps: this many percent per step")
    ] = None,
    every: Annotated[
        str | None, typer.Option("--every", help="with --linear: bake per step, e.g. 1m")
    ] = None,
    *,
    flags: ReleaseFlags,
    compare: CompareOpt = False,
    error_margin: ErrorMarginOpt = 1.0,
    latency_margin: LatencyMarginOpt = 20.0,
) -> None:
    """A progressive release: move the weight step by step, bake and check the gates between steps,
    roll back at once if one fires; at the end VERSION is the primary."""
    if (steps is None) == (linear is None):
        raise RefusedError("give either --steps 10,25,50,100 (with --bake) or --linear 10 --every 1m")
    if linear is not None:
        every_s = _seconds(every or bake, "--every")
        make_plan: Callable[[str], Plan] = lambda base: linear_plan(version, base, linear, every_s)  # noqa: E731
    else:
        assert steps is not None
        percents, bake_s = parse_percents(steps), _seconds(bake, "--bake")
        make_plan = lambda base: shift_plan(version, base, percents, bake_s)  # noqa: E731
    settings = CompareSettings(error_margin_pp=error_margin, latency_margin_pct=latency_margin)
    _release(ctx, version, make_plan, flags, settings if compare else None)


@_release_command
def bluegreen(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="published version to move all traffic to")],
    bake: BakeOpt = "0s",
    *,
    flags: ReleaseFlags,
) -> None:
    """All traffic to VERSION at once; the previous primary is recorded, so `rollback` is one call."""
    bake_s = _seconds(bake, "--bake")
    _release(ctx, version, lambda base: bluegreen_plan(version, base, bake_s), flags)


def promote(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="promote even if a gate fired")] = False,
    dry_run: DryRunOpt = False,
    reason: ReasonOpt = "",
    function: FunctionOpt = None,
    alias: AliasOpt = None,
    stack: StackOpt = None,
) -> None:
    """Make the release's new version the primary, with no extra weight (one alias update)."""
    console = make_console()
    with aws_errors("promote"):
        outcome = Releaser(release_context(ctx, function, alias, stack, console=console)).promote(
            ReleaseOptions(reason=reason, dry_run=dry_run), force=force
        )
    _done(console, outcome)


def abort(
    ctx: typer.Context,
    dry_run: DryRunOpt = False,
    reason: ReasonOpt = "",
    function: FunctionOpt = None,
    alias: AliasOpt = None,
    stack: StackOpt = None,
) -> None:
    """Stop the release in progress (even one running in another terminal) and roll it back."""
    console = make_console()
    with aws_errors("abort"):
        release_ctx = release_context(ctx, function, alias, stack, console=console)
        running = release_ctx.store.state().release
        outcome = Releaser(release_ctx).abort(ReleaseOptions(reason=reason, dry_run=dry_run))
        if running is not None and not dry_run:
            _stop_controller(ctx, release_ctx.target.stack_name, running.release_id, reason)
    _done(console, outcome)


def _stop_controller(ctx: typer.Context, serving_stack: str, release_id: str, reason: str) -> None:
    """After the rollback: stop the release's execution, if the controller runs it (the machine
    cannot catch a StopExecution; the rollback and the lock were done by this command)."""
    from release.controller import client

    factory = cli_factory(ctx)
    try:
        arn = client.controller_arn(serving_stack, factory.env, factory.outputs)
    except client.ControllerMissingError:
        return
    client.stop(factory.clients.client("stepfunctions"), arn, release_id, reason or "modelctl abort")


def register(app: typer.Typer) -> None:
    """Add the release commands to modelctl's one command group."""
    app.command()(status)
    app.command()(publish)
    app.command()(canary)
    app.command()(shift)
    app.command()(bluegreen)
    app.command()(promote)
    app.command()(rollback)
    app.command()(abort)
    app.command()(approve)
    app.command()(reject)
    app.command()(history)
    app.command("deploy-check")(deploy_check)
