"""`modelctl report accuracy`: thin command; the shadow commands' factory resolves the buckets from the
stacks' outputs (CloudFormation, or the local cloud's deployment file) and builds the clients."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from common.observe import regression_metrics
from common.observe.classification_metrics import METRICS as CLASSIFICATION_METRICS
from common.observe.live_quality import S3ModelInfo
from modelctl.commands.common import cli_factory
from modelctl.commands.quality_options import report_business_metric
from modelctl.reports.accuracy import render_html, render_terminal
from modelctl.reports.accuracy.build import build_accuracy_report
from modelctl.reports.coverage import RequestCounter
from modelctl.reports.coverage_source import served_coverage
from modelctl.reports.query.engine import ENGINE_HELP, for_report, row_engine
from modelctl.reports.query.reports import accuracy_builder
from modelctl.reports.shadow.window import parse_duration, parse_window
from release.errors import ShadowError

METRICS = CLASSIFICATION_METRICS + regression_metrics.METRICS
"""A classifier's metric is its versions' "metric"; a regressor's versions show MAE, RMSE and mean
error always, and as "metric" the named one when it is a regression metric, else RMSE."""

report_app = typer.Typer(
    name="report",
    help="Reports on live traffic: accuracy per window and model version, with feature drift.",
    no_args_is_help=True,
)


def _lookback(text: str) -> timedelta:
    duration = parse_duration(text)
    if duration is None:
        raise ShadowError(f"--lookback {text!r} is not a duration (7d, 36h, 0s)")
    return duration


def _window(text: str) -> timedelta:
    duration = parse_duration(text)
    if duration is None:
        raise ShadowError(f"--window {text!r} is not a duration (1d, 6h, 90m)")
    return duration


@report_app.command()
def accuracy(
    ctx: typer.Context,
    window: Annotated[str, typer.Option(help="window length: 1d, 6h, 30m")] = "1d",
    since: Annotated[str, typer.Option(help="start: a duration ago (30d, 24h) or an ISO time")] = "30d",
    until: Annotated[str, typer.Option(help="end: now, a duration ago, or an ISO time")] = "now",
    metric: Annotated[
        str, typer.Option(help=f"quality metric beside accuracy: {', '.join(METRICS)}")
    ] = "f1_macro",
    html: Annotated[str, typer.Option(help="also write an HTML report with charts here")] = "",
    as_json: Annotated[
        bool, typer.Option("--json", help="print the JSON document instead of tables")
    ] = False,
    business_metric: Annotated[
        str,
        typer.Option(
            "--business-metric", help="also per model version: reward, module:function or a JSON cost matrix"
        ),
    ] = "",
    engine: Annotated[str, typer.Option(help=ENGINE_HELP)] = "auto",
    lookback: Annotated[
        str, typer.Option(help="how far before --since feedback received in the report may name a prediction")
    ] = "7d",
) -> None:
    """Accuracy and the metric per window per model version (logged predictions joined with feedback),
    and per-feature drift (PSI) of the live inputs against each model's training baseline. For a
    regressor: MAE, RMSE and mean error (bias: mean of prediction - truth) instead of accuracy."""
    if metric not in METRICS:
        raise ShadowError(f"--metric {metric!r} is not one of {', '.join(METRICS)}")
    factory = cli_factory(ctx)
    now = factory.time()
    span = parse_window(since, until, now=now)
    target = factory.shadow_target
    s3 = factory.shadow_clients.s3
    athena = for_report(factory, row_engine(engine, per_row=bool(business_metric)), span.until - span.since)
    build = accuracy_builder(athena, build_accuracy_report)
    counter = RequestCounter()
    # in process, the join takes the lookback and counts the requests it finds (coverage)
    local = {"lookback": _lookback(lookback), "counter": counter} if athena is None else {}
    document = build(
        s3=s3,
        log_bucket=target.log_bucket,
        model_info=S3ModelInfo(s3, target.model_bucket),
        since=span.since,
        until=span.until,
        window=_window(window),
        metric_name=metric,
        feedback_until=now,
        business=report_business_metric(business_metric),
        **local,
    )
    if athena is None:
        document["record_coverage"] = served_coverage(
            factory, counter, since=span.since, until=span.until, found_what="requests in the prediction log"
        )
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        render_terminal.render(document, factory.terminal())
    if html:
        Path(html).write_text(render_html.render(document), encoding="utf-8")
        if not as_json:
            factory.terminal().print(f"HTML: {html}", highlight=False)
