"""`modelctl status|publish|canary|shift|bluegreen|promote|rollback|abort|history|deploy-check`.

Thin: parse options, ask the factory (ctx.obj, or the default one) for collaborators, call the
release domain code (release/), print. Every refusal and AWS error is a ModelctlError:
one line and a non-zero exit (modelctl/cli.py).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer
from botocore.exceptions import ClientError
from rich.console import Console
from rich.table import Table

from modelctl.commands.common import AliasOpt, DryRunOpt, FunctionOpt, ReasonOpt, StackOpt
from modelctl.commands.common import release_factory as _factory
from modelctl.render.console import ConsoleReporter, TyperPrompt
from modelctl.render.console import make_console as _console
from modelctl.render.console import print_outcome as _done
from modelctl.rollback_cmd import rollback
from release.aws import aws_errors, error_code, error_message
from release.clock import parse_duration
from release.compare import CompareSettings
from release.context import ReleaseContext
from release.deploy_check import check_deploy, load_template
from release.errors import AwsCallError, RefusedError
from release.lock import PUBLISH_SCOPE
from release.models import read_published_metadata
from release.plan import Plan, bluegreen_plan, canary_plan, linear_plan, parse_percents, shift_plan
from release.publish import check_compatible, validate_artifact
from release.publishing import publish_artifact
from release.runner import ReleaseOptions, Releaser
from release.status import collect_status
from release.store import HistoryEntry, ReleaseStore
from release.target import DEFAULT_STACK, TargetFlags

# -- shared options ---------------------------------------------------------------------------------

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
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


# canary, shift and bluegreen: these options, declared once (_release_command adds them).
_RUN_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("dry_run", DryRunOpt, False),
    ("reason", ReasonOpt, ""),
    ("skip_pre_traffic_check", SkipCheckOpt, False),
    ("poll", PollOpt, 15.0),
    ("gate_errors", GateErrorsOpt, None),
    ("gate_p99_ms", GateP99Opt, None),
    ("gate_internal_errors", GateInternalOpt, None),
    ("gate_period", GatePeriodOpt, None),
    ("gate_evaluation_periods", GatePeriodsOpt, None),
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


@contextmanager
def _aws(command: str) -> Iterator[None]:
    """Anything AWS raises that the domain code did not translate still becomes one line."""
    with aws_errors(command):
        yield


def _context(
    ctx: typer.Context,
    function: str | None,
    alias: str | None,
    stack: str | None,
    *,
    console: Console,
    poll_s: float = 15.0,
    scope: str = "alias",
) -> ReleaseContext:
    return _factory(ctx).context(
        TargetFlags(function, alias, stack),
        reporter=ConsoleReporter(console),
        prompt=TyperPrompt(),
        poll_s=poll_s,
        scope=scope,
    )


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
    console = _console()
    with _aws("release"):
        release_ctx = _context(
            ctx, flags.function, flags.alias, flags.stack, console=console, poll_s=flags.poll
        )
        outcome = Releaser(release_ctx).release(version, make_plan, options)
    _done(console, outcome)


# -- status and history -------------------------------------------------------------------------------


def status(
    ctx: typer.Context,
    json_output: JsonOpt = False,
    function: FunctionOpt = None,
    alias: AliasOpt = None,
    stack: StackOpt = None,
) -> None:
    """The alias's versions and weights, the model each pins, the release in progress, alarm states."""
    console = _console()
    with _aws("status"):
        report = collect_status(_context(ctx, function, alias, stack, console=console))
    if json_output:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    table = Table(title=f"{report['function']}:{report['alias']}  ({report['routing']})")
    for column in ("version", "role", "traffic", "model"):
        table.add_column(column)
    for version in report["versions"]:
        table.add_row(
            f"v{version['version']}", version["role"], f"{version['percent']:g}%", version["model_version"]
        )
    console.print(table)
    release = report["release"]
    if release:
        console.print(
            f"release in progress: {release['kind']} of v{release['candidate']} from v{release['base']} "
            f"({release['status']}, step {release['step']}/{release['steps']}, {release['percent']:g}%), "
            f"started {release['started_at']} by {release['started_by']}"
        )
    else:
        console.print("no release in progress")
    if report["lock"]:
        lock = report["lock"]
        console.print(f"running now: '{lock['operation']}' by {lock['who']} since {lock['since']}")
    if report["rollback_target"]:
        console.print(f"rollback target: v{report['rollback_target']}")
    for gate in report["gates"]:
        console.print(f"gate {gate['kind']}: {gate['state']}  ({gate['name']})")
    for alarm in report["fleet_alarms"]:
        console.print(f"alias alarm {alarm['name']}: {alarm['state']}")


