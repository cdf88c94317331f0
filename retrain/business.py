"""The business metric in the retraining gate: the candidate and production on the same holdout,
valued with the configured business metric (`RETRAIN_BUSINESS_METRIC`, the one-line form of
common.business_metric.parse_spec), and the gate's check that the candidate is not worse.

A reward exists only for served predictions (the client sends it), so on the offline holdout only a
cost matrix or the user's function can be computed; a reward metric is reported as not available."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from common.business_metric import REWARD, BusinessMetric, BusinessMetricError, parse_spec
from retrain.errors import StepError


def business_metric(spec: str) -> BusinessMetric | None:
    try:
        return parse_spec(spec)
    except BusinessMetricError as exc:
        raise StepError(f"RETRAIN_BUSINESS_METRIC: {exc}") from None


def holdout_value(spec: str, y_true: Any, y_pred: Any, probabilities: Any = None) -> float | None:
    """The business metric of one model's holdout answers; None without one (or for a reward)."""
    metric = business_metric(spec)
    if metric is None or metric.kind == REWARD:
        return None
    truth = np.asarray(y_true).tolist()
    predicted = np.asarray(y_pred).tolist()
    probs = np.asarray(probabilities).tolist() if probabilities is not None else [None] * len(truth)
    return metric.version_value(list(zip(truth, predicted, probs, [None] * len(truth), strict=True)))


def check_business(
    spec: str, candidate: dict[str, Any], production: dict[str, Any], checks: list[str], reasons: list[str]
) -> None:
    """The candidate must be at least as good as production on the business metric, when one is set."""
    metric = business_metric(spec)
    if metric is None:
        return
    new, old = candidate.get("business_value"), production.get("business_value")
    if new is None or old is None or not (math.isfinite(new) and math.isfinite(old)):
        checks.append(
            f"business metric {metric.name}: not computable on the holdout "
            f"(candidate {new}, production {old})"
        )
        return
    better = new >= old if metric.higher_is_better else new <= old
    figures = f"business metric {metric.name} {new:.4g} vs production {old:.4g}"
    if better:
        checks.append(figures)
    else:
        reasons.append(f"worse than production on the {figures}")
