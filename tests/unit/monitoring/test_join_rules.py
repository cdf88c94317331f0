"""The join's rules (S3 in moto, records in the recorder's row format): labels days after the
prediction, the lookback for labels of predictions made before the window, one label per
(request id, row) with the latest received winning, and every label that names no record counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.observe.feedback import Feedback
from common.observe.label_join import DEFAULT_LOOKBACK, JoinStats, joined_rows, labelled_predictions
from tests.monitoring_support import LOG_BUCKET, log_row, put_feedback, put_log_rows

BUCKET = LOG_BUCKET
SINCE = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=1)


def test_a_label_sent_days_later_joins_its_prediction(s3: Any) -> None:
    put_log_rows(s3, BUCKET, [log_row("req", 2, SINCE + timedelta(hours=3), "spam")])
    put_feedback(s3, BUCKET, [Feedback("req", 2, "ham")], SINCE + timedelta(days=4))
    stats = JoinStats()

    joined = list(
        labelled_predictions(
            s3, BUCKET, since=SINCE, until=UNTIL, feedback_until=SINCE + timedelta(days=5), stats=stats
        )
    )

    assert [(p.request_id, p.row, p.predicted, p.label) for p in joined] == [("req", 2, "spam", "ham")]
    assert (stats.feedback_matched, stats.feedback_unmatched) == (1, 0)


def test_labels_in_the_window_find_predictions_made_before_it_within_the_lookback(s3: Any) -> None:
    put_log_rows(s3, BUCKET, [log_row("early", 0, SINCE - timedelta(days=2, hours=5), 1)], name="a")
    put_log_rows(s3, BUCKET, [log_row("inside", 0, SINCE + timedelta(hours=1), 1)], name="b")
    put_feedback(s3, BUCKET, [Feedback("early", 0, 0), Feedback("inside", 0, 1)], SINCE + timedelta(hours=2))

    stats = JoinStats()
    rows = list(joined_rows(s3, BUCKET, since=SINCE, until=UNTIL, feedback_until=UNTIL, stats=stats))
    assert [(row.request_id, item.label if item else None) for row, item in rows] == [
        ("inside", 1),
        ("early", 0),
    ]
    assert (stats.feedback_matched, stats.feedback_before_window, stats.feedback_unknown) == (1, 1, 0)
    assert stats.lookback_seconds == int(DEFAULT_LOOKBACK.total_seconds()) == 7 * 86400

    short = JoinStats()
    rows = list(
        joined_rows(
            s3,
            BUCKET,
            since=SINCE,
            until=UNTIL,
            feedback_until=UNTIL,
            lookback=timedelta(days=1),
            stats=short,
        )
    )
    assert [row.request_id for row, _ in rows] == ["inside"]
    assert (short.feedback_before_window, short.feedback_unknown) == (0, 1)


def test_the_lookback_is_not_read_when_every_label_joins_in_the_window(s3: Any) -> None:
    put_log_rows(s3, BUCKET, [log_row("old", 0, SINCE - timedelta(hours=1), 1)], name="a")
    put_log_rows(s3, BUCKET, [log_row("inside", 0, SINCE + timedelta(hours=1), 1)], name="b")
    put_feedback(s3, BUCKET, [Feedback("inside", 0, 1)], SINCE + timedelta(hours=2))
    stats = JoinStats()

    rows = list(joined_rows(s3, BUCKET, since=SINCE, until=UNTIL, feedback_until=UNTIL, stats=stats))

    assert [row.request_id for row, _ in rows] == ["inside"]
    assert stats.lookback_log.read.objects == 0


def test_duplicate_feedback_counts_once_and_the_latest_received_wins(s3: Any) -> None:
    put_log_rows(s3, BUCKET, [log_row("req", 0, SINCE + timedelta(hours=1), 1)])
    put_feedback(s3, BUCKET, [Feedback("req", 0, 1)], SINCE + timedelta(hours=2))
    put_feedback(s3, BUCKET, [Feedback("req", 0, 0)], SINCE + timedelta(hours=5))  # the correction
    put_feedback(s3, BUCKET, [Feedback("req", 0, 1), Feedback("x", 0, 1)], SINCE + timedelta(hours=3))
    stats = JoinStats()

    joined = list(
        labelled_predictions(s3, BUCKET, since=SINCE, until=UNTIL, feedback_until=UNTIL, stats=stats)
    )

    assert [(p.request_id, p.label) for p in joined] == [("req", 0)]
    assert (stats.feedback_items, stats.feedback_labels, stats.feedback_duplicates) == (4, 2, 2)
    assert stats.feedback_matched == 1


def test_labels_naming_no_record_are_counted_by_when_they_arrived(s3: Any) -> None:
    put_log_rows(s3, BUCKET, [log_row("req", 0, SINCE + timedelta(hours=1), 1)])
    put_feedback(
        s3, BUCKET, [Feedback("req", 1, 1), Feedback("never", 0, 1)], SINCE + timedelta(hours=2)
    )  # row 1 of an answered request that had one row, and an id never answered
    put_feedback(s3, BUCKET, [Feedback("later", 0, 1)], UNTIL + timedelta(hours=1))
    stats = JoinStats()

    joined = list(
        labelled_predictions(
            s3, BUCKET, since=SINCE, until=UNTIL, feedback_until=UNTIL + timedelta(days=1), stats=stats
        )
    )

    assert joined == []
    assert (stats.feedback_unknown, stats.feedback_after_window, stats.feedback_unmatched) == (2, 1, 3)
    assert stats.document()["feedback_unknown"] == 2


def test_a_negative_lookback_is_refused(s3: Any) -> None:
    with pytest.raises(ValueError, match="lookback must not be negative"):
        list(joined_rows(s3, BUCKET, since=SINCE, until=UNTIL, lookback=timedelta(hours=-1)))


def test_labels_received_before_the_window_are_not_read_from_its_first_hour(s3: Any) -> None:
    start = SINCE + timedelta(minutes=30)
    put_log_rows(s3, BUCKET, [log_row("earlier", 0, SINCE + timedelta(minutes=5), 1)])
    put_feedback(s3, BUCKET, [Feedback("earlier", 0, 1)], SINCE + timedelta(minutes=10))  # same hour
    stats = JoinStats()

    rows = list(joined_rows(s3, BUCKET, since=start, until=UNTIL, feedback_until=UNTIL, stats=stats))

    assert rows == []
    assert (stats.feedback_items, stats.feedback_before_window, stats.feedback_unknown) == (0, 0, 0)
