"""`modelctl shadow start|stop|status|report`: thin commands; the factory builds the collaborators
(tests pass a `ShadowFactory` as the context object, with a moto-backed session and a fixed clock)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
from botocore.config import Config
from rich.console import Console

from modelctl.shadow import render_html, render_terminal
from modelctl.shadow.gc_pause import cyclic_gc_paused
from modelctl.shadow.records import RecordReader
from modelctl.shadow.stats import ReportBuilder
from modelctl.shadow.window import Window, parse_window
from release.shadow.control import ShadowControl
from release.shadow.resources import ShadowTarget, outputs_source, resolve_target

shadow_app = typer.Typer(
    name="shadow",
    help="Mirror live requests to a candidate model and compare the two: start, stop, status, report.",
    no_args_is_help=True,
)


def _now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass
class ShadowFactory:
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    session: boto3.session.Session | None = None
    clock: Callable[[], datetime] = _now
    console: Console = field(default_factory=Console)

    def client(self, service: str) -> Any:
        session = self.session or boto3.session.Session()
        config = Config(retries={"mode": "standard", "total_max_attempts": 3})
        return session.client(service, config=config)  # type: ignore[call-overload]

    @cached_property
    def target(self) -> ShadowTarget:
        return resolve_target(self.env, outputs_source(self.env, lambda: self.client("cloudformation")))

    def control(self) -> ShadowControl:
        return ShadowControl(
            self.target,
            s3=self.client("s3"),
            sqs=self.client("sqs"),
            lambda_=self.client("lambda"),
            cloudwatch=self.client("cloudwatch"),
            clock=self.clock,
        )

    def reader(self, max_workers: int) -> RecordReader:
        return RecordReader(self.client("s3"), self.target.log_bucket, max_workers=max_workers)


def _factory(ctx: typer.Context) -> ShadowFactory:
    return ctx.obj if isinstance(ctx.obj, ShadowFactory) else ShadowFactory()


@shadow_app.command()
def start(
    ctx: typer.Context,
    candidate: Annotated[
        str,
        typer.Argument(metavar="MODEL_OR_VERSION", help="a model version (m-...) or a function version (3)"),
    ],
    sample: Annotated[
        float, typer.Option("--sample", min=0.0, max=100.0, help="percent of live requests to mirror")
    ] = 100.0,
    artifacts_dir: Annotated[
        Path, typer.Option(help="where to find a model that is not in the model store yet")
    ] = Path("model_artifacts"),
) -> None:
    """Start (or replace) the shadow: live requests are mirrored to the candidate model. Users keep
    receiving the live model's answers; only the shadow configuration object is written."""
    factory = _factory(ctx)
    result = factory.control().start(candidate, sample_percent=sample, artifacts_dir=artifacts_dir)
    console = factory.console
    if result.candidate.uploaded:
        console.print(f"uploaded {result.candidate.model_version} to the model store")
    if result.previous.active:
        console.print(
            f"replacing the shadow of {result.previous.candidate_model_version} "
            f"({result.previous.sample_percent:g}%)"
        )
    for warning in result.warnings:
        console.print(f"[yellow]note:[/yellow] {warning}", highlight=False)
    console.print(
        f"shadow started: candidate {result.config.candidate_model_version} ({result.candidate.source}) "
        f"gets {result.config.sample_percent:g}% of live requests to {factory.target.function_name}:"
        f"{factory.target.alias_name} (live model {result.live_model_version}); it takes effect within "
        "the functions' configuration TTL (serving.shadow_config_ttl_seconds). "
        "`modelctl shadow report --since 1h` compares them.",
        highlight=False,
    )


@shadow_app.command()
def stop(ctx: typer.Context) -> None:
    """Stop mirroring. Messages already queued are still scored and recorded."""
    factory = _factory(ctx)
    previous, _ = factory.control().stop()
    if not previous.active:
        factory.console.print("no shadow is running")
        return
    factory.console.print(
        f"shadow of {previous.candidate_model_version} stopped (it ran since {previous.started_at})",
        highlight=False,
    )


@shadow_app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """The active shadow configuration, queue depths, the DLQ alarm and this hour's records."""
    factory = _factory(ctx)
    current = factory.control().status()
    if as_json:
        typer.echo(json.dumps(current.to_dict(), indent=2))
        return
    config = current.config
    console = factory.console
    if config.active:
        console.print(
            f"shadow [bold]active[/bold]: candidate {config.candidate_model_version} "
            f"({config.candidate_source}), {config.sample_percent:g}% of requests, since {config.started_at}",
            highlight=False,
        )
    else:
        stopped = (
            f" (last: {config.candidate_model_version}, stopped {config.stopped_at})"
            if config.stopped_at
            else ""
        )
        console.print(f"no shadow is running{stopped}", highlight=False)
    console.print(f"live model: {current.live_model_version or 'unknown'}", highlight=False)
    for name, depth in (("shadow queue", current.queue), ("dead-letter queue", current.dead_letter)):
        shown = "unavailable" if depth is None else f"{depth.visible} waiting, {depth.in_flight} in flight"
        console.print(f"{name}: {shown}", highlight=False)
    console.print(f"DLQ alarm: {current.alarm_state or 'unknown'}", highlight=False)
    if current.record_objects_this_hour is not None:
        console.print(f"record objects this hour: {current.record_objects_this_hour}", highlight=False)


@shadow_app.command()
def report(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option(help="window start: a duration ago (24h, 90m, 7d) or an ISO time")
    ] = "24h",
    until: Annotated[str, typer.Option(help="window end: now, a duration ago, or an ISO time")] = "now",
    html: Annotated[str, typer.Option(help="write the HTML report here ('' to skip)")] = "shadow-report.html",
    json_path: Annotated[
        str, typer.Option("--json", help="write the JSON report here ('-' for stdout only, '' to skip)")
    ] = "shadow-report.json",
    top: Annotated[int, typer.Option(min=0, max=1000, help="most disagreeing rows to list")] = 10,
    workers: Annotated[int, typer.Option(min=1, max=64, help="parallel S3 reads")] = 16,
) -> None:
    """Compare live and shadow over a window: agreement (with a 95% CI), confusion matrix, probability
    differences, latency, per-hour trend and the most disagreeing rows."""
    factory = _factory(ctx)
    window = parse_window(since, until, now=factory.clock())
    document = build_report(factory, window, top=top, workers=workers)
    if json_path == "-":
        typer.echo(json.dumps(document, indent=2))
    else:
        render_terminal.render(document, factory.console)
        if json_path:
            Path(json_path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            factory.console.print(f"JSON: {json_path}", highlight=False)
    if html:
        Path(html).write_text(render_html.render(document), encoding="utf-8")
        if json_path != "-":
            factory.console.print(f"HTML: {html}", highlight=False)


def build_report(factory: ShadowFactory, window: Window, *, top: int, workers: int) -> dict[str, Any]:
    reader = factory.reader(workers)
    builder = ReportBuilder(window, top=top)
    started = time.perf_counter()
    with cyclic_gc_paused():
        builder.add_report_records(reader.report_records(window))
    elapsed = time.perf_counter() - started
    source = {
        "bucket": reader.bucket,
        "objects": reader.stats.objects,
        "compressed_bytes": reader.stats.compressed_bytes,
        "unreadable_objects": reader.stats.unreadable_objects,
        "unreadable_lines": reader.stats.unreadable_lines,
        "read_seconds": round(elapsed, 3),
        "generated_at": factory.clock().isoformat(timespec="seconds"),
    }
    return builder.result(source=source)
