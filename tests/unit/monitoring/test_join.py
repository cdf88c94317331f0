"""The join of logged predictions with feedback, against an S3 bucket (moto): by request id and row,
latest label wins, live-only and shadow records both count, and what cannot be joined is counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from common.observe.feedback import Feedback
from common.observe.label_join import JoinStats, LabelledPrediction, labelled_predictions
from tests.monitoring_support import LOG_BUCKET, logged_record, put_feedback, put_records

BUCKET = LOG_BUCKET
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_a_label_joins_its_prediction_row_with_inputs_and_versions(s3: Any) -> None:
    # GIVEN a live-only record of two rows and a shadowed record, and feedback for row 1 of the first
    put_records(
        s3,
        BUCKET,
        [
            logged_record("req-a", T0 + timedelta(minutes=5), [[1.0, 2.0], [3.5, 4.25]], [0, 1]),
            logged_record("req-b", T0 + timedelta(minutes=6), [[5.0, 6.0]], [0], candidate="m-cand"),
        ],
    )
    put_feedback(s3, BUCKET, [Feedback("req-a", 1, 0), Feedback("req-b", 0, 0)], T0 + timedelta(hours=2))

    # WHEN the window's labelled predictions are read
    joined = sorted(
        labelled_predictions(s3, BUCKET, since=T0, until=T0 + timedelta(hours=1)), key=lambda p: p.request_id
    )

    # THEN each labelled row comes with what the model saw and answered
    assert joined == [
        LabelledPrediction(
            request_id="req-a",
            row=1,
            requested_at=T0 + timedelta(minutes=5),
            model_version="m-live",
            function_version="3",
            features=[3.5, 4.25],
            predicted=1,
            label=0,
        ),
        LabelledPrediction(
            request_id="req-b",
            row=0,
            requested_at=T0 + timedelta(minutes=6),
            model_version="m-live",
            function_version="3",
            features=[5.0, 6.0],
            predicted=0,
            label=0,
        ),
    ]


def test_the_latest_label_wins_and_redelivered_records_count_once(s3: Any) -> None:
    record = logged_record("req-a", T0 + timedelta(minutes=1), [[1.0]], ["spam"])
    put_records(s3, BUCKET, [record])
    put_records(s3, BUCKET, [record, logged_record("req-c", T0 + timedelta(minutes=2), [[2.0]], ["ham"])])
    put_feedback(s3, BUCKET, [Feedback("req-a", 0, "ham")], T0 + timedelta(minutes=30))
    put_feedback(s3, BUCKET, [Feedback("req-a", 0, "spam")], T0 + timedelta(hours=3))  # a correction

    stats = JoinStats()
    joined = list(labelled_predictions(s3, BUCKET, since=T0, until=T0 + timedelta(hours=1), stats=stats))

    assert [(p.request_id, p.label) for p in joined] == [("req-a", "spam")]
    assert (stats.log.rows, stats.log.duplicate_records) == (2, 1)
    assert (stats.feedback_items, stats.feedback_labels, stats.feedback_matched) == (2, 1, 1)


def test_feedback_without_a_logged_prediction_is_counted_not_joined(s3: Any) -> None:
    put_records(s3, BUCKET, [logged_record("req-a", T0 + timedelta(minutes=1), [[1.0]], [1])])
    put_feedback(
        s3, BUCKET, [Feedback("never-logged", 0, 1), Feedback("req-a", 0, 1)], T0 + timedelta(hours=1)
    )

    stats = JoinStats()
    joined = list(labelled_predictions(s3, BUCKET, since=T0, until=T0 + timedelta(hours=1), stats=stats))

    assert [p.request_id for p in joined] == ["req-a"]
    assert (stats.feedback_matched, stats.feedback_unmatched) == (1, 1)


def test_predictions_outside_the_window_are_left_out_unless_labelled_in_it(s3: Any) -> None:
    put_records(
        s3,
        BUCKET,
        [
            logged_record("before", T0 - timedelta(seconds=1), [[1.0]], [1]),
            logged_record("inside", T0, [[1.0]], [1]),
            logged_record("after", T0 + timedelta(hours=1), [[1.0]], [1]),
        ],
    )
    put_feedback(
        s3, BUCKET, [Feedback(r, 0, 1) for r in ("before", "inside", "after")], T0 + timedelta(hours=2)
    )

    stats = JoinStats()
    joined = labelled_predictions(s3, BUCKET, since=T0, until=T0 + timedelta(hours=1), stats=stats)

    # "before" was labelled in the window: it joins through the lookback, after the window's rows;
    # "after" was made after the window: its label (received after it too) is not called unknown
    assert [p.request_id for p in joined] == ["inside", "before"]
    assert (stats.feedback_matched, stats.feedback_before_window) == (1, 1)
    assert (stats.feedback_unknown, stats.feedback_after_window) == (0, 1)
    assert stats.window_rows == 1

    without = JoinStats()
    joined = labelled_predictions(
        s3, BUCKET, since=T0, until=T0 + timedelta(hours=1), lookback=timedelta(0), stats=without
    )
    assert [p.request_id for p in joined] == ["inside"]
    assert (without.feedback_before_window, without.feedback_after_window) == (0, 2)


def test_unreadable_objects_and_lines_are_counted_and_skipped(s3: Any) -> None:
    put_records(s3, BUCKET, [logged_record("req-a", T0 + timedelta(minutes=1), [[1.0]], [1])])
    s3.put_object(Bucket=BUCKET, Key="predictions/dt=2026-03-01/hour=10/broken.jsonl.gz", Body=b"not gzip")
    put_feedback(s3, BUCKET, [Feedback("req-a", 0, 0)], T0 + timedelta(minutes=10))

    stats = JoinStats()
    joined = list(labelled_predictions(s3, BUCKET, since=T0, until=T0 + timedelta(hours=1), stats=stats))

    assert [(p.request_id, p.predicted, p.label) for p in joined] == [("req-a", 1, 0)]
    assert stats.log.read.unreadable_objects == 1


def test_an_empty_bucket_joins_nothing(s3: Any) -> None:
    assert list(labelled_predictions(s3, BUCKET, since=T0, until=T0 + timedelta(days=2))) == []
