"""The gate: is the candidate releasable? Pure logic on the evaluation, so it is tested directly.

Releasable only if every check passes: the candidate's probabilities are all finite, no class takes
more than `max_class_share` of its predictions (a collapsed model predicts one class), the run had
at least `min_feedback_rows` labelled feedback rows, and the candidate beats production by at least
`gate_margin` on `gate_metric` (for log_loss, lower is better; a margin of 0 means at least as good).
"""

from __future__ import annotations

import math
from typing import Any

from retrain.settings import RetrainSettings


def decide(settings: RetrainSettings, evaluation: dict[str, Any], prepared: dict[str, Any]) -> dict[str, Any]:
    candidate, production = evaluation["candidate"], evaluation["production"]
    metric = settings.gate_metric
    reasons: list[str] = []
    checks: list[str] = []
    if candidate["finite"]:
        checks.append("candidate probabilities are all finite")
    else:
        reasons.append("the candidate's probabilities contain NaN or infinity")
    shares: dict[str, float] = candidate.get("predicted_shares") or {}
    top_label, top_share = max(shares.items(), key=lambda item: item[1], default=("-", 1.0))
    if top_share <= settings.max_class_share and len(shares) > 1:
        checks.append(f"class balance: the most predicted class {top_label} takes {top_share:.1%}")
    else:
        reasons.append(
            f"class balance: the candidate predicts class {top_label} for {top_share:.1%} of the holdout "
            f"(at most {settings.max_class_share:.0%} allowed)"
        )
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
    if new is None or old is None or not (math.isfinite(new) and math.isfinite(old)):
        reasons.append(f"{metric} is not available for both models (candidate {new}, production {old})")
    else:
        improvement = (new - old) if settings.higher_is_better else (old - new)
        comparison = (
            f"{metric} {new:.4f} vs production {old:.4f} "
            f"({'+' if improvement >= 0 else ''}{improvement:.4f}, "
            f"margin {settings.gate_margin:g})"
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
