"""The A/B report's document (`modelctl.reports.ab.build`): its figures equal release.quality's on
the same arms; the versions come from --versions, the alias or the window; edge cases give clear
warnings instead of errors. S3 in moto."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from common.business_metric import BusinessMetric
from common.layout import OBJECT_SUFFIX, PREDICTIONS_PREFIX, hour_prefix
from common.observe.feedback import Feedback
from modelctl.reports.ab.build import parse_versions
from release.alias import Routing
from release.errors import ShadowError
from release.quality import ArmSummary, Direction, compare, labels_needed
from tests.monitoring_support import LOG_BUCKET, put_feedback
from tests.unit.ab.streams import (
    MODEL_BUCKET,
    NEW,
    PRIMARY,
    START,
    ab_report,
    classifier_stream,
    put_metadata,
)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in (LOG_BUCKET, MODEL_BUCKET):
            client.create_bucket(Bucket=bucket)
        put_metadata(client)
        yield client


def arm(document: dict[str, Any], version: str) -> dict[str, Any]:
    return next(a for a in document["arms"] if a["function_version"] == version)


def test_the_figures_are_release_quality_s_on_the_same_arms(s3: Any) -> None:
    sent = classifier_stream(
        s3,
        rows={PRIMARY: 900, NEW: 300},
        labelled={PRIMARY: 800, NEW: 250},
        accuracy={PRIMARY: 0.9, NEW: 0.8},
    )
    document = ab_report(s3, routing=Routing(PRIMARY, NEW, 25.0))
    primary = ArmSummary.of_counts(sent.correct[PRIMARY], 800)
    new = ArmSummary.of_counts(sent.correct[NEW], 250)
    expected = compare(primary, new, direction=Direction.HIGHER_IS_BETTER)
    assert document["metric"] == "accuracy" and document["versions_from"] == "alias"
    assert (document["primary"], document["new"]) == (PRIMARY, NEW)
    assert arm(document, PRIMARY)["labelled"] == 800 and arm(document, NEW)["labelled"] == 250
    assert arm(document, PRIMARY)["metric"] == pytest.approx(primary.mean)
    assert arm(document, NEW)["interval"] == pytest.approx(list(new.interval() or ()))
    comparison = document["comparison"]
    assert comparison["difference"] == pytest.approx(expected.difference)
    assert comparison["difference_ci95"] == pytest.approx(list(expected.difference_ci95 or ()))
    assert comparison["p_value"] == pytest.approx(expected.p_value) and comparison["p_value"] < 0.05
    needed = labels_needed(expected, 0.02)
    assert needed is not None and document["labels_needed"] == needed.to_dict()
    assert document["effect"] == 0.02 and document["warnings"] == []


def test_a_cost_matrix_gives_the_mean_cost_per_labelled_row(s3: Any) -> None:
    costs = {"0": 5.0, "1": 1.0}
    sent = classifier_stream(
        s3,
        rows={PRIMARY: 100, NEW: 100},
        labelled={PRIMARY: 100, NEW: 100},
        accuracy={PRIMARY: 0.9, NEW: 0.7},
        cost_of_error=costs,
    )
    document = ab_report(s3, named=(PRIMARY, NEW), cost_matrix={"0": {"1": 5.0}, "1": {"0": 1.0}})
    assert document["versions_from"] == "option"
    for version in (PRIMARY, NEW):
        assert arm(document, version)["mean_cost"] == pytest.approx(sent.costs[version] / 100)
    assert document["business_metric"]["kind"] == "cost_matrix"


def test_a_reward_sent_with_the_feedback_is_averaged_and_compared_per_version(s3: Any) -> None:
    classifier_stream(
        s3,
        rows={PRIMARY: 300, NEW: 300},
        labelled={PRIMARY: 300, NEW: 300},
        accuracy={PRIMARY: 0.9, NEW: 0.9},
        reward={PRIMARY: 5.0, NEW: 3.0},
    )
    document = ab_report(s3, named=(PRIMARY, NEW), business=BusinessMetric.reward())
    assert arm(document, PRIMARY)["business_value"] == pytest.approx(5.0)
    assert arm(document, NEW)["business_value"] == pytest.approx(3.0)
    assert arm(document, NEW)["business_rows"] == 300
    assert document["business_metric"]["name"] == "mean_reward"
    business = document["business_comparison"]
    assert business["difference"] == pytest.approx(-2.0) and business["p_value"] < 0.05


def test_the_users_own_function_is_computed_over_each_versions_rows(s3: Any) -> None:
    classifier_stream(
        s3,
        rows={PRIMARY: 200, NEW: 200},
        labelled={PRIMARY: 200, NEW: 100},
        accuracy={PRIMARY: 1.0, NEW: 0.5},
    )
    metric = BusinessMetric.user_function("tests.unit.business.user_metrics:revenue")
    document = ab_report(s3, named=(PRIMARY, NEW), business=metric)
    # revenue: 10 per true 1 predicted 1, -2 per 0 predicted 1; half the truths are 1
    assert arm(document, PRIMARY)["business_value"] == pytest.approx(10 * 100 / 200)
    assert arm(document, NEW)["business_value"] < arm(document, PRIMARY)["business_value"]
    assert document["business_metric"]["kind"] == "function"


def test_coverage_counts_unjoined_and_duplicate_feedback(s3: Any) -> None:
    classifier_stream(
        s3,
        rows={PRIMARY: 60, NEW: 60},
        labelled={PRIMARY: 50, NEW: 40},
        accuracy={PRIMARY: 0.9, NEW: 0.9},
        unknown=4,
        duplicates=3,
    )
    document = ab_report(s3, routing=Routing(PRIMARY, NEW, 50.0))
    assert document["coverage"] | {"unreadable_objects": 0} == {
        "predictions_logged": 120,
        "feedback_items": 90 + 4 + 3,
        "feedback_labels": 94,
        "feedback_duplicates": 3,
        "feedback_invalid": 0,
        "joined": 90,
        "feedback_unjoined": 4,
        # received after the window's end: a later prediction could be theirs, so not "unknown"
        "feedback_unknown": 0,
        "feedback_after_window": 4,
        "feedback_before_window": 0,
        "lookback_seconds": 7 * 86400,
        "labelled_in_report": 90,
        "duplicate_records": 0,
        "unreadable_objects": 0,
    }
    warnings = " ".join(document["warnings"])
    assert "4 labels received after the window have no record" in warnings
    assert "3 repeated labels" in warnings
    assert "the sequential test runs from 100" in warnings
    assert document["comparison"]["p_value"] == 1.0  # before the burn-in


def test_a_version_with_no_labels(s3: Any) -> None:
    classifier_stream(
        s3, rows={PRIMARY: 50, NEW: 20}, labelled={PRIMARY: 50, NEW: 0}, accuracy={PRIMARY: 1.0, NEW: 0}
    )
    document = ab_report(s3, routing=Routing(PRIMARY, NEW, 10.0))
    assert arm(document, NEW)["labelled"] == 0 and arm(document, NEW)["metric"] is None
    assert document["comparison"]["difference"] is None and document["comparison"]["p_value"] == 1.0
    assert any(f"version {NEW} has no labelled rows" in w for w in document["warnings"])


def test_one_version_only_and_the_alias_without_an_extra_version(s3: Any) -> None:
    classifier_stream(s3, rows={PRIMARY: 30}, labelled={PRIMARY: 30}, accuracy={PRIMARY: 0.8})
    document = ab_report(s3, routing=Routing(PRIMARY))
    assert document["new"] is None and document["comparison"] is None and document["labels_needed"] is None
    assert any("only one version" in w for w in document["warnings"])


def test_the_window_names_the_other_version_when_the_alias_serves_one(s3: Any) -> None:
    classifier_stream(
        s3, rows={PRIMARY: 30, NEW: 10}, labelled={PRIMARY: 3, NEW: 3}, accuracy={PRIMARY: 1, NEW: 1}
    )
    document = ab_report(s3, routing=Routing(NEW))
    assert (document["primary"], document["new"], document["versions_from"]) == (NEW, PRIMARY, "window")


def test_no_feedback_at_all(s3: Any) -> None:
    classifier_stream(
        s3, rows={PRIMARY: 30, NEW: 30}, labelled={PRIMARY: 0, NEW: 0}, accuracy={PRIMARY: 0, NEW: 0}
    )
    document = ab_report(s3)
    assert document["coverage"]["feedback_labels"] == 0 and document["versions_from"] == "window"
    assert document["warnings"][0].startswith("no feedback received")
    assert document["labels_needed"] is None


def test_an_empty_window(s3: Any) -> None:
    document = ab_report(s3, named=(PRIMARY, NEW))
    assert [a["predictions"] for a in document["arms"]] == [0, 0]
    assert any("no logged predictions" in w for w in document["warnings"])


def put_regression_log(s3: Any, version: str, errors: list[float]) -> None:
    """Regression predictions written as prediction-log lines (the mirror carries class labels
    today, so the records are written in the log's layout directly) with integer true values."""
    lines = []
    for index, error in enumerate(errors):
        moment = START + timedelta(minutes=index)
        lines.append(
            {
                "record_id": f"rec-{version}-{index}",
                "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "request_id": f"{version}-{index}",
                "row_offset": 0,
                "inputs": [[1.0]],
                "live": {
                    "predictions": [10.0 + error],
                    "model_version": {PRIMARY: "m-a", NEW: "m-b"}[version],
                    "function_version": version,
                },
            }
        )
    body = gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())
    s3.put_object(
        Bucket=LOG_BUCKET, Key=f"{hour_prefix(START, PREDICTIONS_PREFIX)}{version}{OBJECT_SUFFIX}", Body=body
    )
    items = [Feedback(f"{version}-{index}", 0, 10) for index in range(len(errors))]
    put_feedback(s3, LOG_BUCKET, items, START + timedelta(hours=3))


