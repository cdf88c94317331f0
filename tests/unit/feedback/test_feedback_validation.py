"""Strict validation of feedback bodies: every mistake is a 400 naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from common.http.errors import RequestError
from common.observe.feedback import Feedback, object_key, parse_feedback, parse_record

LABELS = [0, 1]


def parse(document: dict[str, Any], labels: list[Any] | None = None, max_items: int = 3) -> list[Feedback]:
    return parse_feedback(document, class_labels=labels or LABELS, max_items=max_items)


def test_one_label_and_a_batch_are_accepted() -> None:
    assert parse({"request_id": "r1", "label": 1}) == [Feedback("r1", 0, 1)]
    assert parse(
        {"feedback": [{"request_id": "r1", "label": 0, "row": 2}, {"request_id": "r2", "label": 1}]}
    ) == [
        Feedback("r1", 2, 0),
        Feedback("r2", 0, 1),
    ]
    assert parse({"request_id": "r", "label": "spam"}, labels=["ham", "spam"]) == [Feedback("r", 0, "spam")]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"label": 1}, "request_id is missing"),
        ({"request_id": "r"}, "label is missing"),
        ({"request_id": 7, "label": 1}, "request_id must be a string"),
        ({"request_id": "", "label": 1}, "request_id must hold 1 to 200 characters"),
        ({"request_id": "a\nb", "label": 1}, "request_id must hold printable characters"),
        ({"request_id": "r", "label": 2}, "label must be one of the model's class labels 0, 1, got 2"),
        ({"request_id": "r", "label": "1"}, 'label must be one of the model\'s class labels 0, 1, got "1"'),
        ({"request_id": "r", "label": True}, "label must be one of the model's class labels 0, 1, got true"),
        ({"request_id": "r", "label": 1.0}, "label must be one of the model's class labels 0, 1, got 1.0"),
        ({"request_id": "r", "label": [1]}, "label must be one of the model's class labels 0, 1, got array"),
        ({"request_id": "r", "label": 1, "row": -1}, "row must be from 0 to"),
        ({"request_id": "r", "label": 1, "row": 1.5}, "row must be an integer, got number"),
        ({"request_id": "r", "label": 1, "score": 3}, "score is not a known field"),
        ({"feedback": {}}, "feedback must be an array of objects, got object"),
        ({"feedback": []}, "feedback must hold 1 to 3 items, got 0"),
        ({"feedback": [{"request_id": "r", "label": 1}] * 4}, "feedback must hold 1 to 3 items, got 4"),
        (
            {"feedback": [{"request_id": "r", "label": 1}], "label": 1},
            'label is not allowed beside "feedback"',
        ),
        ({"feedback": [{"request_id": "r", "label": 1}, 3]}, "feedback[1] must be an object, got number"),
        (
            {"feedback": [{"request_id": "r", "label": 1}, {"request_id": "r", "label": 5}]},
            "feedback[1].label",
        ),
        (
            {"feedback": [{"request_id": "r", "label": 1}, {"request_id": "r", "label": 0}]},
            "feedback[1] repeats request_id 'r' row 0 of feedback[0]",
        ),
    ],
)
def test_each_mistake_is_a_400_naming_the_field(document: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse(document)
    assert caught.value.status == 400 and caught.value.code == "invalid_field"
    assert message in caught.value.message


def test_the_object_key_depends_on_the_items_and_hour_only() -> None:
    from datetime import UTC, datetime

    items = [Feedback("r1", 0, 1), Feedback("r2", 3, 0)]
    at = datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    key = object_key(at, items)
    assert key.startswith("feedback/dt=2026-03-01/hour=10/") and key.endswith(".jsonl.gz")
    assert object_key(at.replace(minute=59), list(reversed(items))) == key
    assert object_key(at, [Feedback("r1", 0, 0), Feedback("r2", 3, 0)]) != key


def test_stored_lines_that_are_not_feedback_records_are_rejected() -> None:
    good = {
        "schema_version": 1,
        "request_id": "r",
        "row": 0,
        "label": 1,
        "received_at": "2026-03-01T10:00:00.000Z",
    }
    assert parse_record(good) == Feedback("r", 0, 1, "2026-03-01T10:00:00.000Z")
    broken_lines: list[Any] = [
        {**good, "schema_version": 2},
        {**good, "row": -1},
        {**good, "label": None},
        [],
        "x",
    ]
    for broken in broken_lines:
        assert parse_record(broken) is None


def test_the_feedback_function_loads_no_numpy() -> None:
    """Its bundle holds no numpy (functions/feedback/requirements.txt): the body checks it shares
    with /predict live in the numpy-free common.http.request_body."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    probe = (
        "import sys; import feedback.service, feedback.api, common.observe.feedback, "
        "common.http.request_body; "
        "print('numpy' in sys.modules)"
    )
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(root / "functions")}
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
