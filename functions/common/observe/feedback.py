"""Ground-truth feedback: the `POST /feedback` body, its strict validation, and the records it becomes.

A client sends the true label of a prediction it received, naming the request by its id (and the
row, for a request of several rows):

    {"request_id": "...", "label": 1}                       one label (row 0)
    {"request_id": "...", "row": 3, "label": "spam"}        row 3 of a request
    {"feedback": [{"request_id": ..., "label": ...}, ...]}  up to `max_items` at once
    {"request_id": "...", "label": 1, "reward": 2.5}        with what the prediction was worth

For a classifier the label is one of the live model's class labels, of the same JSON type; for a
regressor it is the true value, a finite JSON number (an integer or not; never a boolean).

Each becomes one JSON line in the log bucket, gzip, one object per accepted request:

    feedback/dt=YYYY-MM-DD/hour=HH/<sha256 of the items, 32 hex>.jsonl.gz
    {"schema_version": 1, "request_id": "...", "row": 0, "label": 1, "received_at": "...Z"}

The key depends on the items only, so a client retrying the same body within the hour overwrites the
same object; readers keep the latest label per (request id, row) in any case (a correction wins).
Numpy-free: the feedback function loads no model.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.http.errors import RequestError, bad_request, json_type
from common.layout import FEEDBACK_PREFIX, OBJECT_SUFFIX, hour_prefix

FEEDBACK_SCHEMA_VERSION = 1
MAX_REQUEST_ID_LENGTH = 200
MAX_ROW = 1_000_000
_ITEM_FIELDS = frozenset({"request_id", "row", "label", "reward"})
Label = int | str | float
"""A class label (int or str), or a regressor's true value (int or float)."""
CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class Feedback:
    request_id: str
    row: int
    label: Label
    received_at: str = ""
    reward: float | None = None
    """What the prediction was worth to the client (optional; the `reward` business metric)."""

    @property
    def key(self) -> tuple[str, int]:
        return (self.request_id, self.row)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": FEEDBACK_SCHEMA_VERSION,
            "request_id": self.request_id,
            "row": self.row,
            "label": self.label,
            "received_at": self.received_at,
            **({"reward": self.reward} if self.reward is not None else {}),
        }


# -- validation of the API body ----------------------------------------------------------------------


def _field_error(path: str, message: str) -> RequestError:
    return bad_request("invalid_field", f"{path} {message}")


