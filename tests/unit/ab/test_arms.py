"""Per-version labelled arms (`release.quality.join`): on known joined rows, and on a log bucket
(moto) with late, duplicate and unknown-id feedback."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from common.business_metric import parse_cost_matrix
from common.observe.feedback import Feedback
from common.observe.label_join import JoinStats
from common.observe.prediction_log import PredictionRow
from release.quality import ArmSummary, Direction
from release.quality.join import Metric, VersionArm, row_metric, version_arms, window_arms
from tests.monitoring_support import LOG_BUCKET
from tests.unit.ab.streams import NEW, NOW, PRIMARY, START, classifier_stream


def row(version: str, index: int, predicted: Any, model: str = "m") -> PredictionRow:
    return PredictionRow(f"r{version}-{index}", 0, START, model, version, [0.0], predicted)


def label(value: Any) -> Feedback:
    return Feedback("x", 0, value)


def test_each_function_version_gets_its_own_arm_of_labelled_rows() -> None:
    rows = [
        (row(PRIMARY, 0, 1), label(1)),
        (row(PRIMARY, 1, 0), label(1)),
        (row(PRIMARY, 2, 0), None),
        (row(NEW, 0, 1), label(1)),
    ]
    arms = version_arms(rows, metric=Metric.ACCURACY)
    assert list(arms) == [PRIMARY, NEW]
    assert (arms[PRIMARY].predictions, arms[PRIMARY].labelled) == (3, 2)
    assert arms[PRIMARY].summary == ArmSummary.of_counts(1, 2)
    assert arms[NEW].summary == ArmSummary.of_counts(1, 1)


def test_a_named_version_without_rows_is_present_and_empty() -> None:
    arms = version_arms([(row(PRIMARY, 0, 1), label(1))], metric=Metric.ACCURACY, versions=[PRIMARY, "9"])
    assert arms["9"].predictions == 0 and arms["9"].summary.n == 0
    assert arms["9"].summary.to_dict()["metric"] is None


def test_a_version_with_predictions_but_no_labels_has_an_empty_summary() -> None:
    arms = version_arms([(row(PRIMARY, 0, 1), label(1)), (row(NEW, 0, 1), None)], metric=Metric.ACCURACY)
    assert arms[NEW].predictions == 1 and arms[NEW].labelled == 0 and arms[NEW].summary.n == 0


def test_regressors_get_the_absolute_error_lower_is_better() -> None:
    rows = [
        (row(PRIMARY, 0, 2.5), label(3)),
        (row(PRIMARY, 1, 1.0), label(0)),
        (row(PRIMARY, 2, 1.0), label("a")),
    ]
    (arm,) = version_arms(rows, metric=Metric.ABSOLUTE_ERROR).values()
    assert arm.summary == ArmSummary.of([0.5, 1.0], binary=False)
    assert arm.unscorable == 1 and arm.labelled == 3
    assert Metric.ABSOLUTE_ERROR.direction is Direction.LOWER_IS_BETTER


def test_the_metric_can_be_chosen_from_the_first_labelled_row() -> None:
    seen: list[str] = []

    def by_model(r: PredictionRow) -> Metric:
        seen.append(r.model_version)
        return Metric.ABSOLUTE_ERROR

    arms = version_arms(
        [(row(PRIMARY, 0, 2.0, "reg"), None), (row(PRIMARY, 1, 2.0, "reg"), label(1))], metric=by_model
    )
    assert seen == ["reg"] and arms[PRIMARY].metric is Metric.ABSOLUTE_ERROR


def test_row_metric_and_cost_matrix() -> None:
    assert row_metric(Metric.ACCURACY, "spam", "spam") == 1.0
    assert row_metric(Metric.ACCURACY, 1, 0) == 0.0
    assert row_metric(Metric.ABSOLUTE_ERROR, True, 1.0) is None
    matrix = parse_cost_matrix({"0": {"1": 5}, "1": {"0": 1.5}})
    rows = [(row(PRIMARY, 0, 1), label(0)), (row(PRIMARY, 1, 0), label(1)), (row(PRIMARY, 2, 1), label(1))]
    (arm,) = version_arms(rows, metric=Metric.ACCURACY, cost_matrix=matrix).values()
    assert arm.mean_cost == pytest.approx((5 + 1.5 + 0) / 3)
    bad: Any
    for bad in ([], {"0": 3}, {"0": {"1": -1}}, {"0": {"1": "x"}}):
        with pytest.raises(ValueError):
            parse_cost_matrix(bad)


def first_day_arms(s3: Any, *, feedback_until: datetime) -> tuple[dict[str, VersionArm], JoinStats]:
    """The accuracy arms of the stream's first day, with the feedback received until then."""
    return window_arms(
        s3,
        LOG_BUCKET,
        since=START,
        until=START + timedelta(days=1),
        metric=Metric.ACCURACY,
        feedback_until=feedback_until,
    )


def test_counts_equal_the_feedback_sent_with_late_duplicate_and_unknown_labels(s3: Any) -> None:
    # GIVEN two versions, labels arriving a day late, 10 sent twice, 7 naming unlogged requests
    sent = classifier_stream(
        s3,
        rows={PRIMARY: 300, NEW: 120},
        labelled={PRIMARY: 200, NEW: 80},
        accuracy={PRIMARY: 0.9, NEW: 0.75},
        unknown=7,
        duplicates=10,
    )
    # WHEN the window's arms are built
    arms, stats = first_day_arms(s3, feedback_until=NOW)
    # THEN each version's labelled rows equal the distinct labels sent for it, duplicates once
    for version in (PRIMARY, NEW):
        assert arms[version].predictions == sent.logged[version]
        assert arms[version].labelled == sent.labels[version]
        assert arms[version].summary == ArmSummary.of_counts(sent.correct[version], sent.labels[version])
    assert stats.feedback_matched == 280 and stats.feedback_unmatched == 7
    assert stats.feedback_items - stats.feedback_labels == 10


def test_feedback_received_after_feedback_until_is_not_counted(s3: Any) -> None:
    classifier_stream(s3, rows={PRIMARY: 50}, labelled={PRIMARY: 50}, accuracy={PRIMARY: 1.0}, late_days=2)
    arms, stats = first_day_arms(s3, feedback_until=START + timedelta(days=1))
    assert arms[PRIMARY].labelled == 0 and stats.feedback_labels == 0


def test_one_version_only(s3: Any) -> None:
    classifier_stream(s3, rows={PRIMARY: 40}, labelled={PRIMARY: 30}, accuracy={PRIMARY: 0.5})
    arms, _ = first_day_arms(s3, feedback_until=NOW)
    assert list(arms) == [PRIMARY] and arms[PRIMARY].summary == ArmSummary.of_counts(15, 30)
