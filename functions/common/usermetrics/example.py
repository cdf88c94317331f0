"""An example business metric: what one prediction earns, averaged over the rows given."""

from __future__ import annotations

from typing import Any

GAIN_PER_HIT = 1.0
LOSS_PER_MISS = 5.0


def profit(y_true: list[Any], y_pred: list[Any], probabilities: list[Any]) -> float:
    """A right answer earns GAIN_PER_HIT, a wrong one costs LOSS_PER_MISS; the mean over the rows."""
    if not y_true:
        return 0.0
    total = sum(GAIN_PER_HIT if t == p else -LOSS_PER_MISS for t, p in zip(y_true, y_pred, strict=True))
    return total / len(y_true)
