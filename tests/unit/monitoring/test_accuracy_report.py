"""`modelctl report accuracy` on a synthetic drifted stream (S3 in moto): ten days of logged predictions
whose accuracy falls by five points a day while one feature shifts away from its training baseline;
the report shows exactly that decay per window, the drift on the shifted feature only, and the
feedback it could not join."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from common.observe.feedback import Feedback
from modelctl.cli import app
from modelctl.factory import Factory
from tests.monitoring_support import (
    LOG_BUCKET,
    MODEL_BUCKET,
    create_buckets,
    logged_record,
    put_feedback,
    put_records,
    standard_normal_baseline,
)
from tests.unit.modelctl.world import report_factory

MODEL = "m-synthetic0001"
NOW = datetime(2026, 3, 11, 0, 0, tzinfo=UTC)
DAYS, ROWS_PER_DAY = 10, 200


def accuracy_on(day: int) -> float:
    return 0.95 - 0.05 * day


def shift_on(day: int) -> float:
    return 0.25 * day


@dataclass
class Stream:
    factory: Factory
    s3: Any


def metadata() -> dict[str, Any]:
    return {
        "version": MODEL,
        "feature_names": ["stable", "shifting"],
        "class_labels": [0, 1],
        "metrics": {"accuracy": 0.96, "f1_macro": 0.95},
        "feature_baseline": standard_normal_baseline("stable", "shifting"),
    }


@pytest.fixture
def stream() -> Iterator[Stream]:
    rng = random.Random(7)
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        s3 = create_buckets(session, metadata())
        start = NOW - timedelta(days=DAYS)
        for day in range(DAYS):
            correct = round(ROWS_PER_DAY * accuracy_on(day))
            records, labels = [], []
            for index in range(ROWS_PER_DAY):
                moment = start + timedelta(days=day, seconds=60 + index * 300)
                request_id = f"d{day}-r{index}"
                row = [rng.gauss(0.0, 1.0), rng.gauss(shift_on(day), 1.0)]
                truth = index % 2  # balanced classes
                predicted = truth if index < correct else 1 - truth
                records.append(logged_record(request_id, moment, [row], [predicted], model_version=MODEL))
                labels.append(Feedback(request_id, 0, truth))
            put_records(s3, LOG_BUCKET, records)
            # feedback arrives later that day; some of it names requests that were never logged
            put_feedback(
                s3,
                LOG_BUCKET,
                [*labels, Feedback(f"unlogged-{day}", 0, 1)],
                start + timedelta(days=day, hours=23),
            )
        factory = report_factory(session, log_bucket=LOG_BUCKET, model_bucket=MODEL_BUCKET, now=lambda: NOW)
        yield Stream(factory=factory, s3=s3)


def run(stream: Stream, *args: str) -> Any:
    result = CliRunner().invoke(app, ["report", "accuracy", *args], obj=stream.factory)
    assert result.exit_code == 0, result.output
    return result


def test_the_report_shows_the_accuracy_decay_the_stream_was_built_with(stream: Stream) -> None:
    document = json.loads(run(stream, "--window", "1d", "--since", "10d", "--json").stdout)
    (version,) = document["versions"]
    assert version["model_version"] == MODEL
    windows = version["windows"]
    assert len(windows) == DAYS
    assert [w["labelled"] for w in windows] == [ROWS_PER_DAY] * DAYS
    assert [w["accuracy"] for w in windows] == pytest.approx([accuracy_on(day) for day in range(DAYS)])
    # balanced classes, errors split evenly between them: macro F1 falls with accuracy
    f1 = [w["metric"] for w in windows]
    assert f1 == sorted(f1, reverse=True) and f1[0] > 0.9 > 0.6 > f1[-1]
    assert version["training"] == {"accuracy": 0.96, "f1_macro": 0.95}
    source = document["source"]
    assert source["feedback_matched"] == DAYS * ROWS_PER_DAY
    assert source["feedback_without_prediction"] == DAYS


def test_the_report_shows_drift_on_the_shifted_feature_only(stream: Stream) -> None:
    document = json.loads(run(stream, "--window", "1d", "--since", "10d", "--json").stdout)
    windows = document["versions"][0]["windows"]
    shifting = [w["psi"]["shifting"] for w in windows]
    stable = [w["psi"]["stable"] for w in windows]
    assert shifting[0] < 0.1 and shifting[-1] > 1.0  # 2.25 standard deviations away by day 9
    # PSI grows with the shift (until the bins at the edge saturate: by day 8 most rows fall in the
    # last decile); the stable feature stays within sampling noise (200 rows in 10 bins)
    assert all(later > earlier for earlier, later in pairwise(shifting[:9]))
    assert max(stable) < 0.25 and min(shifting[4:]) > 4 * max(stable)
    assert windows[-1]["max_psi_feature"] == "shifting" and windows[-1]["drifted_features"] == ["shifting"]


def test_terminal_and_html_render_the_windows(stream: Stream, tmp_path: Path) -> None:
    html = tmp_path / "accuracy.html"
    result = run(
        stream, "--window", "2d", "--since", "10d", "--metric", "balanced_accuracy", "--html", str(html)
    )
    assert f"{MODEL}: 2000 labelled of 2000 logged" in result.stdout
    assert "accuracy per window: |" in result.stdout
    assert "shifting" in result.stdout and "balanced_accuracy" in result.stdout
    page = html.read_text()
    assert page.count("<svg") == 3 and "<script" not in page
    assert "10 unknown request ids" in result.stdout and "unknown request ids" in page
    assert "Coverage" in page and "served count unavailable" in page  # no function in this moto


def test_bad_options_are_one_line_errors(stream: Stream) -> None:
    for args, message in (
        (["--metric", "auc"], "--metric 'auc' is not one of accuracy"),
        (["--window", "soon"], "--window 'soon' is not a duration"),
        (["--window", "1m", "--since", "30d"], "at most 1000"),
    ):
        result = CliRunner().invoke(app, ["report", "accuracy", *args], obj=stream.factory)
        assert result.exit_code != 0
        assert message in str(result.exception) + result.output
