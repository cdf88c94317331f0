"""Statistics of the quality gate and the A/B report: per-version summaries of a per-row metric, an
always-valid (sequential) comparison of two versions, the gate's decision and sample sizes.

Numpy and scipy only; no AWS, no CLI. See docs/quality-gate.md.
"""

from release.quality.arms import ArmSummary, Direction, summarise, wilson_interval
from release.quality.gate import (
    DEFAULT_MARGIN,
    DEFAULT_MIN_LABELS,
    GateDecision,
    QualityGateConfig,
    Verdict,
    decide,
)
from release.quality.power import SampleSize, fixed_horizon_labels, labels_needed, sequential_labels
from release.quality.sequential import (
    DEFAULT_ALPHA,
    DEFAULT_MIXTURE_SCALE,
    SequentialComparison,
    compare,
    mixture_scale_for,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_MARGIN",
    "DEFAULT_MIN_LABELS",
    "DEFAULT_MIXTURE_SCALE",
    "ArmSummary",
    "Direction",
    "GateDecision",
    "QualityGateConfig",
    "SampleSize",
    "SequentialComparison",
    "Verdict",
    "compare",
    "decide",
    "fixed_horizon_labels",
    "labels_needed",
    "mixture_scale_for",
    "sequential_labels",
    "summarise",
    "wilson_interval",
]
