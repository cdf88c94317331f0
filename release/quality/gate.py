"""The quality gate's decision: roll back, advance or wait, from the always-valid comparison.

Non-inferiority with margin m >= 0, on the improvement (new - primary, oriented so that higher is
better) and its (1 - alpha) confidence sequence [L, U]:

- ROLLBACK when U < -m: the new version is worse by more than the margin, with significance;
- ADVANCE when L > -m (non-inferior) and the new version has at least `min_labels` labelled rows;
- WAIT otherwise (including whenever the test is not defined yet).

A version without labels never advances. Because [L, U] covers the true improvement at every check
at once with probability >= 1 - alpha, checking after every batch keeps both errors below alpha:
rolling back a version that is within the margin, and advancing one that is worse beyond it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from release.quality.arms import ArmSummary, Direction
from release.quality.sequential import (
    DEFAULT_ALPHA,
    DEFAULT_BURN_IN,
    DEFAULT_MIXTURE_SCALE,
    MIN_ROWS_PER_VERSION,
    SequentialComparison,
    compare,
)

DEFAULT_MARGIN = 0.01
DEFAULT_MIN_LABELS = 200


class Verdict(StrEnum):
    ADVANCE = "advance"
    ROLLBACK = "rollback"
    WAIT = "wait"


# Integer codes of `verdict_codes` (vectorised form of the rule).
WAIT_CODE, ADVANCE_CODE, ROLLBACK_CODE = 0, 1, 2
_VERDICT_OF_CODE = {WAIT_CODE: Verdict.WAIT, ADVANCE_CODE: Verdict.ADVANCE, ROLLBACK_CODE: Verdict.ROLLBACK}


@dataclass(frozen=True)
class QualityGateConfig:
    """margin: how much worse (in the metric's units) the new version may be and still advance;
    min_labels: labelled rows the new version needs before it may advance; alpha: error rate of
    the confidence sequence; mixture_scale: rho of the mSPRT; burn_in: rows each version needs
    before the test may decide (see release.quality.sequential)."""

    margin: float = DEFAULT_MARGIN
    min_labels: int = DEFAULT_MIN_LABELS
    alpha: float = DEFAULT_ALPHA
    mixture_scale: float = DEFAULT_MIXTURE_SCALE
    burn_in: int = DEFAULT_BURN_IN

    def __post_init__(self) -> None:
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError("margin must be a finite number >= 0")
        if self.min_labels < 1:
            raise ValueError("min_labels must be >= 1: a version without labels never advances")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError("alpha must be in (0, 1)")
        if not (math.isfinite(self.mixture_scale) and self.mixture_scale > 0):
            raise ValueError("mixture_scale must be > 0")
        if self.burn_in < MIN_ROWS_PER_VERSION:
            raise ValueError(f"burn_in must be >= {MIN_ROWS_PER_VERSION}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "margin": self.margin,
            "min_labels": self.min_labels,
            "alpha": self.alpha,
            "mixture_scale": self.mixture_scale,
            "burn_in": self.burn_in,
        }


def verdict_codes(
    improvement_lower: ArrayLike,
    improvement_upper: ArrayLike,
    n_new: ArrayLike,
    margin: float,
    min_labels: int,
) -> NDArray[np.int8]:
    """The gate's rule on arrays of bounds (NaN or infinite bounds mean 'not defined': WAIT)."""
    lower = np.asarray(improvement_lower, dtype=np.float64)
    upper = np.asarray(improvement_upper, dtype=np.float64)
    labels = np.asarray(n_new)
    rollback = np.isfinite(upper) & (upper < -margin)
    advance = np.isfinite(lower) & (lower > -margin) & (labels >= max(min_labels, 1)) & ~rollback
    codes = np.full(np.broadcast(lower, upper, labels).shape, WAIT_CODE, dtype=np.int8)
    codes[advance] = ADVANCE_CODE
    codes[rollback] = ROLLBACK_CODE
    return codes


@dataclass(frozen=True)
class GateDecision:
    """A decision with every figure behind it; `to_dict()` is what the release history stores."""

    verdict: Verdict
    reason: str
    config: QualityGateConfig
    comparison: SequentialComparison

    def to_dict(self) -> dict[str, Any]:
        comparison = self.comparison.to_dict()
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            **self.config.to_dict(),
            "test": "mSPRT (normal mixture), always-valid",
            "n_primary": self.comparison.primary.n,
            "n_new": self.comparison.new.n,
            **{
                key: value
                for key, value in comparison.items()
                if key not in ("alpha", "mixture_scale", "burn_in")
            },
        }


def _fmt(value: float) -> str:
    return f"{value:+.4g}" if math.isfinite(value) else ("+inf" if value > 0 else "-inf")


def _reason(verdict: Verdict, comparison: SequentialComparison, config: QualityGateConfig) -> str:
    n_new, n_primary = comparison.new.n, comparison.primary.n
    bounds = f"[{_fmt(comparison.improvement_lower)}, {_fmt(comparison.improvement_upper)}]"
    level = f"{1 - config.alpha:.0%}"
    margin = f"-{config.margin:g}"
    if verdict is Verdict.ROLLBACK:
        return (
            f"new version worse beyond the margin: improvement {bounds} ({level} always-valid), "
            f"upper bound below {margin}"
        )
    if verdict is Verdict.ADVANCE:
        return (
            f"new version non-inferior: improvement {bounds} ({level} always-valid), lower bound "
            f"above {margin}, {n_new} labelled rows >= {config.min_labels}"
        )
    if n_new == 0:
        return "no labelled rows for the new version yet"
    if not comparison.defined:
        return (
            f"too few labelled rows to test (new {n_new}, primary {n_primary}); "
            f"each version needs {config.burn_in}"
        )
    if comparison.improvement_lower > -config.margin:
        return f"non-inferior so far, but {n_new} labelled rows < min_labels {config.min_labels}"
    return f"undecided: improvement {bounds} ({level} always-valid) contains {margin}"


def decide(
    primary: ArmSummary,
    new: ArmSummary,
    config: QualityGateConfig | None = None,
    *,
    direction: Direction = Direction.HIGHER_IS_BETTER,
    previous_p_value: float | None = None,
) -> GateDecision:
    """Apply the gate to every labelled row so far of the primary and the new version."""
    config = config if config is not None else QualityGateConfig()
    comparison = compare(
        primary,
        new,
        direction=direction,
        alpha=config.alpha,
        mixture_scale=config.mixture_scale,
        burn_in=config.burn_in,
        previous_p_value=previous_p_value,
    )
    code = int(
        verdict_codes(
            comparison.improvement_lower,
            comparison.improvement_upper,
            new.n,
            config.margin,
            config.min_labels,
        )
    )
    verdict = _VERDICT_OF_CODE[code]
    return GateDecision(
        verdict=verdict, reason=_reason(verdict, comparison, config), config=config, comparison=comparison
    )
