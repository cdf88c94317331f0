"""What the inference tests share beside their fixtures: the invoke signature, the log-line split,
a trained regressor's reference, and the bad request bodies every served model must refuse."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.model.metadata import ModelMetadata

Invoke = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class RegressionReference:
    """A trained regressor's artifact with what it must match: scikit-learn's fitted estimator
    and the float32 holdout rows."""

    artifact_dir: Path
    metadata: ModelMetadata
    estimator: Any
    X_holdout: np.ndarray

    def expected(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict(np.asarray(X, dtype=np.float64)), dtype=np.float64)


def within_parity(got: list[float], expected: np.ndarray) -> bool:
    """Issue 15's parity bound: |y_served - y_sklearn| <= 1e-5 x max(1, |y_sklearn|), row by row."""
    served = np.asarray(got, dtype=np.float64)
    return served.shape == expected.shape and bool(
        np.all(np.abs(served - expected) <= 1e-5 * np.maximum(1.0, np.abs(expected)))
    )


def split_lines(stream: io.StringIO) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(log lines, EMF metrics lines) written so far."""
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if "_aws" not in line], [line for line in lines if "_aws" in line]


def bad_bodies(width: int) -> dict[str, tuple[Any, int, str]]:
    """Every malformed /predict body, for a model with `width` features: case -> (body as a JSON
    document or raw text, status, error code). The handler is set up with MAX_ROWS=50 and
    MAX_BODY_BYTES=60000."""
    row = [1.0] * width
    rest = ", 1.0" * (width - 1)
    return {
        "invalid json": ("{not json", 400, "invalid_json"),
        "not an object": ("[1, 2]", 400, "invalid_body"),
        "missing instances": ({"rows": [row]}, 400, "unknown_field"),
        "no fields": ({}, 400, "missing_field"),
        "unknown field beside instances": ({"instances": [row], "extra": 1}, 400, "unknown_field"),
        "instances not a list": ({"instances": {"a": 1}}, 400, "invalid_instances"),
        "empty instances": ({"instances": []}, 400, "empty_instances"),
        "too many rows": ({"instances": [row] * 51}, 400, "too_many_rows"),
        "short row": ({"instances": [row[:-1]]}, 400, "wrong_row_length"),
        "long row": ({"instances": [[*row, 1.0]]}, 400, "wrong_row_length"),
        "string value": ({"instances": [["1.0", *row[1:]]]}, 400, "invalid_value"),
        "boolean value": ({"instances": [[True, *row[1:]]]}, 400, "invalid_value"),
        "null value": ({"instances": [[None, *row[1:]]]}, 400, "invalid_value"),
        "nested value": ({"instances": [[[1.0], *row[1:]]]}, 400, "invalid_value"),
        "object value": ({"instances": [[{"v": 1}, *row[1:]]]}, 400, "invalid_value"),
        "row is a number": ({"instances": [1.0]}, 400, "invalid_row"),
        "NaN literal": ('{"instances": [[NaN' + rest + "]]}", 400, "invalid_number"),
        "Infinity literal": ('{"instances": [[Infinity' + rest + "]]}", 400, "invalid_number"),
        "-Infinity literal": ('{"instances": [[-Infinity' + rest + "]]}", 400, "invalid_number"),
        "overflowing number": ('{"instances": [[1e400' + rest + "]]}", 400, "invalid_number"),
        "beyond float32": ('{"instances": [[1e39' + rest + "]]}", 400, "invalid_number"),
        "huge integer": ('{"instances": [[' + "9" * 400 + rest + "]]}", 400, "invalid_number"),
        "body over the size cap": ({"instances": [row] * 40, "pad": "x" * 70000}, 413, "body_too_large"),
    }


BAD_BODY_CASES = list(bad_bodies(30))
SERVED_KINDS = ["classifier", "regressor"]
"""The models every bad input is sent to (`served_model`'s indirect parameter)."""
