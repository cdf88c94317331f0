"""Always-valid comparison of two versions: the normal-mixture sequential probability ratio test
(mSPRT) and its confidence sequence for the difference new - primary of a per-row metric.

The estimate is the difference of the versions' means, D = mean_new - mean_primary, with variance
V = var_new / n_new + var_primary / n_primary. For nested samples (every check sees all earlier rows
plus new ones) the score S = D / V is, in the normal approximation, a Brownian motion with drift
theta (the true difference) run on the information clock I = 1 / V, whatever the allocation between
the versions and however it changes (Jennison & Turnbull's canonical joint distribution). Mixing
its likelihood ratio exp(theta S - theta^2 I / 2) over theta ~ N(0, tau^2) gives

    Lambda = (1 + lam)^(-1/2) * exp(lam / (1 + lam) * Z^2 / 2),   Z = (D - theta0) / sqrt(V),
    lam = tau^2 / V,

a nonnegative martingale under H0: difference = theta0 (Johari, Pekelis & Walsh, "Always valid
inference", 2017/2022). Ville's inequality bounds the chance that it ever reaches 1/alpha by alpha,
at any number of checks and any stopping rule, so:

- p_n = min(1, min over checks k <= n of 1 / Lambda_k) is an always-valid p-value;
- {theta0 : Lambda_n(theta0) < 1/alpha} = D +- sqrt(V) * b(lam) is a (1 - alpha) confidence
  sequence, with b(lam) = sqrt((1 + lam) / lam * (2 log(1/alpha) + log(1 + lam))).

The variances are estimated from the rows (plug-in), which makes both guarantees asymptotic
(Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit theory and asymptotic
confidence sequences", 2023). The mixture is set on the standardised scale: tau = rho * s, with s
the pooled per-row standard deviation, so lam = rho^2 * s^2 / V, which is rho^2 times the effective
number of labelled rows n_new * n_primary / (n_new + n_primary) when the variances are equal. The
bound is tightest where lam solves lam = 2 log(1/alpha) + log(1 + lam) (Howard, Ramdas, McAuliffe &
Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences", 2021);
`mixture_scale_for` turns a design effective sample size into rho. docs/quality-gate.md explains the
default.

The functions on arrays are vectorised so the simulation in bench/quality_gate.py runs this very code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq
from scipy.stats import norm

from release.quality.arms import ArmSummary, Direction

FloatArray = NDArray[np.float64]

DEFAULT_ALPHA = 0.05
# Rows each version needs before its variance, and so the difference's standard error, is defined.
MIN_ROWS_PER_VERSION = 2
# Rows each version needs before the sequential test may reject: the guarantee is asymptotic, and
# with a skewed metric (accuracy near 1) or heavy-tailed errors the normal approximation is poor in
# the far tail the boundary sits in until both versions have this many rows (docs/quality-gate.md).
DEFAULT_BURN_IN = 100


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")


def tightest_lambda(alpha: float) -> float:
    """The lam at which the confidence sequence's width in standard errors, b(lam), is smallest:
    the root of lam = 2 log(1/alpha) + log(1 + lam)."""
    _check_alpha(alpha)
    two_log = 2.0 * math.log(1.0 / alpha)
    return float(brentq(lambda lam: lam - two_log - math.log1p(lam), two_log, two_log + 50.0))


def mixture_scale_for(effective_labels: float, alpha: float = DEFAULT_ALPHA) -> float:
    """rho for a bound tightest at `effective_labels` = n_new * n_primary / (n_new + n_primary)
    (about 0.09 x the total at a 10% canary)."""
    if effective_labels <= 0:
        raise ValueError("effective_labels must be > 0")
    return math.sqrt(tightest_lambda(alpha) / effective_labels)


# The default makes the bound tightest at 600 effective labelled rows; docs/quality-gate.md gives
# the reasons and the alternatives it was compared with.
DEFAULT_DESIGN_EFFECTIVE_LABELS = 600.0
DEFAULT_MIXTURE_SCALE = mixture_scale_for(DEFAULT_DESIGN_EFFECTIVE_LABELS, DEFAULT_ALPHA)


def mixture_log_likelihood_ratio(z: ArrayLike, lam: ArrayLike) -> FloatArray:
    """log Lambda for the standardised difference z and lam = tau^2 / V (vectorised)."""
    z_ = np.asarray(z, dtype=np.float64)
    lam_ = np.asarray(lam, dtype=np.float64)
    return np.asarray(-0.5 * np.log1p(lam_) + lam_ / (1.0 + lam_) * z_ * z_ / 2.0, dtype=np.float64)


def boundary(lam: ArrayLike, alpha: float) -> FloatArray:
    """b(lam): the confidence sequence's half-width in standard errors (vectorised)."""
    _check_alpha(alpha)
    lam_ = np.asarray(lam, dtype=np.float64)
    return np.asarray(
        np.sqrt((1.0 + lam_) / lam_ * (2.0 * math.log(1.0 / alpha) + np.log1p(lam_))), dtype=np.float64
    )


