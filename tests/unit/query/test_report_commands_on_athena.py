"""The three report commands with `--engine athena`, the engine being DuckDB over a sample of the log
bucket (the runner is swapped in where `for_report` hands out Athena's): the command lines, the
documents' sources and their figures, end to end through the CLI."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from modelctl.cli import app
from modelctl.commands import report
from modelctl.factory import Factory
from modelctl.reports.query import engine
from modelctl.reports.query.sql import Tables
from tests.unit.modelctl.world import report_factory
from tests.unit.query.duck import DATABASE, DuckRunner
from tests.unit.query.sample import (
    FEEDBACK_UNTIL,
    SINCE,
    UNTIL,
    Sample,
    parse_rows,
    prediction_log,
    shadow_records,
)

WINDOW = ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Factory, Sample]]:
    sample = Sample()
    prediction_log(random.Random(3), sample, regression=False, requests=120)
    shadow_records(random.Random(4), sample, records=80)
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        s3 = session.client("s3")
        for bucket in ("log-bucket", "model-bucket"):
            s3.create_bucket(Bucket=bucket)
        sample.write(s3, "log-bucket", tmp_path)
        runner = DuckRunner(tmp_path)

        def for_report(_factory: Any, chosen: str, _span: Any) -> tuple[Any, Tables] | None:
            return (runner, Tables(DATABASE)) if chosen == "athena" else None

        monkeypatch.setattr(engine, "for_report", for_report)
        monkeypatch.setattr(report, "for_report", for_report)
        factory = report_factory(
            session, log_bucket="log-bucket", model_bucket="model-bucket", now=lambda: FEEDBACK_UNTIL
        )
        yield factory, sample


def _run(factory: Factory, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, list(args), obj=factory)
    assert result.exit_code == 0, result.output + repr(result.exception)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_accuracy_report_runs_on_athena(cli: tuple[Factory, Sample]) -> None:
    factory, sample = cli
    document = _run(factory, "report", "accuracy", *WINDOW, "--window", "1d", "--engine", "athena", "--json")
    assert document["source"]["engine"] == "athena"
    assert document["source"]["athena"]["queries"] == 1  # no baseline: no drift query
    assert sum(v["predictions"] for v in document["versions"]) == len(parse_rows(sample))
    assert document["source"]["feedback_without_prediction"] > 0


def test_ab_report_runs_on_athena(cli: tuple[Factory, Sample]) -> None:
    factory, sample = cli
    document = _run(
        factory, "report", "ab", *WINDOW, "--versions", "3,4", "--engine", "athena", "--json", "-"
    )
    rows = parse_rows(sample)
    arms = {arm["function_version"]: arm for arm in document["arms"]}
    assert arms["3"]["predictions"] == sum(row.function_version == "3" for row in rows)
    assert arms["4"]["labelled"] > 0 and document["comparison"] is not None


def test_shadow_report_runs_on_athena(cli: tuple[Factory, Sample]) -> None:
    factory, _ = cli
    document = _run(factory, "shadow", "report", *WINDOW, "--engine", "athena", "--json", "-", "--html", "")
    assert document["source"]["engine"] == "athena"
    assert document["counts"]["rows"] > 0 and document["top_disagreements"]


@pytest.mark.parametrize(
    "command",
    [
        ["report", "accuracy", *WINDOW, "--window", "1d"],
        ["report", "ab", *WINDOW, "--versions", "3,4"],
        ["shadow", "report", *WINDOW, "--json", ""],
    ],
)
def test_terminal_and_html_render_what_athena_computed(
    cli: tuple[Factory, Sample], command: list[str], tmp_path: Path
) -> None:
    factory, _ = cli
    html = tmp_path / "report.html"
    result = CliRunner().invoke(app, [*command, "--engine", "athena", "--html", str(html)], obj=factory)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "<html" in html.read_text(encoding="utf-8").lower()


@pytest.mark.parametrize(
    "command",
    [
        ["report", "accuracy", *WINDOW, "--business-metric", "reward", "--json"],
        ["report", "ab", *WINDOW, "--versions", "3,4", "--cost-matrix", '{"0": {"1": 5}}', "--json", "-"],
    ],
)
def test_a_business_metric_is_refused_on_athena_and_read_in_process_on_auto(
    cli: tuple[Factory, Sample], command: list[str]
) -> None:
    factory, _ = cli
    refused = CliRunner().invoke(app, [*command, "--engine", "athena"], obj=factory)
    assert refused.exit_code != 0
    assert "needs every labelled row" in str(refused.exception) + refused.output
    local = _run(factory, *command, "--engine", "auto")
    assert local.get("source", {}).get("engine") != "athena"
