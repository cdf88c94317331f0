"""The same figures from both engines on one sample: the reports' Athena SQL (run by DuckDB over the
same objects) against the in-process aggregation of the same rows and feedback (counts exactly,
means and sums to 1e-9)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from common.observe.drift import Baseline
from common.observe.label_join import JoinStats, join_rows, read_feedback
from common.observe.live_quality import ModelInfo, QualityAggregator
from modelctl.reports.query.documents import accuracy_aggregator, arms_from_cells, read_cells
from modelctl.reports.query.sql import Tables
from release.quality.join import Metric, version_arms
from tests.unit.query.duck import DATABASE, DuckRunner
from tests.unit.query.sample import FEEDBACK_UNTIL, SINCE, UNTIL, Sample, parse_rows, prediction_log

BUCKET = "log-bucket"
TABLES = Tables(DATABASE)
FEATURES = ["f0", "f1", "f2", "f3"]
BASELINE = {
    "features": {
        name: {"edges": [-1.0, -0.25, 0.5, 1.5], "proportions": [0.2, 0.2, 0.2, 0.2, 0.2]}
        for name in FEATURES[:3]
    }
}


def close(left: Any, right: Any, path: str = "") -> None:
    """Equal documents: ints, text and structure exactly, floats to 1e-9."""
    if isinstance(left, float) or isinstance(right, float):
        assert left is not None and right is not None, path
        assert abs(float(left) - float(right)) <= 1e-9, f"{path}: {left} != {right}"
    elif isinstance(left, dict):
        assert isinstance(right, dict) and set(left) == set(right), f"{path}: {set(left) ^ set(right)}"
        for key in left:
            close(left[key], right[key], f"{path}.{key}")
    elif isinstance(left, list):
        assert isinstance(right, list) and len(left) == len(right), path
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            close(a, b, f"{path}[{index}]")
    else:
        assert left == right, f"{path}: {left!r} != {right!r}"


def model_info(regression: bool) -> Any:
    def info(version: str) -> ModelInfo | None:
        if version == "m12":
            return None  # metadata unreadable: no baseline, task from the rows
        return ModelInfo(
            version=version,
            baseline=Baseline.from_metadata(FEATURES, BASELINE),
            training_metrics={"accuracy": 0.9},
            task="regression" if regression else "classification",
        )

    return info


@pytest.fixture(scope="module", params=["classification", "regression"])
def logged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[bool, Sample, Any, Path]]:
    regression = request.param == "regression"
    tmp_path = tmp_path_factory.mktemp("bucket")
    sample = Sample()
    prediction_log(random.Random(16), sample, regression=regression)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        sample.write(s3, BUCKET, tmp_path)
        yield regression, sample, s3, tmp_path


def in_process(sample: Sample, s3: Any) -> tuple[list[Any], JoinStats]:
    stats = JoinStats()
    feedback = read_feedback(s3, BUCKET, since=SINCE, until=max(FEEDBACK_UNTIL, UNTIL), stats=stats)
    joined = list(join_rows(iter(parse_rows(sample)), feedback, stats))
    stats.log.rows = len(joined)
    return joined, stats


@pytest.mark.parametrize("window", [timedelta(hours=6), timedelta(days=1)])
def test_accuracy_report_is_the_same_from_both_engines(
    logged: tuple[bool, Sample, Any, Path], window: timedelta
) -> None:
    regression, sample, s3, root = logged
    metric = "mae" if regression else "f1_macro"
    joined, stats = in_process(sample, s3)
    local = QualityAggregator(
        since=SINCE, until=UNTIL, window=window, metric_name=metric, model_info=model_info(regression)
    )
    for row, feedback in joined:
        local.add(row, feedback)
    runner = DuckRunner(root)
    athena, athena_stats = accuracy_aggregator(
        runner,
        TABLES,
        since=SINCE,
        until=UNTIL,
        window=window,
        metric_name=metric,
        model_info=model_info(regression),
        feedback_until=FEEDBACK_UNTIL,
    )
    expected, got = local.document(), athena.document()
    assert expected["versions"] and any(v["labelled"] for v in expected["versions"])
    assert any(v["psi"] for v in expected["versions"])
    close(got, expected)
    assert athena_stats.log.rows == len(joined)
    assert athena_stats.feedback_items == stats.feedback_items
    assert athena_stats.feedback_labels == stats.feedback_labels
    assert athena_stats.feedback_matched == stats.feedback_matched
    assert athena_stats.feedback_unmatched == stats.feedback_unmatched > 0


def test_ab_arms_are_the_same_from_both_engines(logged: tuple[bool, Sample, Any, Path]) -> None:
    regression, sample, s3, root = logged
    metric = Metric.ABSOLUTE_ERROR if regression else Metric.ACCURACY
    costs = None if regression else {"0": {"1": 5.0, "2": 1.0}, "2": {"0": 3.0}}
    joined, _ = in_process(sample, s3)
    local = version_arms(iter(joined), metric=metric, versions=("3", "4", "7"), cost_matrix=costs)
    cells = read_cells(
        DuckRunner(root),
        TABLES,
        since=SINCE,
        until=UNTIL,
        feedback_until=FEEDBACK_UNTIL,
        window=UNTIL - SINCE,
    )
    athena = arms_from_cells(cells.rows, metric=metric, versions=("3", "4", "7"), cost_matrix=costs)
    assert list(athena) == list(local) == ["3", "4", "7"]
    for version, arm in local.items():
        other = athena[version]
        assert (other.predictions, other.labelled, other.unscorable) == (
            arm.predictions,
            arm.labelled,
            arm.unscorable,
        )
        assert other.model_versions == arm.model_versions
        ours, theirs = arm.summary, other.summary
        assert (ours.n, ours.binary) == (theirs.n, theirs.binary)
        assert abs(ours.mean - theirs.mean) <= 1e-9 and abs(ours.m2 - theirs.m2) <= 1e-9 * max(1.0, ours.m2)
        if costs is not None:
            assert (arm.mean_cost is not None and other.mean_cost is not None) or arm.labelled == 0
            if arm.labelled:
                assert abs(arm.mean_cost - other.mean_cost) <= 1e-9  # type: ignore[operator]
    assert local["3"].labelled > 50 and local["7"].predictions == 0
