"""The quality-gate options of `modelctl canary` and `shift` (docs/quality-gate.md): declared once,
turned into a `QualityGateSpec` with the log bucket resolved from the shadow stack's outputs (or
`MODELCTL_LOG_BUCKET`), and into the `business_metric` the gate and the reports share."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from release.errors import RefusedError

if TYPE_CHECKING:
    from common.business_metric import BusinessMetric
    from release.quality.release_gate import QualityGateSpec

QualityGateOpt = Annotated[
    str,
    typer.Option(
        "--quality-gate",
        help="gate each step on labelled live quality: accuracy, mae, rmse or business (off by default)",
    ),
]
QualityMarginOpt = Annotated[
    float | None,
    typer.Option("--quality-margin", help="how much worse the new version may be (metric units; 0.01)"),
]
QualityMinLabelsOpt = Annotated[
    int | None, typer.Option("--quality-min-labels", help="labelled rows of the new version to advance (200)")
]
QualityMaxWaitOpt = Annotated[
    str, typer.Option("--quality-max-wait", help="longest wait for labels after a bake, then hold (1h)")
]
BusinessMetricOpt = Annotated[
    str,
    typer.Option(
        "--business-metric",
        help='the business metric: reward, module:function, or a cost matrix {"0":{"1":5}}',
    ),
]

QUALITY_RUN_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("quality_gate", QualityGateOpt, ""),
    ("quality_margin", QualityMarginOpt, None),
    ("quality_min_labels", QualityMinLabelsOpt, None),
    ("quality_max_wait", QualityMaxWaitOpt, "1h"),
    ("business_metric", BusinessMetricOpt, ""),
)


def business_metric_document(text: str) -> dict[str, Any] | None:
    """`--business-metric`: `reward`, `module:function` (`!` before it: lower is better), or a JSON
    cost matrix (common.business_metric.parse_spec), as the document the gate carries."""
    from common.business_metric import BusinessMetricError, parse_spec

    if text.strip() and os.getcwd() not in sys.path:  # the user's module:function, from where modelctl runs
        sys.path.append(os.getcwd())
    try:
        metric = parse_spec(text)
    except BusinessMetricError as exc:
        raise RefusedError(f"--business-metric: {exc}") from None
    return metric.to_dict() if metric is not None else None


def report_business_metric(text: str) -> BusinessMetric | None:
    """The reports' `--business-metric`: the metric, or None when not given; a bad one is a
    ShadowError, the reports' one-line error."""
    from common.business_metric import BusinessMetric
    from release.errors import ShadowError

    try:
        document = business_metric_document(text)
    except RefusedError as exc:
        raise ShadowError(str(exc)) from None
    return BusinessMetric.from_dict(document) if document is not None else None


def quality_spec(
    *,
    metric: str,
    margin: float | None,
    min_labels: int | None,
    max_wait_s: float,
    business_metric: str,
    log_bucket: str,
) -> QualityGateSpec | None:
    """The spec, or None without `--quality-gate`; RefusedError naming a bad option."""
    if not metric:
        if margin is not None or min_labels is not None:
            raise RefusedError("--quality-margin and --quality-min-labels need --quality-gate METRIC")
        return None
    from release.quality.gate import DEFAULT_MARGIN, DEFAULT_MIN_LABELS
    from release.quality.release_gate import QualityGateSpec

    if metric in ("mae", "rmse", "business") and margin is None:
        raise RefusedError(
            f"--quality-gate {metric}: give --quality-margin in the metric's units (no unit-free default)"
        )
    return QualityGateSpec(
        metric=metric,
        margin=DEFAULT_MARGIN if margin is None else margin,
        min_labels=DEFAULT_MIN_LABELS if min_labels is None else min_labels,
        max_wait_s=max_wait_s,
        log_bucket=log_bucket,
        business=business_metric_document(business_metric),
    )


def quality_log_bucket(factory: Any) -> str:
    """`MODELCTL_LOG_BUCKET`, else the shadow stack's LogBucketName (where the log and feedback are)."""
    from release.gates import LOG_BUCKET_ENV

    bucket = str(factory.env.get(LOG_BUCKET_ENV) or "")
    return bucket or str(factory.shadow_target.log_bucket)
