"""Strict parsing of prediction requests into a float32 matrix (the body itself: common.http.request_body).

Every way a body can be wrong maps to a RequestError that names what was wrong; nothing here
raises anything else for any input.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Any

import numpy as np

from common.http.errors import bad_request, json_type
from common.http.request_body import (
    RequestLimits,
    check_content_type,
    decode_body,
    parse_json_object,
)

__all__ = [  # the request-body steps are re-exported: /predict's parsing is one import
    "FLOAT32_MAX",
    "RequestLimits",
    "check_content_type",
    "decode_body",
    "parse_instances",
    "parse_json_object",
]

FLOAT32_MAX = float(np.finfo(np.float32).max)
_NUMBER_TYPES = (int, float)
_NUMBER_TYPE_SET = frozenset(_NUMBER_TYPES)


def _check_value(value: Any, row_index: int, feature: str) -> float:
    if type(value) not in _NUMBER_TYPES:  # bool is a subclass of int: excluded by the exact check
        raise bad_request(
            "invalid_value",
            f"instances[{row_index}] feature {feature!r} must be a number, got {json_type(value)}",
        )
    number = float(value) if type(value) is float else _int_to_float(value, row_index, feature)
    if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
        raise bad_request(
            "invalid_number",
            f"instances[{row_index}] feature {feature!r} is out of float32 range",
        )
    return number


def _int_to_float(value: int, row_index: int, feature: str) -> float:
    try:
        return float(value)
    except OverflowError as exc:
        raise bad_request(
            "invalid_number", f"instances[{row_index}] feature {feature!r} is out of float32 range"
        ) from exc


def _row_from_list(row: list[Any], index: int, feature_names: list[str]) -> list[float]:
    if len(row) != len(feature_names):
        raise bad_request(
            "wrong_row_length",
            f"instances[{index}] has {len(row)} values; the model takes {len(feature_names)} "
            f"features in this order: {', '.join(feature_names)}",
        )
    return [_check_value(value, index, name) for value, name in zip(row, feature_names, strict=True)]


def _row_from_dict(row: dict[str, Any], index: int, feature_names: list[str]) -> list[float]:
    unknown = [key for key in row if key not in _feature_set(feature_names)]
    if unknown:
        raise bad_request(
            "unknown_feature",
            f"instances[{index}] has unknown features: {', '.join(map(repr, sorted(unknown)))}",
        )
    missing = [name for name in feature_names if name not in row]
    if missing:
        raise bad_request(
            "missing_feature",
            f"instances[{index}] is missing features: {', '.join(map(repr, missing))}",
        )
    return [_check_value(row[name], index, name) for name in feature_names]


_PYTHON_RANGE_CHECK_MAX = 256
"""Up to this many values the range check runs on the Python list (three C loops, no array
temporaries); above it numpy's reductions are cheaper."""


def leaves_are_numbers(body_text: str) -> bool:
    """For a body that parsed to an object whose only key is "instances": True when its text
    proves every value under "instances" is an array or a number. Two quote characters are the
    key's (so no other string, and the key's text holds no escape that could hide a brace), one
    "{" is the top object (so no other object), and without "u" and "l" there is no true, false or
    null (each holds one of them; "instances" holds neither). C-speed scans of the text, instead of
    one type check per value in Python."""
    return (
        body_text.count('"') == 2
        and body_text.count("{") == 1
        and "u" not in body_text
        and "l" not in body_text
    )


def _clean_list_rows(instances: list[Any], width: int, *, numbers_known: bool = False) -> np.ndarray | None:
    """The float32 matrix in one numpy conversion when every row is a list of `width` JSON numbers
    (int or float, not bool) within float32 range; None otherwise, and the per-value checks below
    then find the first bad value and name it. Accepts exactly what those checks accept, with the
    same values: the range test runs on the float64 values, like theirs, before the cast."""
    for row in instances:
        if type(row) is not list or len(row) != width:
            return None
    small = len(instances) * width <= _PYTHON_RANGE_CHECK_MAX
    values = list(chain.from_iterable(instances)) if small else []
    if small or not numbers_known:
        types = set(map(type, values if small else chain.from_iterable(instances)))
        if not types <= _NUMBER_TYPE_SET:
            return None
    try:
        if small:
            # In range and no NaN: max/min bound every value (exact int/float comparisons) and,
            # with all values bounded, the sum is finite unless a NaN is present.
            total = sum(values)
            if not (max(values) <= FLOAT32_MAX and min(values) >= -FLOAT32_MAX and total - total == 0):
                return None
            if int not in types:  # Python floats: one rounding, to float32
                return np.array(instances, dtype=np.float32)
        matrix = np.array(instances, dtype=np.float64)  # ints to float64 first, like float(value)
    except OverflowError:  # an integer beyond float64
        return None
    except ValueError:  # numbers_known: an array among a row's values (a ragged nesting)
        return None
    if not small and not (matrix.max() <= FLOAT32_MAX and matrix.min() >= -FLOAT32_MAX):  # NaN fails
        return None
    return matrix.astype(np.float32)


_feature_sets: dict[int, frozenset[str]] = {}


def _feature_set(feature_names: list[str]) -> frozenset[str]:
    key = id(feature_names)
    cached = _feature_sets.get(key)
    if cached is None:
        cached = _feature_sets[key] = frozenset(feature_names)
    return cached


def parse_instances(
    document: dict[str, Any],
    *,
    feature_names: list[str],
    limits: RequestLimits,
    body_text: str | None = None,
) -> np.ndarray:
    """The float32 rows of a parsed body. `body_text`, the text `document` was parsed from, lets
    a large request skip the per-value type check when the text proves every value is a number."""
    unknown = [key for key in document if key != "instances"]
    if unknown:
        raise bad_request(
            "unknown_field",
            f"unknown fields: {', '.join(map(repr, sorted(unknown)))}; the body takes only 'instances'",
        )
    if "instances" not in document:
        raise bad_request("missing_field", "the body must have an 'instances' field")
    instances = document["instances"]
    if not isinstance(instances, list):
        raise bad_request("invalid_instances", f"'instances' must be an array, got {json_type(instances)}")
    if not instances:
        raise bad_request("empty_instances", "'instances' is empty: send at least one row")
    if len(instances) > limits.max_rows:
        raise bad_request(
            "too_many_rows", f"'instances' has {len(instances)} rows; the limit is {limits.max_rows}"
        )
    width = len(feature_names)
    numbers_known = (
        body_text is not None
        and len(instances) * width > _PYTHON_RANGE_CHECK_MAX
        and leaves_are_numbers(body_text)
    )
    fast = _clean_list_rows(instances, width, numbers_known=numbers_known)
    if fast is not None:
        return fast
    return _checked_rows(instances, feature_names)


def _checked_rows(instances: list[Any], feature_names: list[str]) -> np.ndarray:
    """Every row and value checked one by one: raises the error naming the first bad one."""
    rows: list[list[float]] = []
    for index, row in enumerate(instances):
        if isinstance(row, list):
            rows.append(_row_from_list(row, index, feature_names))
        elif isinstance(row, dict):
            rows.append(_row_from_dict(row, index, feature_names))
        else:
            raise bad_request(
                "invalid_row",
                f"instances[{index}] must be an array of numbers or an object of feature: number, "
                f"got {json_type(row)}",
            )
    return np.asarray(rows, dtype=np.float32)
