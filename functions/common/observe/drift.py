"""Population stability index (PSI) of live inputs against the training data's feature baseline.

Training stores, per feature, quantile bin edges of the training data and the share of training rows
in each bin (`metadata.feature_baseline`, `training.train.feature_baseline`): bin i holds the values
x with edges[i-1] <= x < edges[i] (numpy's `searchsorted(edges, x, side="right")`, which is
`bisect_right`). Live rows are counted into the same bins and

    PSI = sum over bins of (actual - expected) * ln(actual / expected)

with both shares floored at `EPSILON` so an empty bin does not make it infinite. Rules of thumb:
below 0.1 no material shift, 0.1-0.25 a moderate one, above 0.25 a major one. Numpy-free.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

EPSILON = 1e-4
MODERATE = 0.1
MAJOR = 0.25


@dataclass(frozen=True)
class FeatureBins:
    edges: list[float]
    expected: list[float]
    """Share of training rows per bin: len(edges) + 1 values summing to 1."""


@dataclass(frozen=True)
class Baseline:
    """Bins per feature, in the model's feature order (None where the metadata has none)."""

    feature_names: list[str]
    bins: list[FeatureBins | None]

    @classmethod
    def from_metadata(cls, feature_names: Sequence[str], feature_baseline: Mapping[str, Any]) -> Baseline:
        """From `ModelMetadata.feature_baseline`; features it lacks (or holds badly) get None, so old
        metadata stays readable and simply reports no drift for them."""
        features = feature_baseline.get("features") if isinstance(feature_baseline, Mapping) else None
        features = features if isinstance(features, Mapping) else {}
        bins: list[FeatureBins | None] = []
        for name in feature_names:
            entry = features.get(name)
            bins.append(_bins(entry))
        return cls(feature_names=list(feature_names), bins=bins)

    @property
    def usable(self) -> bool:
        return any(b is not None for b in self.bins)


def _bins(entry: Any) -> FeatureBins | None:
    if not isinstance(entry, Mapping):
        return None
    edges, expected = entry.get("edges"), entry.get("proportions")
    if not isinstance(edges, list) or not isinstance(expected, list) or len(expected) != len(edges) + 1:
        return None
    if not all(type(v) in (int, float) and math.isfinite(v) for v in [*edges, *expected]):
        return None
    if any(b <= a for a, b in pairwise(edges)):
        return None
    return FeatureBins(edges=[float(e) for e in edges], expected=[float(p) for p in expected])


def psi(expected: Sequence[float], counts: Sequence[int]) -> float | None:
    """PSI of observed bin counts against expected shares; None without observations."""
    total = sum(counts)
    if total == 0:
        return None
    value = 0.0
    for share, count in zip(expected, counts, strict=True):
        e = max(share, EPSILON)
        a = max(count / total, EPSILON)
        value += (a - e) * math.log(a / e)
    return value


class DriftCounter:
    """Counts live rows into a baseline's bins; `psi()` gives the index per feature."""

    def __init__(self, baseline: Baseline) -> None:
        self.baseline = baseline
        self.counts = [[0] * len(b.expected) if b is not None else [] for b in baseline.bins]
        self.rows = 0

    def add(self, features: Sequence[float]) -> None:
        if len(features) != len(self.baseline.bins):
            return  # a row of another model's shape cannot be compared; the caller counts rows per model
        self.rows += 1
        for index, bins in enumerate(self.baseline.bins):
            if bins is not None:
                self.counts[index][bisect_right(bins.edges, features[index])] += 1

    def merge(self, other: DriftCounter) -> None:
        self.rows += other.rows
        for mine, theirs in zip(self.counts, other.counts, strict=True):
            for index, count in enumerate(theirs):
                mine[index] += count

    def psi(self) -> dict[str, float | None]:
        result: dict[str, float | None] = {}
        for name, bins, counts in zip(
            self.baseline.feature_names, self.baseline.bins, self.counts, strict=True
        ):
            result[name] = psi(bins.expected, counts) if bins is not None else None
        return result
