"""How many labelled rows a comparison needs: for the always-valid test and, for reference, for a
fixed-sample z-test.

At n labelled rows in total, with a share `w` going to the new version, the difference has variance
V(n) = (var_new / w + var_primary / (1 - w)) / n. The always-valid test decides at n when the estimate
clears the confidence sequence, |D - target| > sqrt(V(n)) * b(lam(n)) (release.quality.sequential).
With D ~ N(effect, V(n)), it does so with probability `power` when

    |effect - target| = sqrt(V(n)) * (b(lam(n)) + z_power),

which is solved for n numerically (b depends on n through lam). This counts only a crossing at n
itself; the test, checked all along, may also have crossed earlier, so the figure is an upper bound on
the rows needed for that power (conservative). For the gate, `target` is -margin on the improvement
scale; for the A/B report's question ("detect a difference"), it is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy.optimize import brentq
from scipy.stats import norm

from release.quality.sequential import DEFAULT_ALPHA, DEFAULT_MIXTURE_SCALE, SequentialComparison, boundary

DEFAULT_POWER = 0.80
_MAX_LABELS = 1e13


@dataclass(frozen=True)
class SampleSize:
    """Labelled rows in total (both versions) at the given share, and how many more than now."""

    sequential_total: int | None  # None: not reachable (e.g. the effect equals the target)
    fixed_horizon_total: int | None
    current_total: int
    new_share: float
    effect: float
    power: float
    alpha: float

    @property
    def sequential_more(self) -> int | None:
        return None if self.sequential_total is None else max(0, self.sequential_total - self.current_total)

    @property
    def fixed_horizon_more(self) -> int | None:
        if self.fixed_horizon_total is None:
            return None
        return max(0, self.fixed_horizon_total - self.current_total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "effect": self.effect,
            "power": self.power,
            "alpha": self.alpha,
            "new_share": self.new_share,
            "current_total": self.current_total,
            "sequential_total": self.sequential_total,
            "sequential_more": self.sequential_more,
            "fixed_horizon_total": self.fixed_horizon_total,
            "fixed_horizon_more": self.fixed_horizon_more,
        }


def _check(var_primary: float, var_new: float, new_share: float, power: float, alpha: float) -> None:
    if not (var_primary > 0 and var_new > 0):
        raise ValueError("variances must be > 0")
    if not 0.0 < new_share < 1.0:
        raise ValueError("new_share must be in (0, 1)")
    if not 0.0 < power < 1.0:
        raise ValueError("power must be in (0, 1)")
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")


def per_row_variance(var_primary: float, var_new: float, new_share: float) -> float:
    """n * V(n): the variance of the difference for one labelled row in total."""
    return var_new / new_share + var_primary / (1.0 - new_share)


def fixed_horizon_labels(
    distance: float,
    var_primary: float,
    var_new: float,
    new_share: float,
    *,
    power: float = DEFAULT_POWER,
    alpha: float = DEFAULT_ALPHA,
) -> int | None:
    """Rows in total for a two-sided fixed-sample z-test at level alpha, looked at once:
    n = (z_{1-alpha/2} + z_power)^2 * nV / distance^2."""
    _check(var_primary, var_new, new_share, power, alpha)
    if distance == 0:
        return None
    z = float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
    return math.ceil(z * z * per_row_variance(var_primary, var_new, new_share) / distance**2)


def sequential_labels(
    distance: float,
    var_primary: float,
    var_new: float,
    new_share: float,
    *,
    power: float = DEFAULT_POWER,
    alpha: float = DEFAULT_ALPHA,
    mixture_scale: float = DEFAULT_MIXTURE_SCALE,
) -> int | None:
    """Rows in total at which the always-valid test's bound is cleared with probability `power`
    when the true difference is `distance` away from the tested value (see the module doc)."""
    _check(var_primary, var_new, new_share, power, alpha)
    gap = abs(distance)
    if gap == 0:
        return None
    unit_variance = per_row_variance(var_primary, var_new, new_share)
    pooled = (1.0 - new_share) * var_primary + new_share * var_new
    z_power = float(norm.ppf(power))

    def excess(log_n: float) -> float:
        n = math.exp(log_n)
        variance = unit_variance / n
        lam = mixture_scale**2 * pooled / variance
        return gap - math.sqrt(variance) * (float(boundary(lam, alpha)) + z_power)

    low, high = 0.0, math.log(_MAX_LABELS)
    if excess(low) >= 0:
        return 1
    if excess(high) < 0:
        return None
    return math.ceil(math.exp(brentq(excess, low, high, xtol=1e-10)))


def labels_needed(
    comparison: SequentialComparison,
    effect: float,
    *,
    margin: float = 0.0,
    power: float = DEFAULT_POWER,
    new_share: float | None = None,
) -> SampleSize | None:
    """For the A/B report and the gate: rows in total (and how many more than now) to tell, with
    `power`, an improvement of `effect` (in the metric's units, positive = the new version better,
    whatever the metric's direction) from -margin, at the current allocation (or `new_share`, which
    also allows planning before the new version has rows) and the versions' current variances. A
    version with fewer than 2 rows is given the other's variance. None when no version has a
    variance yet or the share is not in (0, 1)."""
    primary, new = comparison.primary, comparison.new
    current = primary.n + new.n
    share = new_share if new_share is not None else (new.n / current if current else 0.0)
    var_primary, var_new = primary.variance(), new.variance()
    var_primary = var_primary if var_primary > 0 else var_new  # NaN compares False: take the other's
    var_new = var_new if var_new > 0 else var_primary
    if not (0.0 < share < 1.0) or not (var_primary > 0 and var_new > 0):
        return None
    distance = effect + margin
    return SampleSize(
        sequential_total=sequential_labels(
            distance,
            var_primary,
            var_new,
            share,
            power=power,
            alpha=comparison.alpha,
            mixture_scale=comparison.mixture_scale,
        ),
        fixed_horizon_total=fixed_horizon_labels(
            distance, var_primary, var_new, share, power=power, alpha=comparison.alpha
        ),
        current_total=current,
        new_share=share,
        effect=effect,
        power=power,
        alpha=comparison.alpha,
    )
