"""Reference computations written independently of release.quality: the mixture likelihood ratio by
numerical integration over the mixing distribution, and textbook interval formulas."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate, optimize
from scipy.stats import norm


def row_variance(values: ArrayLike) -> float:
    """The per-row variance the test is defined with: Laplace (s+1)/(n+2) for 0/1 rows, else ddof=1."""
    rows = np.asarray(values, dtype=float)
    if np.all((rows == 0) | (rows == 1)):
        p = (rows.sum() + 1) / (rows.size + 2)
        return float(p * (1 - p))
    return float(rows.var(ddof=1))


def difference_and_variance(primary: ArrayLike, new: ArrayLike) -> tuple[float, float, float]:
    """D = mean(new) - mean(primary), V = var_new/n_new + var_primary/n_primary, pooled variance."""
    a, b = np.asarray(primary, dtype=float), np.asarray(new, dtype=float)
    va, vb = row_variance(a), row_variance(b)
    pooled = (a.size * va + b.size * vb) / (a.size + b.size)
    return float(b.mean() - a.mean()), vb / b.size + va / a.size, pooled


def _log_normal_pdf(x: float, mean: float, sd: float) -> float:
    return -0.5 * ((x - mean) / sd) ** 2 - math.log(sd * math.sqrt(2 * math.pi))


def mixture_log_likelihood_ratio_quad(d: float, v: float, tau: float, theta0: float = 0.0) -> float:
    """log Lambda, Lambda = integral over theta ~ N(theta0, tau^2) of N(d; theta, v) / N(d; theta0, v),
    by quadrature; the integrand is scaled by its value at its mode so nothing under- or overflows."""
    se = math.sqrt(v)

    def log_integrand(theta: float) -> float:
        return (
            _log_normal_pdf(d, theta, se)
            - _log_normal_pdf(d, theta0, se)
            + _log_normal_pdf(theta, theta0, tau)
        )

    mode = (d * tau**2 + theta0 * v) / (tau**2 + v)
    spread = math.sqrt(tau**2 * v / (tau**2 + v))
    peak = log_integrand(mode)
    value, _ = integrate.quad(
        lambda theta: math.exp(log_integrand(theta) - peak),
        mode - 40 * spread,
        mode + 40 * spread,
        points=[mode],
        limit=400,
        epsabs=0,
        epsrel=1e-12,
    )
    return peak + math.log(value)


def mixture_likelihood_ratio_quad(d: float, v: float, tau: float, theta0: float = 0.0) -> float:
    return math.exp(mixture_log_likelihood_ratio_quad(d, v, tau, theta0))


def confidence_sequence_quad(d: float, v: float, tau: float, alpha: float) -> tuple[float, float]:
    """The set {theta0 : Lambda(theta0) < 1/alpha}, its ends found by root-finding on the quad value."""

    def excess(theta0: float) -> float:
        return mixture_log_likelihood_ratio_quad(d, v, tau, theta0) - math.log(1 / alpha)

    far = math.sqrt(v)
    while excess(d - far) < 0 or excess(d + far) < 0:
        far *= 2
    lower = optimize.brentq(excess, d - far, d, xtol=1e-14, rtol=1e-13)
    upper = optimize.brentq(excess, d, d + far, xtol=1e-14, rtol=1e-13)
    return float(lower), float(upper)


def wilson_reference(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's interval in its closed form (2np + z^2 -+ z sqrt(z^2 + 4np(1-p))) / (2(n + z^2))."""
    z = norm.ppf(0.5 + level / 2)
    p = successes / n
    root = z * math.sqrt(z * z + 4 * n * p * (1 - p))
    return (2 * n * p + z * z - root) / (2 * (n + z * z)), (2 * n * p + z * z + root) / (2 * (n + z * z))
