"""User business metrics, named `tests.unit.business.user_metrics:<name>` in the tests."""

from __future__ import annotations

from typing import Any


def revenue(y_true: list[Any], y_pred: list[Any], probabilities: list[Any]) -> float:
    """10 per correctly predicted 1, -2 per false alarm, averaged over the rows."""
    values = [
        10.0 if (t == p == 1) else (-2.0 if p == 1 else 0.0) for t, p in zip(y_true, y_pred, strict=True)
    ]
    return sum(values) / len(values)


def confident_hits(y_true: list[Any], y_pred: list[Any], probabilities: list[Any]) -> float:
    """Share of rows predicted right with probability >= 0.8 (uses the probabilities)."""
    hits = [
        t == p and max(prob or [0.0]) >= 0.8 for t, p, prob in zip(y_true, y_pred, probabilities, strict=True)
    ]
    return float(sum(bool(hit) for hit in hits)) / len(hits)


def broken(y_true: list[Any], y_pred: list[Any], probabilities: list[Any]) -> float:
    raise ZeroDivisionError("the user's bug")


NOT_A_FUNCTION = 3