def test_a_regressor_is_compared_on_absolute_error(s3: Any) -> None:
    put_metadata(s3, task="regression")
    put_regression_log(s3, PRIMARY, [1.0 if i % 2 else -1.0 for i in range(120)])
    put_regression_log(s3, NEW, [0.5 if i % 2 else -0.5 for i in range(120)])
    document = ab_report(s3, named=(PRIMARY, NEW))
    assert document["metric"] == "absolute_error" and document["direction"] == "lower_is_better"
    assert arm(document, PRIMARY)["metric"] == pytest.approx(1.0)
    assert arm(document, NEW)["metric"] == pytest.approx(0.5)
    assert document["comparison"]["difference"] == pytest.approx(-0.5)
    assert document["effect"] == pytest.approx(0.05)  # 5% of the primary's mean error
    with pytest.raises(ShadowError, match="classifiers only"):
        ab_report(s3, named=(PRIMARY, NEW), cost_matrix={"0": {"1": 1.0}})


def test_versions_option_is_checked() -> None:
    assert parse_versions("3, 4") == ("3", "4")
    for bad in ("3", "3,3", "3,4,5", ",4"):
        with pytest.raises(ShadowError, match="PRIMARY,NEW"):
            parse_versions(bad)


def test_the_command_s_metric_choices_are_the_metrics() -> None:
    from modelctl.commands.report_ab import METRIC_CHOICES
    from release.quality.join import Metric

    assert ("auto", *(m.value for m in Metric)) == METRIC_CHOICES