def _request_id(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _field_error(
            path, f"must be a string (the request id of the prediction), got {json_type(value)}"
        )
    if not 0 < len(value) <= MAX_REQUEST_ID_LENGTH:
        raise _field_error(path, f"must hold 1 to {MAX_REQUEST_ID_LENGTH} characters, got {len(value)}")
    if not value.isprintable() or value != value.strip():
        raise _field_error(path, "must hold printable characters only, without surrounding spaces")
    return value


def _row(value: Any, path: str, max_row: int) -> int:
    if type(value) is not int:
        raise _field_error(path, f"must be an integer, got {json_type(value)}")
    if not 0 <= value < max_row:
        raise _field_error(path, f"must be from 0 to {max_row - 1}, got {value}")
    return value


def _label(value: Any, path: str, class_labels: Sequence[Label]) -> Label:
    # Exact types: a model with integer labels takes 1, not "1", 1.0 or true.
    for known in class_labels:
        if type(value) is type(known) and value == known:
            return known
    shown = json.dumps(value)[:60] if json_type(value) in ("number", "string", "boolean", "null") else None
    choices = ", ".join(json.dumps(label) for label in class_labels)
    got = shown if shown is not None else json_type(value)
    raise _field_error(path, f"must be one of the model's class labels {choices}, got {got}")


def is_true_value(value: Any) -> bool:
    """A regressor's true value: a JSON number (not a boolean) that is a finite float."""
    if type(value) is int:
        return abs(value) <= sys.float_info.max  # compares without converting, whatever the int's size
    return type(value) is float and math.isfinite(value)


def _true_value(value: Any, path: str) -> Label:
    if is_true_value(value):
        assert isinstance(value, int | float)
        return value
    kind = json_type(value)
    shown = json.dumps(value)[:60] if kind in ("number", "string", "boolean", "null") else kind
    raise _field_error(
        path, f"must be a finite number (the true value for the regression model), got {shown}"
    )


def _item(
    value: Any, path: str, class_labels: Sequence[Label], max_row: int, task: str = CLASSIFICATION
) -> Feedback:
    if not isinstance(value, dict):
        raise _field_error(path or "the body", f"must be an object, got {json_type(value)}")
    prefix = f"{path}." if path else ""
    unknown = sorted(set(value) - _ITEM_FIELDS)
    if unknown:
        raise _field_error(
            f"{prefix}{unknown[0][:40]}",
            "is not a known field: use request_id, label and optionally row and reward",
        )
    for name in ("request_id", "label"):
        if name not in value:
            raise _field_error(f"{prefix}{name}", "is missing")
    return Feedback(
        request_id=_request_id(value["request_id"], f"{prefix}request_id"),
        row=_row(value["row"], f"{prefix}row", max_row) if "row" in value else 0,
        label=(
            _true_value(value["label"], f"{prefix}label")
            if task == REGRESSION
            else _label(value["label"], f"{prefix}label", class_labels)
        ),
        reward=_reward(value["reward"], f"{prefix}reward") if "reward" in value else None,
    )


def _reward(value: Any, path: str) -> float:
    if is_true_value(value):
        return float(value)
    raise _field_error(
        path, f"must be a finite number (what the prediction was worth), got {json_type(value)}"
    )


def parse_feedback(
    document: dict[str, Any],
    *,
    class_labels: Sequence[Label],
    max_items: int,
    max_row: int = MAX_ROW,
    task: str = CLASSIFICATION,
) -> list[Feedback]:
    """A parsed JSON object -> the feedback it holds; RequestError (400) naming the field otherwise.
    `task` is the live model's: a regressor's labels are numbers, a classifier's its class labels."""
    if "feedback" in document:
        if set(document) != {"feedback"}:
            other = sorted(set(document) - {"feedback"})[0]
            raise _field_error(other[:40], 'is not allowed beside "feedback"')
        items = document["feedback"]
        if not isinstance(items, list):
            raise _field_error("feedback", f"must be an array of objects, got {json_type(items)}")
        if not 0 < len(items) <= max_items:
            raise _field_error("feedback", f"must hold 1 to {max_items} items, got {len(items)}")
        parsed = [_item(item, f"feedback[{i}]", class_labels, max_row, task) for i, item in enumerate(items)]
    else:
        parsed = [_item(document, "", class_labels, max_row, task)]
    seen: dict[tuple[str, int], int] = {}
    for index, item in enumerate(parsed):
        if item.key in seen:
            raise _field_error(
                f"feedback[{index}]",
                f"repeats request_id {item.request_id!r} row {item.row} of feedback[{seen[item.key]}]",
            )
        seen[item.key] = index
    return parsed


# -- records in the log bucket -----------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def object_key(received_at: datetime, items: Iterable[Feedback]) -> str:
    """Named by the items (not the time of receipt): the same body sent again in the same hour
    overwrites its object instead of adding a copy."""
    canonical = sorted(
        json.dumps([f.request_id, f.row, f.label] + ([f.reward] if f.reward is not None else []))
        for f in items
    )
    digest = hashlib.sha256("\n".join(canonical).encode()).hexdigest()[:32]
    return f"{hour_prefix(received_at, FEEDBACK_PREFIX)}{digest}{OBJECT_SUFFIX}"


def encode_records(items: Sequence[Feedback]) -> bytes:
    text = "".join(json.dumps(item.to_dict(), separators=(",", ":")) + "\n" for item in items)
    return gzip.compress(text.encode(), compresslevel=6, mtime=0)


def parse_record(document: Any) -> Feedback | None:
    """One stored line -> Feedback, or None when it is not a valid feedback record."""
    if not isinstance(document, dict) or document.get("schema_version") != FEEDBACK_SCHEMA_VERSION:
        return None
    request_id, row, label = document.get("request_id"), document.get("row"), document.get("label")
    received_at = document.get("received_at")
    if not isinstance(request_id, str) or not request_id or type(row) is not int or row < 0:
        return None
    if (
        not isinstance(label, int | str | float)
        or isinstance(label, bool)
        or not isinstance(received_at, str)
    ):
        return None
    if isinstance(label, float) and not math.isfinite(label):
        return None
    reward = document.get("reward")
    if reward is not None and not is_true_value(reward):
        reward = None
    return Feedback(
        request_id=request_id,
        row=row,
        label=label,
        received_at=received_at,
        reward=float(reward) if reward is not None else None,
    )
