"""The gate: is the candidate releasable? Pure logic on the evaluation, so it is tested directly.

Releasable only if every check passes: the candidate's answers (a classifier's probabilities, a
regressor's predictions) are all finite; for a classifier, no class takes more than
`max_class_share` of its predictions (a collapsed model predicts one class); the run had at least
`min_feedback_rows` labelled feedback rows; `gate_metric` measures the production model's kind of
model; and the candidate beats production by at least `gate_margin` on `gate_metric` in the
metric's direction (log_loss, mae and rmse: lower is better; a margin of 0 means at least as good).
"""

from __future__ import annotations

import math
from typing import Any

from retrain.business import check_business
from retrain.settings import CLASSIFICATION_METRICS, REGRESSION_METRICS, RetrainSettings, metric_task

CLASSIFICATION = "classification"


def improvement_of(new: float, old: float, *, higher_is_better: bool) -> float:
    """How much better the candidate is than production (negative: worse), in the metric's units."""
    return (new - old) if higher_is_better else (old - new)


def _balance(
    settings: RetrainSettings, candidate: dict[str, Any], checks: list[str], reasons: list[str]
) -> None:
    shares: dict[str, float] = candidate.get("predicted_shares") or {}
    top_label, top_share = max(shares.items(), key=lambda item: item[1], default=("-", 1.0))
    if top_share <= settings.max_class_share and len(shares) > 1:
        checks.append(f"class balance: the most predicted class {top_label} takes {top_share:.1%}")
    else:
        reasons.append(
            f"class balance: the candidate predicts class {top_label} for {top_share:.1%} of the holdout "
            f"(at most {settings.max_class_share:.0%} allowed)"
        )


def _baseline(candidate: dict[str, Any], checks: list[str], reasons: list[str]) -> None:
    """The candidate must beat its heuristic baseline on its training holdout (training.baseline)."""
    comparison = candidate.get("baseline")
    if not comparison:
        reasons.append("the candidate has no heuristic baseline recorded in its metadata")
        return
    direction = "higher" if comparison["higher_is_better"] else "lower"
    figures = (
        f"{comparison['metric']} {comparison['model']:.4f} vs baseline {comparison['baseline']:.4f} "
        f"({direction} is better, margin {comparison['margin']:g})"
    )
    if comparison["beats_baseline"]:
        checks.append(f"beats its heuristic baseline: {figures}")
    else:
        reasons.append(f"does not beat its heuristic baseline: {figures}")


def decide(settings: RetrainSettings, evaluation: dict[str, Any], prepared: dict[str, Any]) -> dict[str, Any]:
    candidate, production = evaluation["candidate"], evaluation["production"]
    task = str(candidate.get("task", CLASSIFICATION))
    metric = settings.gate_metric
    reasons: list[str] = []
    checks: list[str] = []
    answers = "probabilities" if task == CLASSIFICATION else "predictions"
    if candidate["finite"]:
        checks.append(f"candidate {answers} are all finite")
    else:
        reasons.append(f"the candidate's {answers} contain NaN or infinity")
    if task == CLASSIFICATION:
        _balance(settings, candidate, checks, reasons)
    _baseline(candidate, checks, reasons)
    check_business(settings.business_metric, candidate, production, checks, reasons)
    feedback_rows = int(prepared.get("feedback_rows", 0))
    if feedback_rows >= settings.min_feedback_rows:
        checks.append(f"{feedback_rows} labelled feedback rows (at least {settings.min_feedback_rows})")
    else:
        reasons.append(
            f"only {feedback_rows} labelled feedback rows (at least {settings.min_feedback_rows} needed)"
        )
    new = candidate.get("metrics", {}).get(metric)
    old = production.get("metrics", {}).get(metric)
    improvement: float | None = None
    if metric_task(metric) != task:
        suited = REGRESSION_METRICS if task != CLASSIFICATION else CLASSIFICATION_METRICS
        reasons.append(
            f"retrain_gate_metric {metric} does not measure a {task} model: choose one of {', '.join(suited)}"
        )
    elif new is None or old is None or not (math.isfinite(new) and math.isfinite(old)):
        reasons.append(f"{metric} is not available for both models (candidate {new}, production {old})")
    else:
        improvement = improvement_of(new, old, higher_is_better=settings.higher_is_better)
        direction = "" if settings.higher_is_better else ", lower is better"
        comparison = (
            f"{metric} {new:.4f} vs production {old:.4f} "
            f"({'+' if improvement >= 0 else ''}{improvement:.4f}, "
            f"margin {settings.gate_margin:g}{direction})"
        )
        if improvement >= settings.gate_margin:
            checks.append(comparison)
        else:
            reasons.append(f"not better than production: {comparison}")
    releasable = not reasons
    verdict = "releasable" if releasable else "rejected"
    summary = f"candidate {candidate['model_version']} {verdict}: " + (
        "; ".join(checks) if releasable else "; ".join(reasons)
    )
    return {
        "releasable": releasable,
        "metric": metric,
        "margin": settings.gate_margin,
        "candidate_value": new,
        "production_value": old,
        "improvement": improvement,
        "reasons": reasons,
        "checks": checks,
        "summary": summary,
    }
