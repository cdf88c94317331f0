"""Regression metrics from running sums of the errors (prediction - truth), without scikit-learn.

A window's rows add to `ErrorSums` one at a time and windows merge by adding their sums, so memory
is four numbers per window and model version whatever the traffic: MAE = mean |e|, RMSE =
sqrt(mean e^2), mean error (bias) = mean e (positive: the model predicts too high).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

METRICS = ("mae", "rmse", "mean_error")
DEFAULT_METRIC = "rmse"
"""The regression metric reported as "the metric" when the one configured is a classifier's."""


@dataclass
class ErrorSums:
    count: int = 0
    error: float = 0.0
    absolute: float = 0.0
    squared: float = 0.0

    def add(self, predicted: float, truth: float) -> None:
        error = float(predicted) - float(truth)
        self.count += 1
        self.error += error
        self.absolute += abs(error)
        self.squared += error * error

    def merge(self, other: ErrorSums) -> None:
        self.count += other.count
        self.error += other.error
        self.absolute += other.absolute
        self.squared += other.squared

    def mae(self) -> float | None:
        return self.absolute / self.count if self.count else None

    def rmse(self) -> float | None:
        return math.sqrt(self.squared / self.count) if self.count else None

    def mean_error(self) -> float | None:
        return self.error / self.count if self.count else None

    def metric(self, name: str) -> float | None:
        """The named metric (one of METRICS); None when there are no rows."""
        if name not in METRICS:
            raise ValueError(f"unknown regression metric {name!r}; choose one of {', '.join(METRICS)}")
        value: float | None = getattr(self, name)()
        return value


def metric_in_force(name: str) -> str:
    """The regression metric a report or the monitor shows for `name`: itself when it is one,
    otherwise `DEFAULT_METRIC` (a deployment configured with a classifier's metric)."""
    return name if name in METRICS else DEFAULT_METRIC


def is_number(value: object) -> bool:
    """A prediction or a true value a regression metric can use: a finite int or float (no boolean)."""
    if type(value) is int:
        return abs(value) <= sys.float_info.max
    return type(value) is float and math.isfinite(value)
