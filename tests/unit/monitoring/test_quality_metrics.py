"""Classification metrics without scikit-learn agree with scikit-learn; PSI and its bins follow the
training baseline's definition; windows are aligned to `since` and split by model version."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from common.observe.classification_metrics import METRICS, metric
from common.observe.drift import EPSILON, Baseline, DriftCounter, psi
from common.observe.feedback import Feedback
from common.observe.live_quality import ModelInfo, QualityAggregator
from common.observe.prediction_log import PredictionRow
from infra.config.monitor import MONITOR_METRICS

SKLEARN = {
    "accuracy": ("accuracy_score", {}),
    "balanced_accuracy": ("balanced_accuracy_score", {}),
    "f1_macro": ("f1_score", {"average": "macro", "zero_division": 0}),
    "precision_macro": ("precision_score", {"average": "macro", "zero_division": 0}),
    "recall_macro": ("recall_score", {"average": "macro", "zero_division": 0}),
}


def test_the_config_offers_exactly_the_metrics_computed() -> None:
    assert MONITOR_METRICS == METRICS


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("name", METRICS)
def test_metrics_match_scikit_learn(name: str, seed: int) -> None:
    import sklearn.metrics

    rng = random.Random(seed)
    classes = ["a", "b", "c"][: rng.randint(2, 3)]
    truth = [rng.choice(classes) for _ in range(rng.randint(1, 60))]
    predicted = [t if rng.random() < 0.6 else rng.choice(classes) for t in truth]
    function, options = SKLEARN[name]
    expected = getattr(sklearn.metrics, function)(truth, predicted, **options)
    assert metric(name, Counter(zip(truth, predicted, strict=True))) == pytest.approx(expected)


def test_no_rows_is_no_value_and_an_unknown_metric_is_named() -> None:
    assert all(metric(name, Counter()) is None for name in METRICS)
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        metric("auc", Counter())


def test_bins_follow_numpy_searchsorted_right() -> None:
    edges = [-1.0, 0.0, 2.5]
    baseline = Baseline.from_metadata(["x"], _baseline_doc(edges))
    counter = DriftCounter(baseline)
    values = [-3.0, -1.0, -0.5, 0.0, 1.0, 2.5, 9.0]
    for value in values:
        counter.add([value])
    expected = np.bincount(np.searchsorted(edges, values, side="right"), minlength=4).tolist()
    assert counter.counts == [expected]


def _baseline_doc(edges: list[float]) -> dict[str, object]:
    share = 1 / (len(edges) + 1)
    return {"features": {"x": {"edges": edges, "proportions": [share] * (len(edges) + 1)}}}


def test_psi_is_zero_for_the_baseline_and_grows_with_a_shift() -> None:
    expected = [0.25, 0.25, 0.25, 0.25]
    assert psi(expected, [10, 10, 10, 10]) == pytest.approx(0.0)
    assert psi(expected, [0, 0, 0, 0]) is None
    small = psi(expected, [8, 10, 10, 12])
    large = psi(expected, [0, 5, 15, 20])
    assert small is not None and large is not None and 0 < small < large
    # by hand: sum (a - e) ln(a / e), empty bins floored at EPSILON
    by_hand = sum((max(a, EPSILON) - 0.25) * np.log(max(a, EPSILON) / 0.25) for a in (0.0, 0.125, 0.375, 0.5))
    assert large == pytest.approx(by_hand)


def test_old_or_broken_baselines_give_no_drift_instead_of_failing() -> None:
    assert not Baseline.from_metadata(["x"], {}).usable
    broken = {"features": {"x": {"edges": [1.0, 0.5], "proportions": [0.3, 0.3, 0.4]}}}
    assert Baseline.from_metadata(["x"], broken).bins == [None]
    short = {"features": {"x": {"edges": [0.0], "proportions": [1.0]}}}
    assert Baseline.from_metadata(["x"], short).bins == [None]


T0 = datetime(2026, 3, 1, tzinfo=UTC)


def row(minutes: float, version: str, predicted: int, value: float = 0.0) -> PredictionRow:
    return PredictionRow("r", 0, T0 + timedelta(minutes=minutes), version, "1", [value], predicted)


def test_windows_are_aligned_to_since_and_split_by_model_version() -> None:
    info = ModelInfo("m-a", Baseline.from_metadata(["x"], _baseline_doc([0.0])), {"accuracy": 0.9})
    aggregator = QualityAggregator(
        since=T0,
        until=T0 + timedelta(hours=3),
        window=timedelta(hours=1),
        metric_name="accuracy",
        model_info=lambda version: info if version == "m-a" else None,
    )
    label = Feedback("r", 0, 1)
    aggregator.add(row(0, "m-a", 1), label)  # window 0, right
    aggregator.add(row(59.9, "m-a", 0), label)  # window 0, wrong
    aggregator.add(row(60, "m-a", 1), None)  # window 1, unlabelled
    aggregator.add(row(150, "m-b", 1), label)  # window 2, another version
    aggregator.add(row(180, "m-a", 1), label)  # at `until`: outside
    document = aggregator.document()
    versions = {v["model_version"]: v for v in document["versions"]}
    a_windows = versions["m-a"]["windows"]
    assert [(w["predictions"], w["labelled"], w["accuracy"]) for w in a_windows] == [
        (2, 2, 0.5),
        (1, 0, None),
        (0, 0, None),
    ]
    assert [w["start"] for w in a_windows] == [
        "2026-03-01T00:00:00Z",
        "2026-03-01T01:00:00Z",
        "2026-03-01T02:00:00Z",
    ]
    assert versions["m-a"]["baseline"] is True and versions["m-b"]["baseline"] is False
    assert versions["m-b"]["windows"][2]["accuracy"] == 1.0 and versions["m-b"]["psi"] == {}
    assert versions["m-a"]["psi"]["x"] is not None
