"""Quality gate: how often the always-valid gate rolls back a worse canary, and an identical one.

A simulation, not a timing: for every seed, labelled rows arrive in batches (each row served by the
new version with the canary weight), every row's correctness is drawn from its version's accuracy,
and the gate (release.quality, the very code the release runs) is checked after every batch. Figures:

- power: share of runs where a version 5 accuracy points worse (0.90 vs 0.85) at a 10% canary is
  rolled back within 20,000 labelled rows in total (target >= 0.95);
- false_rollback_rate: share of A/A runs (0.90 vs 0.90) rolled back at any check within the same
  budget (target <= 0.05);
- median_labels_to_decision: median labelled rows in total at the first decision in the power runs.

Also: the error rate of a naive fixed-sample z-test checked after every batch against the mSPRT's,
the reason a sequential test is needed (docs/quality-gate.md). `python -m bench.quality_gate` prints
the figures as JSON without touching bench/results.json; `python -m bench.run --only quality_gate`
records them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm

from bench.core import BenchResult, Measurement, judge, now_iso
from bench.suite import Suite
from release.quality.arms import binary_variance
from release.quality.gate import ADVANCE_CODE, ROLLBACK_CODE, WAIT_CODE, QualityGateConfig, verdict_codes
from release.quality.sequential import boundary, difference_statistics, mixture_log_likelihood_ratio

NAME = "quality_gate"
TITLE = "quality gate: always-valid rollback of a worse canary (simulation)"

SEEDS = 1000
QUICK_SEEDS = 200
PRIMARY_ACCURACY = 0.90
WORSE_ACCURACY = 0.85
CANARY_WEIGHT = 0.10
BATCH = 200  # labelled rows per check
BUDGET = 20_000  # labelled rows in total
LONG_BUDGET = 100_000  # A/A followed further: the guarantee holds at any horizon
SHIFT_STEPS = (0.10, 0.25, 0.50)  # the weights of the simulated shift, each for a third of the labels
TARGET_POWER = 0.95
TARGET_FALSE_ROLLBACK = 0.05

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Streams:
    """Cumulative counts after each check, shape (seeds, checks)."""

    labels: IntArray  # labelled rows in total
    n_primary: IntArray
    correct_primary: IntArray
    n_new: IntArray
    correct_new: IntArray


def draw(
    seeds: int, p_primary: float, p_new: float, *, weight: float | FloatArray, batch: int, budget: int
) -> Streams:
    """One independent generator per seed (seed i reproduces run i). `weight` is the new version's
    share, one number or one per check (a shift moving the weight between checks)."""
    checks = budget // batch
    shape = (seeds, checks)
    weights = np.broadcast_to(np.asarray(weight, dtype=np.float64), (checks,))
    n_new = np.empty(shape, dtype=np.int64)
    correct_new = np.empty(shape, dtype=np.int64)
    correct_primary = np.empty(shape, dtype=np.int64)
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        to_new = rng.binomial(batch, weights)
        n_new[seed] = to_new
        correct_new[seed] = rng.binomial(to_new, p_new)
        correct_primary[seed] = rng.binomial(batch - to_new, p_primary)
    labels = np.broadcast_to(np.arange(1, checks + 1, dtype=np.int64) * batch, shape)
    cum_new = np.cumsum(n_new, axis=1)
    return Streams(
        labels=np.array(labels),
        n_primary=labels - cum_new,
        correct_primary=np.cumsum(correct_primary, axis=1),
        n_new=cum_new,
        correct_new=np.cumsum(correct_new, axis=1),
    )


def _statistics(streams: Streams, config: QualityGateConfig) -> tuple[FloatArray, FloatArray, FloatArray]:
    na, nb = streams.n_primary, streams.n_new
    mean_a = streams.correct_primary / np.maximum(na, 1)
    mean_b = streams.correct_new / np.maximum(nb, 1)
    stats = difference_statistics(
        na,
        mean_a,
        binary_variance(streams.correct_primary, na),
        nb,
        mean_b,
        binary_variance(streams.correct_new, nb),
        config.mixture_scale,
        min_rows=config.burn_in,
    )
    return stats.difference, stats.variance, stats.lam


def gate_codes(streams: Streams, config: QualityGateConfig) -> NDArray[np.int8]:
    difference, variance, lam = _statistics(streams, config)
    radius = np.sqrt(variance) * boundary(lam, config.alpha)
    return verdict_codes(
        difference - radius, difference + radius, streams.n_new, config.margin, config.min_labels
    )


def naive_codes(streams: Streams, config: QualityGateConfig) -> NDArray[np.int8]:
    """The same rule on the fixed-sample (1 - alpha) interval, as if each check were the only one."""
    difference, variance, _ = _statistics(streams, config)
    radius = np.sqrt(variance) * float(norm.ppf(1 - config.alpha / 2))
    return verdict_codes(
        difference - radius, difference + radius, streams.n_new, config.margin, config.min_labels
    )


def first_decision(codes: NDArray[np.int8], labels: IntArray) -> tuple[NDArray[np.int8], FloatArray]:
    """Per run: the first non-WAIT code (WAIT if none) and the labelled rows at it (NaN if none)."""
    decided = codes != WAIT_CODE
    any_decided = decided.any(axis=1)
    index = decided.argmax(axis=1)
    rows = np.arange(codes.shape[0])
    first = np.where(any_decided, codes[rows, index], WAIT_CODE).astype(np.int8)
    at = np.where(any_decided, labels[rows, index].astype(np.float64), np.nan)
    return first, at


def rejects_zero_ever(streams: Streams, config: QualityGateConfig, *, sequential: bool) -> FloatArray:
    """Per run: whether H0 difference = 0 is ever rejected at level alpha (two-sided)."""
    difference, variance, lam = _statistics(streams, config)
    z = difference / np.sqrt(variance)
    if sequential:
        rejected = mixture_log_likelihood_ratio(z, lam) >= math.log(1 / config.alpha)
    else:
        rejected = np.abs(z) > norm.ppf(1 - config.alpha / 2)
    return np.asarray(np.nan_to_num(rejected, nan=0.0).any(axis=1), dtype=np.float64)


def _median(values: FloatArray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else None


def shift_weights(budget: int = BUDGET, batch: int = BATCH) -> FloatArray:
    """A shift checked at every batch: 10% for the first third of the labels, 25%, then 50%."""
    checks = budget // batch
    return np.array(
        [SHIFT_STEPS[min(i * len(SHIFT_STEPS) // checks, len(SHIFT_STEPS) - 1)] for i in range(checks)]
    )


def shift_figures(seeds: int, config: QualityGateConfig) -> dict[str, Any]:
    """The gate over a shift whose weight grows between checks (the test's information clock absorbs
    the allocation change): worse model, A/A, and a model exactly at the margin."""
    weights = shift_weights()
    worse = draw(seeds, PRIMARY_ACCURACY, WORSE_ACCURACY, weight=weights, batch=BATCH, budget=BUDGET)
    same = draw(seeds, PRIMARY_ACCURACY, PRIMARY_ACCURACY, weight=weights, batch=BATCH, budget=BUDGET)
    edge = draw(
        seeds, PRIMARY_ACCURACY, PRIMARY_ACCURACY - config.margin, weight=weights, batch=BATCH, budget=BUDGET
    )
    worse_first, worse_at = first_decision(gate_codes(worse, config), worse.labels)
    same_codes = gate_codes(same, config)
    edge_first, _ = first_decision(gate_codes(edge, config), edge.labels)
    return {
        "weights": list(SHIFT_STEPS),
        "power": float(np.mean(worse_first == ROLLBACK_CODE)),
        "median_labels_to_decision": _median(worse_at),
        "false_rollback_rate": float(np.mean((same_codes == ROLLBACK_CODE).any(axis=1))),
        "aa_advanced_rate": float(np.mean(first_decision(same_codes, same.labels)[0] == ADVANCE_CODE)),
        "at_margin_rollback_rate": float(np.mean(edge_first == ROLLBACK_CODE)),
        "at_margin_advance_rate": float(np.mean(edge_first == ADVANCE_CODE)),
    }


def simulate(seeds: int = SEEDS, config: QualityGateConfig | None = None) -> dict[str, Any]:
    """Every figure of the benchmark, as plain JSON-ready values."""
    config = config if config is not None else QualityGateConfig()
    worse = draw(seeds, PRIMARY_ACCURACY, WORSE_ACCURACY, weight=CANARY_WEIGHT, batch=BATCH, budget=BUDGET)
    same = draw(
        seeds, PRIMARY_ACCURACY, PRIMARY_ACCURACY, weight=CANARY_WEIGHT, batch=BATCH, budget=LONG_BUDGET
    )
    at_margin = draw(
        seeds,
        PRIMARY_ACCURACY,
        PRIMARY_ACCURACY - config.margin,
        weight=CANARY_WEIGHT,
        batch=BATCH,
        budget=BUDGET,
    )
    in_budget = same.labels[0] <= BUDGET

    worse_first, worse_at = first_decision(gate_codes(worse, config), worse.labels)
    same_codes = gate_codes(same, config)
    same_first, same_at = first_decision(same_codes, same.labels)
    naive_worse_first, naive_worse_at = first_decision(naive_codes(worse, config), worse.labels)
    naive_same = naive_codes(same, config)
    margin_first, _ = first_decision(gate_codes(at_margin, config), at_margin.labels)
    naive_margin_first, _ = first_decision(naive_codes(at_margin, config), at_margin.labels)
    in_budget_streams = Streams(
        labels=same.labels[:, in_budget],
        n_primary=same.n_primary[:, in_budget],
        correct_primary=same.correct_primary[:, in_budget],
        n_new=same.n_new[:, in_budget],
        correct_new=same.correct_new[:, in_budget],
    )
    return {
        "power": float(np.mean(worse_first == ROLLBACK_CODE)),
        "false_rollback_rate": float(np.mean((same_codes[:, in_budget] == ROLLBACK_CODE).any(axis=1))),
        "median_labels_to_decision": _median(worse_at),
        "settings": {
            **config.to_dict(),
            "seeds": seeds,
            "primary_accuracy": PRIMARY_ACCURACY,
            "worse_accuracy": WORSE_ACCURACY,
            "canary_weight": CANARY_WEIGHT,
            "labels_per_check": BATCH,
            "label_budget": BUDGET,
            "test": "mSPRT (normal mixture) confidence sequence, checked after every batch",
        },
        "worse": {
            "advanced_rate": float(np.mean(worse_first == ADVANCE_CODE)),
            "undecided_rate": float(np.mean(worse_first == WAIT_CODE)),
            "labels_to_decision_p90": float(np.nanpercentile(worse_at, 90))
            if np.isfinite(worse_at).any()
            else None,
        },
        "aa": {
            "false_rollback_rate_within_long_budget": float(
                np.mean((same_codes == ROLLBACK_CODE).any(axis=1))
            ),
            "long_budget": LONG_BUDGET,
            "advanced_within_budget": float(
                np.mean(np.isfinite(same_at) & (same_at <= BUDGET) & (same_first == ADVANCE_CODE))
            ),
            "advanced_within_long_budget": float(np.mean(same_first == ADVANCE_CODE)),
            "median_labels_to_advance": _median(np.where(same_first == ADVANCE_CODE, same_at, np.nan)),
        },
        "at_margin": {
            "true_difference": -config.margin,
            "rollback_rate_sequential": float(np.mean(margin_first == ROLLBACK_CODE)),
            "rollback_rate_naive": float(np.mean(naive_margin_first == ROLLBACK_CODE)),
            "advance_rate_sequential": float(np.mean(margin_first == ADVANCE_CODE)),
            "advance_rate_naive": float(np.mean(naive_margin_first == ADVANCE_CODE)),
        },
        "naive_fixed_sample_test": {
            "power": float(np.mean(naive_worse_first == ROLLBACK_CODE)),
            "median_labels_to_decision": _median(naive_worse_at),
            "false_rollback_rate": float(np.mean((naive_same[:, in_budget] == ROLLBACK_CODE).any(axis=1))),
            "aa_type1_any_check_within_budget": float(
                np.mean(rejects_zero_ever(in_budget_streams, config, sequential=False))
            ),
            "aa_type1_any_check_within_long_budget": float(
                np.mean(rejects_zero_ever(same, config, sequential=False))
            ),
        },
        "shift": shift_figures(seeds, config),
        "sequential_type1": {
            "aa_type1_any_check_within_budget": float(
                np.mean(rejects_zero_ever(in_budget_streams, config, sequential=True))
            ),
            "aa_type1_any_check_within_long_budget": float(
                np.mean(rejects_zero_ever(same, config, sequential=True))
            ),
        },
    }


def run(suite: Suite) -> BenchResult:
    started = time.monotonic()
    seeds = QUICK_SEEDS if suite.quick else SEEDS
    figures = simulate(seeds)
    power = figures["power"]
    false_rate = figures["false_rollback_rate"]
    median = figures["median_labels_to_decision"]
    measurements = (
        Measurement(
            key="power",
            what=f"worse canary ({WORSE_ACCURACY} vs {PRIMARY_ACCURACY}) rolled back in {BUDGET:,} labels",
            unit="share",
            samples=seeds,
            median=power,
            target=judge(f">= {TARGET_POWER}", [("power", power >= TARGET_POWER)]),
        ),
        Measurement(
            key="false_rollback_rate",
            what=f"identical canary (A/A) rolled back within {BUDGET:,} labels",
            unit="share",
            samples=seeds,
            median=false_rate,
            target=judge(
                f"<= {TARGET_FALSE_ROLLBACK}", [("false rollbacks", false_rate <= TARGET_FALSE_ROLLBACK)]
            ),
        ),
        Measurement(
            key="median_labels_to_decision",
            what="labelled rows in total to the decision (worse canary)",
            unit="rows",
            samples=seeds,
            median=median,
        ),
    )
    return BenchResult(
        name=NAME,
        title=TITLE,
        status="ok",
        measurements=measurements,
        details={
            "power": power,
            "false_rollback_rate": false_rate,
            "median_labels_to_decision": median,
            **{
                key: value
                for key, value in figures.items()
                if key not in ("power", "false_rollback_rate", "median_labels_to_decision")
            },
        },
        wall_s=time.monotonic() - started,
        measured_at=now_iso(),
        quick=suite.quick,
    )


if __name__ == "__main__":
    print(json.dumps(simulate(), indent=2))