@dataclass(frozen=True)
class DifferenceStatistics:
    """Arrays of the same shape: the difference new - primary, its variance and lam."""

    difference: FloatArray
    variance: FloatArray
    lam: FloatArray


def difference_statistics(
    n_primary: ArrayLike,
    mean_primary: ArrayLike,
    var_primary: ArrayLike,
    n_new: ArrayLike,
    mean_new: ArrayLike,
    var_new: ArrayLike,
    mixture_scale: float,
    min_rows: int = MIN_ROWS_PER_VERSION,
) -> DifferenceStatistics:
    """D, V and lam from each version's count, mean and per-row variance (vectorised). Entries
    where either version has fewer than `min_rows` rows (at least MIN_ROWS_PER_VERSION) are NaN."""
    if mixture_scale <= 0:
        raise ValueError("mixture_scale must be > 0")
    threshold = max(min_rows, MIN_ROWS_PER_VERSION)
    na = np.asarray(n_primary, dtype=np.float64)
    nb = np.asarray(n_new, dtype=np.float64)
    ready = (na >= threshold) & (nb >= threshold)
    safe_na = np.where(ready, na, 1.0)
    safe_nb = np.where(ready, nb, 1.0)
    va = np.asarray(var_primary, dtype=np.float64)
    vb = np.asarray(var_new, dtype=np.float64)
    variance = vb / safe_nb + va / safe_na
    pooled = (na * va + nb * vb) / (safe_na + safe_nb)
    lam = mixture_scale**2 * pooled / variance
    difference = np.asarray(mean_new, dtype=np.float64) - np.asarray(mean_primary, dtype=np.float64)
    nan = np.float64(np.nan)
    return DifferenceStatistics(
        difference=np.asarray(np.where(ready, difference, nan), dtype=np.float64),
        variance=np.asarray(np.where(ready, variance, nan), dtype=np.float64),
        lam=np.asarray(np.where(ready, lam, nan), dtype=np.float64),
    )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class SequentialComparison:
    """One check of the always-valid test. `lower`/`upper` bound new - primary in the metric's own
    units (infinite while the test is not defined); `improvement_*` are the same bounds oriented so
    that positive means the new version is better. `difference_ci95` is the ordinary fixed-sample
    95% interval, valid at a single look only (shown for reference, never used to decide)."""

    primary: ArmSummary
    new: ArmSummary
    direction: Direction
    alpha: float
    mixture_scale: float
    burn_in: int
    difference: float | None
    standard_error: float | None
    difference_ci95: tuple[float, float] | None
    log_likelihood_ratio: float
    p_value: float
    lower: float
    upper: float

    @property
    def defined(self) -> bool:
        """Whether the sequential test runs: both versions have `burn_in` rows (else the p-value is
        carried or 1 and the bounds are infinite)."""
        return math.isfinite(self.lower)

    @property
    def improvement(self) -> float | None:
        return None if self.difference is None else self.direction.sign * self.difference

    @property
    def improvement_lower(self) -> float:
        return self.lower if self.direction is Direction.HIGHER_IS_BETTER else -self.upper

    @property
    def improvement_upper(self) -> float:
        return self.upper if self.direction is Direction.HIGHER_IS_BETTER else -self.lower

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction.value,
            "alpha": self.alpha,
            "mixture_scale": self.mixture_scale,
            "burn_in": self.burn_in,
            "primary": self.primary.to_dict(),
            "new": self.new.to_dict(),
            "difference": self.difference,
            "standard_error": self.standard_error,
            "difference_ci95": list(self.difference_ci95) if self.difference_ci95 is not None else None,
            "p_value": self.p_value,
            "confidence_sequence": [_finite_or_none(self.lower), _finite_or_none(self.upper)],
            "improvement_bounds": [
                _finite_or_none(self.improvement_lower),
                _finite_or_none(self.improvement_upper),
            ],
        }


