"""Classification metrics from (true label, predicted label) counts, without scikit-learn.

The same definitions as scikit-learn's (checked against it by a unit test): macro averages over the
labels that occur in the truth or the predictions, a class with no predictions has precision 0, one
with no true rows has recall 0 (scikit-learn's `zero_division=0`); balanced accuracy is the mean
recall over the classes present in the truth.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Mapping

METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro")
Confusion = Mapping[tuple[Hashable, Hashable], int]
"""(true label, predicted label) -> rows."""


def _per_class(
    confusion: Confusion,
) -> tuple[list[Hashable], Counter[Hashable], Counter[Hashable], Counter[Hashable]]:
    true_counts: Counter[Hashable] = Counter()
    predicted_counts: Counter[Hashable] = Counter()
    hits: Counter[Hashable] = Counter()
    for (truth, predicted), count in confusion.items():
        true_counts[truth] += count
        predicted_counts[predicted] += count
        if truth == predicted:
            hits[truth] += count
    labels = sorted(set(true_counts) | set(predicted_counts), key=repr)
    return labels, true_counts, predicted_counts, hits


def accuracy(confusion: Confusion) -> float | None:
    total = sum(confusion.values())
    if total == 0:
        return None
    return sum(count for (truth, predicted), count in confusion.items() if truth == predicted) / total


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def precision_macro(confusion: Confusion) -> float | None:
    labels, _, predicted_counts, hits = _per_class(confusion)
    if not labels:
        return None
    return sum(_ratio(hits[label], predicted_counts[label]) for label in labels) / len(labels)


def recall_macro(confusion: Confusion) -> float | None:
    labels, true_counts, _, hits = _per_class(confusion)
    if not labels:
        return None
    return sum(_ratio(hits[label], true_counts[label]) for label in labels) / len(labels)


def f1_macro(confusion: Confusion) -> float | None:
    labels, true_counts, predicted_counts, hits = _per_class(confusion)
    if not labels:
        return None
    # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (true + predicted): zero when both are zero.
    return sum(
        _ratio(2 * hits[label], true_counts[label] + predicted_counts[label]) for label in labels
    ) / len(labels)


def balanced_accuracy(confusion: Confusion) -> float | None:
    _, true_counts, _, hits = _per_class(confusion)
    present = [label for label, count in true_counts.items() if count]
    if not present:
        return None
    return sum(hits[label] / true_counts[label] for label in present) / len(present)


_FUNCTIONS: dict[str, Callable[[Confusion], float | None]] = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "f1_macro": f1_macro,
    "precision_macro": precision_macro,
    "recall_macro": recall_macro,
}


def metric(name: str, confusion: Confusion) -> float | None:
    """The named metric (one of METRICS) of the counts; None when there are no rows."""
    try:
        function = _FUNCTIONS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}") from None
    return function(confusion)
