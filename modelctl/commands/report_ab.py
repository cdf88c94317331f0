"""`modelctl report ab`: thin command. The versions come from --versions, else the alias's routing
(primary + additional version), else the window's logged rows; the shadow commands' factory resolves
the buckets and the function. The report's modules (scipy) are imported when the command runs, so
registering it costs the rest of the CLI nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelctl.commands.common import cli_factory
from modelctl.commands.quality_options import report_business_metric
from modelctl.reports.query.engine import ENGINE_HELP
from release.errors import ShadowError

if TYPE_CHECKING:
    from release.quality.join import CostMatrix

# "auto" and the values of release.quality.join.Metric (tested to match).
METRIC_CHOICES = ("auto", "accuracy", "absolute_error")


def _cost_matrix(text: str) -> CostMatrix | None:
    from common.business_metric import parse_cost_matrix

    if not text:
        return None
    try:
        return parse_cost_matrix(json.loads(text))
    except ValueError as exc:
        raise ShadowError(f"--cost-matrix: {exc}") from None


def ab(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="start: a duration ago (7d, 24h) or an ISO time")] = "7d",
    until: Annotated[str, typer.Option(help="end: now, a duration ago, or an ISO time")] = "now",
    versions: Annotated[
        str, typer.Option(help="PRIMARY,NEW function versions (default: the alias's routing)")
    ] = "",
    metric: Annotated[
        str, typer.Option(help="auto (from the model's task), accuracy or absolute_error")
    ] = "auto",
    effect: Annotated[
        float | None,
        typer.Option(help="improvement to detect at 80% power (default 0.02 accuracy, 5% of the error)"),
    ] = None,
    cost_matrix: Annotated[
        str,
        typer.Option(
            "--cost-matrix", help='classifiers: cost of predicting column when truth is row, {"0":{"1":5}}'
        ),
    ] = "",
    business_metric: Annotated[
        str,
        typer.Option(
            "--business-metric",
            help="reward (sent with the feedback), module:function (!module:function: lower is better), "
            "or a cost matrix as JSON",
        ),
    ] = "",
    html: Annotated[str, typer.Option(help="also write an HTML report with charts here")] = "",
    as_json: Annotated[
        str, typer.Option("--json", help="write the JSON document to this file ('-': standard output)")
    ] = "",
    engine: Annotated[str, typer.Option(help=ENGINE_HELP)] = "auto",
) -> None:
    """Compare the versions the alias serves (or served): labelled rows, the metric with its 95%
    interval, new - primary with the always-valid p-value, and the labelled rows still needed."""
    from modelctl.reports.ab import render_html, render_terminal
    from modelctl.reports.ab.build import S3Task, build_ab_report, parse_versions
    from modelctl.reports.coverage import RequestCounter
    from modelctl.reports.coverage_source import served_coverage
    from modelctl.reports.query.engine import for_report, row_engine
    from modelctl.reports.query.reports import arms_reader
    from modelctl.reports.shadow.window import parse_window
    from release.alias import AliasManager, Routing
    from release.quality.join import Metric

    if metric not in METRIC_CHOICES:
        raise ShadowError(f"--metric {metric!r} is not one of {', '.join(METRIC_CHOICES)}")
    named = parse_versions(versions) if versions else None
    matrix = _cost_matrix(cost_matrix)
    business = report_business_metric(business_metric)
    if business is not None and matrix is not None:
        raise ShadowError("give either --cost-matrix or --business-metric")
    factory = cli_factory(ctx)
    now = factory.time()
    span = parse_window(since, until, now=now)
    target = factory.shadow_target
    routing: Routing | None = None
    if named is None:
        routing = (
            AliasManager(factory.clients.lambda_, target.function_name, target.alias_name).read().routing
        )
    s3 = factory.shadow_clients.s3
    counter = RequestCounter()
    task_of = S3Task(s3, target.model_bucket)
    per_row = business is not None or matrix is not None
    athena = for_report(factory, row_engine(engine, per_row=per_row), span.until - span.since)
    document = build_ab_report(
        s3=s3,
        log_bucket=target.log_bucket,
        task_of=task_of,
        since=span.since,
        until=span.until,
        feedback_until=now,
        named=named,
        routing=routing,
        metric=None if metric == "auto" else Metric(metric),
        effect=effect,
        cost_matrix=matrix,
        business=business,
        read_arms=arms_reader(*athena, task_of) if athena is not None else None,
        counter=counter,
    )
    if athena is None:  # the requests found are counted as the rows stream in process
        document["record_coverage"] = served_coverage(
            factory, counter, since=span.since, until=span.until, found_what="requests in the prediction log"
        )
    text = json.dumps(document, indent=2)
    if as_json == "-":
        typer.echo(text)
    else:
        if as_json:
            Path(as_json).write_text(text + "\n", encoding="utf-8")
        render_terminal.render(document, factory.terminal())
    if html:
        Path(html).write_text(render_html.render(document), encoding="utf-8")
        if as_json != "-":
            factory.terminal().print(f"HTML: {html}", highlight=False)
