"""Reading the prediction log (S3 in moto): the recorder's `prediction-log/` (one record per answered
row, inputs for the sampled share only) and the older `records/` / `predictions/` in one window, each
(request id, row) once, bad lines counted."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from typing import Any

from common.layout import OBJECT_SUFFIX, PREDICTION_LOG_PREFIX, hour_prefix
from common.observe.prediction_log import LogStats, prediction_rows
from tests.monitoring_support import LOG_BUCKET, log_row, logged_record, put_log_rows, put_records

BUCKET = LOG_BUCKET
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SINCE, UNTIL = T0, T0 + timedelta(hours=2)


def test_row_records_are_read_with_and_without_inputs(s3: Any) -> None:
    put_log_rows(
        s3,
        BUCKET,
        [
            log_row("a", 0, T0 + timedelta(minutes=1), 1, features=[0.5, 2.0], function_version="4"),
            log_row("a", 1, T0 + timedelta(minutes=1), 0, function_version="4"),
            log_row("r", 0, T0 + timedelta(minutes=2), 12.5, task="regression"),
        ],
    )
    stats = LogStats()
    rows = list(prediction_rows(s3, BUCKET, since=SINCE, until=UNTIL, stats=stats))

    assert [(r.request_id, r.row, r.predicted, r.features) for r in rows] == [
        ("a", 0, 1, [0.5, 2.0]),
        ("a", 1, 0, None),
        ("r", 0, 12.5, None),
    ]
    assert rows[0].function_version == "4" and rows[0].probabilities == [0.5, 0.5]
    assert rows[2].task == "regression" and rows[2].probabilities is None
    assert rows[0].requested_at == T0 + timedelta(minutes=1)
    assert (stats.rows, stats.rows_with_features, stats.invalid_records) == (3, 1, 0)


def test_the_new_and_the_older_prefixes_are_read_together(s3: Any) -> None:
    put_records(
        s3,
        BUCKET,
        [
            logged_record("old-live", T0 + timedelta(minutes=5), [[1.0], [2.0]], [0, 1]),
            logged_record("old-shadow", T0 + timedelta(minutes=6), [[3.0]], [1], candidate="m-cand"),
        ],
    )
    put_log_rows(s3, BUCKET, [log_row("new", 0, T0 + timedelta(minutes=7), 1)])

    rows = list(prediction_rows(s3, BUCKET, since=SINCE, until=UNTIL))

    assert sorted((r.request_id, r.row) for r in rows) == [
        ("new", 0),
        ("old-live", 0),
        ("old-live", 1),
        ("old-shadow", 0),
    ]
    assert all(r.features is not None for r in rows if r.request_id.startswith("old"))


def test_a_row_delivered_twice_is_read_once(s3: Any) -> None:
    # the same log lines in two batches (a redelivery with another batch name), and a part record
    # written before the log for the same request: each (request id, row) once
    moment = T0 + timedelta(minutes=3)
    batch = [log_row("dup", 0, moment, 1), log_row("dup", 1, moment, 0)]
    put_log_rows(s3, BUCKET, batch, name="first")
    put_log_rows(s3, BUCKET, [*batch, log_row("other", 0, moment, 1)], name="second")
    put_records(s3, BUCKET, [logged_record("dup", moment, [[1.0], [2.0]], [1, 0])])
    stats = LogStats()

    rows = list(prediction_rows(s3, BUCKET, since=SINCE, until=UNTIL, stats=stats))

    assert sorted((r.request_id, r.row) for r in rows) == [("dup", 0), ("dup", 1), ("other", 0)]
    assert stats.duplicate_records == 4
    assert stats.rows == 3


def test_rows_outside_the_window_and_bad_lines_are_counted(s3: Any) -> None:
    put_log_rows(
        s3,
        BUCKET,
        [
            log_row("in", 0, T0, 1),
            log_row("late", 0, T0 + timedelta(hours=1, minutes=59, seconds=59), 1),
        ],
    )
    put_log_rows(s3, BUCKET, [log_row("out", 0, T0 + timedelta(hours=2), 1)], name="next")
    bad_lines = [
        b'{"request_id": "x", "row": -1, "requested_at": "2026-12-07T10:00:00.000Z"}',
        b'{"request_id": "y", "row": 0, "requested_at": "2026-12-07T10:00:00.000Z", "model_version": "m",'
        b' "function_version": "1", "prediction": 1, "features": [1, "two"]}',
        b"not json",
    ]
    key = f"{hour_prefix(T0, PREDICTION_LOG_PREFIX)}bad{OBJECT_SUFFIX}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(b"\n".join(bad_lines)))
    stats = LogStats()

    rows = list(prediction_rows(s3, BUCKET, since=SINCE, until=UNTIL, stats=stats))

    assert sorted(r.request_id for r in rows) == ["in", "late"]
    assert (stats.invalid_records, stats.read.unreadable_lines) == (2, 1)
    assert stats.outside_window == 0  # "out" is in the next hour's partition, not listed