def compare(
    primary: ArmSummary,
    new: ArmSummary,
    *,
    direction: Direction = Direction.HIGHER_IS_BETTER,
    alpha: float = DEFAULT_ALPHA,
    mixture_scale: float = DEFAULT_MIXTURE_SCALE,
    burn_in: int = DEFAULT_BURN_IN,
    previous_p_value: float | None = None,
) -> SequentialComparison:
    """The always-valid test of H0: new - primary = 0 and the (1 - alpha) confidence sequence for
    the difference, on every labelled row seen so far. The test runs once both versions have
    `burn_in` rows (before that: p-value carried or 1, unbounded sequence); the difference and its
    fixed-sample interval are given from MIN_ROWS_PER_VERSION rows. Pass the p-value of the
    previous check of the same release as `previous_p_value` to get the running minimum (an
    always-valid p-value never rises); without it the p-value is this check's 1 / Lambda, which is
    valid on its own."""
    _check_alpha(alpha)
    if previous_p_value is not None and not 0.0 <= previous_p_value <= 1.0:
        raise ValueError("previous_p_value must be in [0, 1]")
    if burn_in < MIN_ROWS_PER_VERSION:
        raise ValueError(f"burn_in must be >= {MIN_ROWS_PER_VERSION}")
    stats = difference_statistics(
        primary.n,
        primary.mean,
        primary.variance() if primary.n else math.nan,
        new.n,
        new.mean,
        new.variance() if new.n else math.nan,
        mixture_scale,
    )
    p_value = 1.0 if previous_p_value is None else previous_p_value
    log_lr, lower, upper = 0.0, -math.inf, math.inf
    estimate = float(stats.difference)
    difference: float | None = estimate
    se: float | None = None
    ci95: tuple[float, float] | None = None
    if not math.isfinite(estimate):
        difference = (new.mean - primary.mean) if primary.n and new.n else None
    else:
        se = math.sqrt(float(stats.variance))
        z95 = float(norm.ppf(0.975))
        ci95 = (estimate - z95 * se, estimate + z95 * se)
        if min(primary.n, new.n) >= burn_in:
            lam = float(stats.lam)
            log_lr = float(mixture_log_likelihood_ratio(estimate / se, lam))
            p_value = min(p_value, math.exp(-log_lr) if log_lr > 0 else 1.0)
            radius = se * float(boundary(lam, alpha))
            lower, upper = estimate - radius, estimate + radius
    return SequentialComparison(
        primary=primary,
        new=new,
        direction=direction,
        alpha=alpha,
        mixture_scale=mixture_scale,
        burn_in=burn_in,
        difference=difference,
        standard_error=se,
        difference_ci95=ci95,
        log_likelihood_ratio=log_lr,
        p_value=p_value,
        lower=lower,
        upper=upper,
    )
