"""Per-version summaries of a per-row quality metric: counts, mean, variance and a 95% interval.

A row's metric is one number per labelled prediction: 1/0 correctness for a classifier (its mean is
the accuracy), an absolute or squared error for a regressor. Summaries hold sufficient statistics
only (count, mean, sum of squared deviations), so they can be built per batch and merged without
keeping rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

# Variance floor for a continuous metric whose observed rows are all equal (e.g. every absolute
# error 0): keeps the variance of the difference positive so the statistic stays finite.
CONTINUOUS_VARIANCE_FLOOR = 1e-12


class Direction(StrEnum):
    """Which way the metric improves. Accuracy is higher-is-better; an error is lower-is-better."""

    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"

    @property
    def sign(self) -> float:
        """Multiplier that turns a raw difference (new - primary) into an improvement."""
        return 1.0 if self is Direction.HIGHER_IS_BETTER else -1.0


def binary_variance(successes: ArrayLike, n: ArrayLike) -> NDArray[np.float64]:
    """Variance of a 0/1 row from `successes` of `n`, with the Laplace estimate (s + 1) / (n + 2):
    never 0 (an all-correct arm early on still has an uncertain accuracy) and asymptotically equal
    to p(1 - p). Vectorised; shapes broadcast."""
    s = np.asarray(successes, dtype=np.float64)
    count = np.asarray(n, dtype=np.float64)
    p = (s + 1.0) / (count + 2.0)
    return np.asarray(p * (1.0 - p), dtype=np.float64)


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (good coverage near 0 and 1, unlike the Wald one)."""
    if n <= 0:
        raise ValueError("a Wilson interval needs at least one row")
    z = float(norm.ppf(0.5 + level / 2.0))
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denominator
    # At 0 or n successes the interval ends exactly at 0 or 1 (avoid rounding just inside).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class ArmSummary:
    """Sufficient statistics of one version's metric rows.

    `binary` is True when every row is 0 or 1 (a proportion, such as accuracy): the variance and
    the interval then use the proportion's own formulas.
    """

    n: int
    mean: float
    m2: float  # sum of squared deviations from the mean
    binary: bool

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("n must be >= 0")
        if self.n == 0 and (self.mean != 0.0 or self.m2 != 0.0):
            raise ValueError("an empty summary has mean 0 and m2 0")
        if not (math.isfinite(self.mean) and math.isfinite(self.m2)) or self.m2 < 0:
            raise ValueError("mean and m2 must be finite and m2 >= 0")

    @classmethod
    def empty(cls, binary: bool = True) -> ArmSummary:
        return cls(n=0, mean=0.0, m2=0.0, binary=binary)

    @classmethod
    def of(cls, values: ArrayLike, binary: bool | None = None) -> ArmSummary:
        """Summary of metric rows. `binary` defaults to whether every value is 0 or 1."""
        rows = np.asarray(values, dtype=np.float64).ravel()
        if rows.size and not np.all(np.isfinite(rows)):
            raise ValueError("metric values must be finite")
        all_zero_one = bool(np.all((rows == 0.0) | (rows == 1.0)))
        if binary and not all_zero_one:
            raise ValueError("a binary metric has rows of 0 or 1 only")
        is_binary = all_zero_one if binary is None else binary
        if rows.size == 0:
            return cls.empty(binary=is_binary)
        mean = float(rows.mean())
        return cls(n=int(rows.size), mean=mean, m2=float(np.sum((rows - mean) ** 2)), binary=is_binary)

    @classmethod
    def of_counts(cls, successes: int, n: int) -> ArmSummary:
        """Summary of `n` 0/1 rows of which `successes` are 1 (e.g. correct predictions)."""
        if not 0 <= successes <= n:
            raise ValueError("need 0 <= successes <= n")
        if n == 0:
            return cls.empty()
        mean = successes / n
        return cls(n=n, mean=mean, m2=n * mean * (1.0 - mean), binary=True)

    def merge(self, other: ArmSummary) -> ArmSummary:
        """The summary of both sets of rows (Chan et al.'s pairwise update)."""
        binary = self.binary and other.binary
        if other.n == 0:
            return self._with_binary(binary)
        if self.n == 0:
            return other._with_binary(binary)
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n
        return ArmSummary(n=n, mean=mean, m2=max(m2, 0.0), binary=binary)

    def _with_binary(self, binary: bool) -> ArmSummary:
        return ArmSummary(n=self.n, mean=self.mean, m2=self.m2, binary=binary)

    @property
    def successes(self) -> int:
        """Rows equal to 1 (meaningful for a binary metric)."""
        return round(self.mean * self.n)

    def variance(self) -> float:
        """Per-row variance used by the tests: Laplace-smoothed for a proportion, the unbiased
        sample variance (floored) otherwise. NaN when there are too few rows to estimate it."""
        if self.binary:
            return float(binary_variance(self.successes, self.n)) if self.n >= 1 else math.nan
        if self.n < 2:
            return math.nan
        return max(self.m2 / (self.n - 1), CONTINUOUS_VARIANCE_FLOOR)

    def interval(self, level: float = 0.95) -> tuple[float, float] | None:
        """Fixed-sample interval for the version's metric: Wilson for a proportion, the normal
        interval mean +- z * s / sqrt(n) otherwise; None without enough rows."""
        if self.binary:
            return wilson_interval(self.successes, self.n, level) if self.n >= 1 else None
        if self.n < 2:
            return None
        z = float(norm.ppf(0.5 + level / 2.0))
        half = z * math.sqrt(self.m2 / (self.n - 1) / self.n)
        return self.mean - half, self.mean + half

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        interval = self.interval(level)
        return {
            "n": self.n,
            "metric": self.mean if self.n else None,
            "interval": list(interval) if interval is not None else None,
            "interval_level": level,
            "binary": self.binary,
        }


def summarise(batches: Iterable[ArrayLike], binary: bool | None = None) -> ArmSummary:
    """One summary over several batches of metric rows."""
    total: ArmSummary | None = None
    for batch in batches:
        part = ArmSummary.of(batch, binary=binary)
        total = part if total is None else total.merge(part)
    return total if total is not None else ArmSummary.empty(binary=True if binary is None else binary)