def history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="newest entries to show")] = 20,
    json_output: JsonOpt = False,
    function: FunctionOpt = None,
    alias: AliasOpt = None,
    stack: StackOpt = None,
) -> None:
    """Every change, newest first: when, who, from, to, why, outcome (stored in the release table)."""
    console = _console()
    with _aws("history"):
        target = _factory(ctx).target(TargetFlags(function, alias, stack))
        clients = _factory(ctx).clients
        entries = ReleaseStore(
            clients.dynamodb, target.release_table, target.function_name, target.alias_name
        ).history(limit)
    if json_output:
        typer.echo(json.dumps([e.to_json() for e in entries], indent=2, sort_keys=True))
        return
    if not entries:
        console.print(f"no history yet for {target.label}")
        return
    table = Table(title=f"history of {target.label} (newest first)")
    for column in ("at", "who", "action", "from", "to", "outcome", "why"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(*_history_row(entry))
    console.print(table)


def _history_row(entry: HistoryEntry) -> list[str]:
    who = entry.who.rsplit("/", 1)[-1] if "/" in entry.who else entry.who
    version = f" v{entry.version}" if entry.version and entry.action == "publish" else ""
    model = f" ({entry.model_version})" if entry.model_version and entry.action == "publish" else ""
    why = entry.reason + (f" [{entry.detail}]" if entry.detail and entry.outcome != "started" else "")
    return [
        entry.at.replace("T", " ")[:19] + "Z",
        who,
        entry.action + version + model,
        entry.before.describe() if entry.before else "",
        entry.after.describe() if entry.after else "",
        entry.outcome,
        why,
    ]


# -- publish ------------------------------------------------------------------------------------------


def publish(
    ctx: typer.Context,
    model_dir: Annotated[Path, typer.Argument(help="artifact folder: model_artifacts/<version>/")],
    dry_run: DryRunOpt = False,
    reason: ReasonOpt = "",
    allow_feature_change: Annotated[
        bool,
        typer.Option(
            "--allow-feature-change", help="publish a model whose features differ from the live one"
        ),
    ] = False,
    json_output: JsonOpt = False,
    function: FunctionOpt = None,
    alias: AliasOpt = None,
    stack: StackOpt = None,
) -> None:
    """Validate an artifact, upload it immutably, publish a function version pinning it; print it."""
    console = _console(stderr=json_output)
    artifact = validate_artifact(model_dir)
    for check in artifact.checks:
        console.print(f"[green]ok[/green] {check}")
    factory = _factory(ctx)
    with _aws("publish"):
        release_ctx = _context(ctx, function, alias, stack, console=console, scope=PUBLISH_SCOPE)
        target = release_ctx.target
        live = release_ctx.catalog.describe(release_ctx.alias.read().routing.primary)
        if live.model_uri and not allow_feature_change:
            check_compatible(artifact.metadata, read_published_metadata(release_ctx.s3, live.model_uri))
        uploader = factory.uploader(target)
        publisher = factory.publisher(target)
        model_uri = uploader.model_uri(artifact.version)
        planned = uploader.plan(artifact)
        existing = publisher.find_existing(model_uri)
        if dry_run:
            for item in planned:
                console.print(
                    f"would {'upload' if item.action == 'upload' else 'keep'} s3://{target.model_bucket}/{item.key}"
                )
            if existing:
                console.print(f"v{existing} already pins {model_uri}: nothing would be published")
            else:
                console.print(
                    f"would set MODEL_URI={model_uri} on $LATEST of {target.function_name} "
                    "and publish a version"
                )
            console.print("[cyan]dry run: nothing changed[/cyan]")
            return
        outcome = publish_artifact(release_ctx, uploader, publisher, artifact, reason=reason)
        uploaded, published = outcome.uploaded, outcome.published
    for item in uploaded:
        console.print(
            f"{'uploaded' if item.action == 'upload' else 'unchanged'} s3://{target.model_bucket}/{item.key}"
        )
    if json_output:
        typer.echo(
            json.dumps(
                {
                    "version": published.version,
                    "created": published.created,
                    "model_version": artifact.version,
                    "model_uri": model_uri,
                    "function": target.function_name,
                }
            )
        )
        return
    verb = "published" if published.created else "already published as"
    console.print(
        f"[green]{verb} version {published.version}[/green] of {target.function_name} "
        f"(model {artifact.version})"
    )
    typer.echo(published.version)


# -- releases -----------------------------------------------------------------------------------------


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
    console = _console()
    with _aws("promote"):
        outcome = Releaser(_context(ctx, function, alias, stack, console=console)).promote(
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
    console = _console()
    with _aws("abort"):
        outcome = Releaser(_context(ctx, function, alias, stack, console=console)).abort(
            ReleaseOptions(reason=reason, dry_run=dry_run)
        )
    _done(console, outcome)


# -- deploy-check ---------------------------------------------------------------------------------------


def deploy_check(
    ctx: typer.Context,
    template: Annotated[
        Path | None,
        typer.Option("--template", help="synthesized template (default cdk.out/<stack>.template.json)"),
    ] = None,
    stack: StackOpt = None,
) -> None:
    """Before `cdk deploy`: refuse a deploy that would reset the alias's weights or pin another version."""
    console = _console()
    factory = _factory(ctx)
    stack_name = stack or factory.env.get("MODELCTL_STACK") or DEFAULT_STACK
    synthesized = load_template(template or Path("cdk.out") / f"{stack_name}.template.json")
    cloudformation = factory.clients.cloudformation
    with _aws("deploy-check"):
        deployed = _deployed_template(cloudformation, stack_name)
        routing = record = None
        if deployed is not None:
            release_ctx = _context(ctx, None, None, stack_name, console=console)
            try:
                routing = release_ctx.alias.read().routing
            except RefusedError:
                routing = None
            record = release_ctx.store.state()

        def physical_id(logical_id: str) -> str | None:
            try:
                detail = cloudformation.describe_stack_resource(
                    StackName=stack_name, LogicalResourceId=logical_id
                )
            except ClientError:
                return None
            return str(detail["StackResourceDetail"]["PhysicalResourceId"])

        verdict = check_deploy(
            synthesized=synthesized,
            deployed=deployed,
            physical_id=physical_id,
            routing=routing,
            record=record,
        )
    console.print(f"[green]ok:[/green] {verdict.message}")


def _deployed_template(cloudformation: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        body = cloudformation.get_template(StackName=stack_name, TemplateStage="Original")["TemplateBody"]
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in error_message(exc):
            return None
        raise AwsCallError(
            f"reading the deployed template of {stack_name}: {error_code(exc)}: {error_message(exc)}"
        ) from exc
    if isinstance(body, str):
        try:
            return dict(json.loads(body))
        except json.JSONDecodeError as exc:
            raise RefusedError(f"the deployed template of {stack_name} is not JSON: {exc}") from exc
    return dict(body)


# -- registration -------------------------------------------------------------------------------------


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
    app.command()(history)
    app.command("deploy-check")(deploy_check)
