"""`modelctl shadow start|stop|status|report`: thin commands; the factory builds the collaborators
(tests pass a `Factory` as the context object, with a moto-backed session and a fixed clock)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from modelctl.commands.common import cli_factory
from modelctl.factory import Factory
from modelctl.reports.coverage import SHADOW_SAMPLED_METRIC, RequestCounter
from modelctl.reports.coverage_source import served_coverage
from modelctl.reports.query.engine import ENGINE_HELP
from modelctl.reports.query.shadow import athena_shadow_report
from modelctl.reports.shadow import render_html, render_terminal
from modelctl.reports.shadow.builder import ShadowReportBuilder
from modelctl.reports.shadow.gc_pause import cyclic_gc_paused
from modelctl.reports.shadow.regression import Tolerance
from modelctl.reports.shadow.window import Window, parse_window

shadow_app = typer.Typer(
    name="shadow",
    help="Mirror live requests to a candidate model and compare the two: start, stop, status, report.",
    no_args_is_help=True,
)


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
    factory = cli_factory(ctx)
    result = factory.shadow_control().start(candidate, sample_percent=sample, artifacts_dir=artifacts_dir)
    console, target = factory.terminal(), factory.shadow_target
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
        f"gets {result.config.sample_percent:g}% of live requests to {target.function_name}:"
        f"{target.alias_name} (live model {result.live_model_version}); it takes effect within "
        "the functions' configuration TTL (serving.shadow_config_ttl_seconds). "
        "`modelctl shadow report --since 1h` compares them.",
        highlight=False,
    )


@shadow_app.command()
def stop(ctx: typer.Context) -> None:
    """Stop mirroring. Messages already queued are still scored and recorded."""
    factory = cli_factory(ctx)
    previous, _ = factory.shadow_control().stop()
    if not previous.active:
        factory.terminal().print("no shadow is running")
        return
    factory.terminal().print(
        f"shadow of {previous.candidate_model_version} stopped (it ran since {previous.started_at})",
        highlight=False,
    )


@shadow_app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """The active shadow configuration, queue depths, the DLQ alarm and this hour's records."""
    factory = cli_factory(ctx)
    current = factory.shadow_control().status()
    if as_json:
        typer.echo(json.dumps(current.to_dict(), indent=2))
        return
    config = current.config
    console = factory.terminal()
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
    tolerance: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="regressors: a shadow prediction within this absolute difference of live (target units) "
            "counts as the same",
        ),
    ] = 0.0,
    relative_tolerance: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="regressors: ... or within this fraction of |live| (0.05 = 5%); within tolerance means "
            "|shadow - live| <= tolerance + relative-tolerance x |live|",
        ),
    ] = 0.05,
    engine: Annotated[str, typer.Option(help=ENGINE_HELP)] = "auto",
) -> None:
    """Compare live and shadow over a window. Classifiers: agreement (with a 95% CI), confusion matrix,
    probability differences. Regressors: the distribution of shadow - live, mean absolute and relative
    difference, the share within tolerance (with a 95% CI), correlation. Both: latency, per-hour trend
    and the rows that differ most."""
    try:
        within = Tolerance(tolerance, relative_tolerance)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    factory = cli_factory(ctx)
    window = parse_window(since, until, now=factory.time())
    document = athena_shadow_report(factory, engine, window, top=top) or build_report(
        factory, window, top=top, workers=workers, tolerance=within
    )
    if json_path == "-":
        typer.echo(json.dumps(document, indent=2))
    else:
        render_terminal.render(document, factory.terminal())
        if json_path:
            Path(json_path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            factory.terminal().print(f"JSON: {json_path}", highlight=False)
    if html:
        Path(html).write_text(render_html.render(document), encoding="utf-8")
        if json_path != "-":
            factory.terminal().print(f"HTML: {html}", highlight=False)


def build_report(
    factory: Factory, window: Window, *, top: int, workers: int, tolerance: Tolerance | None = None
) -> dict[str, Any]:
    reader = factory.shadow_reader(workers)
    builder = ShadowReportBuilder(window, top=top, tolerance=tolerance)
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
        "generated_at": factory.time().isoformat(timespec="seconds"),
    }
    document = builder.result(source=source)
    counter = RequestCounter()
    counter.update(builder.request_minutes())
    document["record_coverage"] = served_coverage(
        factory,
        counter,
        since=window.since,
        until=window.until,
        found_what="shadow records",
        metric=SHADOW_SAMPLED_METRIC,
    )
    return document
