"""Building the A/B report's document: per-version labelled arms of the window
(`release.quality.join`), the always-valid comparison of the new version with the primary
(`release.quality.compare`), the labelled rows still needed (`release.quality.labels_needed`), the
business metric when a cost matrix is given, and the join's coverage. docs/ab-report.md documents
the JSON."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.business_metric import BusinessAccumulator, BusinessMetric
from common.layout import metadata_key
from common.observe.feedback import Feedback
from common.observe.label_join import JoinStats, joined_rows
from common.observe.prediction_log import PredictionRow
from modelctl.reports.coverage import RequestCounter
from release.alias import Routing
from release.aws import aws_errors
from release.errors import ShadowError
from release.quality import DEFAULT_ALPHA, ArmSummary, Direction, compare, labels_needed
from release.quality.join import CostMatrix, Metric, VersionArm, version_arms, window_only
from release.quality.sequential import DEFAULT_BURN_IN

DOCUMENT_SCHEMA_VERSION = 1
DEFAULT_ACCURACY_EFFECT = 0.02
# Without --effect, an error metric is asked to detect a change of this share of the primary's mean.
DEFAULT_RELATIVE_ERROR_EFFECT = 0.05
POWER = 0.80

TaskSource = Callable[[str], str | None]
"""model version -> its metadata's `task` ("classification", "regression"), None when unknown."""


class S3Task:
    """The `task` of a model version from its metadata.json in the model store, read once."""

    def __init__(self, s3: Any, model_bucket: str) -> None:
        self.s3 = s3
        self.model_bucket = model_bucket
        self._cache: dict[str, str | None] = {}

    def __call__(self, model_version: str) -> str | None:
        if model_version not in self._cache:
            try:
                body = self.s3.get_object(Bucket=self.model_bucket, Key=metadata_key(model_version))
                document = json.loads(body["Body"].read())
                task = document.get("task", "classification") if isinstance(document, dict) else None
                self._cache[model_version] = str(task) if task else None
            except Exception:  # unreadable metadata: the metric is inferred from the prediction
                self._cache[model_version] = None
        return self._cache[model_version]


def metric_resolver(task_of: TaskSource) -> Callable[[PredictionRow], Metric]:
    """The metric from the first labelled row's model task; without metadata, a non-integer number
    predicted means a regressor."""

    def resolve(row: PredictionRow) -> Metric:
        task = task_of(row.model_version)
        if task is not None:
            return Metric.for_task(task)
        predicted = row.predicted
        is_fraction = isinstance(predicted, float) and not predicted.is_integer()
        return Metric.ABSOLUTE_ERROR if is_fraction else Metric.ACCURACY

    return resolve


@dataclass(frozen=True)
class Selection:
    primary: str | None
    new: str | None
    source: str  # "option", "alias" or "window"


def parse_versions(text: str) -> tuple[str, str]:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise ShadowError(f"--versions {text!r} must name two different function versions: PRIMARY,NEW")
    return parts[0], parts[1]


def select(arms: dict[str, VersionArm], named: tuple[str, str] | None, routing: Routing | None) -> Selection:
    """Which version is the primary and which the new one: named, else the alias's routing, else
    (or for the alias's missing extra version) the versions with the most logged rows."""
    if named is not None:
        return Selection(named[0], named[1], "option")
    by_rows = sorted(arms, key=lambda version: (-arms[version].predictions, version))
    if routing is not None:
        if routing.extra is not None:
            return Selection(routing.primary, routing.extra, "alias")
        others = [version for version in by_rows if version != routing.primary]
        return Selection(routing.primary, others[0] if others else None, "alias" if not others else "window")
    return Selection(by_rows[0] if by_rows else None, by_rows[1] if len(by_rows) > 1 else None, "window")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _arm(
    arm: VersionArm, role: str, with_cost: bool, business: BusinessAccumulator | None = None
) -> dict[str, Any]:
    summary = arm.summary
    return {
        "function_version": arm.function_version,
        "role": role,
        "model_versions": sorted(arm.model_versions),
        "predictions": arm.predictions,
        "labelled": arm.labelled,
        "unscorable": arm.unscorable,
        **{key: value for key, value in summary.to_dict().items() if key != "binary"},
        "mean_cost": arm.mean_cost if with_cost else None,
        "business_value": business.value() if business is not None else None,
        "business_rows": len(business.values()) if business is not None else 0,
    }


def _tap(
    rows: Iterable[tuple[PredictionRow, Feedback | None]],
    business: BusinessMetric | None,
    into: dict[str, BusinessAccumulator],
) -> Iterator[tuple[PredictionRow, Feedback | None]]:
    """The joined rows, unchanged; each labelled row also goes to its version's business accumulator."""
    for row, feedback in rows:
        if business is not None and feedback is not None:
            accumulator = into.get(row.function_version)
            if accumulator is None:
                accumulator = into[row.function_version] = BusinessAccumulator(business)
            accumulator.add(
                feedback.label, row.predicted, getattr(row, "probabilities", None), feedback.reward
            )
        yield row, feedback


def _business_comparison(
    business: BusinessMetric,
    primary: BusinessAccumulator | None,
    new: BusinessAccumulator | None,
    alpha: float,
) -> dict[str, Any] | None:
    """The always-valid comparison of the per-row business values (new - primary)."""
    if primary is None or new is None:
        return None
    direction = Direction.HIGHER_IS_BETTER if business.higher_is_better else Direction.LOWER_IS_BETTER
    summaries = [ArmSummary.of(accumulator.values(), binary=False) for accumulator in (primary, new)]
    return _comparison(compare(summaries[0], summaries[1], direction=direction, alpha=alpha).to_dict())


def _effect(metric: Metric, effect: float | None, primary: VersionArm) -> float | None:
    if effect is not None:
        return effect
    if metric is Metric.ACCURACY:
        return DEFAULT_ACCURACY_EFFECT
    mean = primary.summary.mean if primary.summary.n else 0.0
    return DEFAULT_RELATIVE_ERROR_EFFECT * mean if mean > 0 else None


def coverage(stats: JoinStats, arms: dict[str, VersionArm]) -> dict[str, Any]:
    return {
        "predictions_logged": stats.window_rows,
        "feedback_items": stats.feedback_items,
        "feedback_labels": stats.feedback_labels,
        "feedback_duplicates": stats.feedback_items - stats.feedback_labels,
        "feedback_invalid": stats.feedback_invalid,
        "joined": stats.feedback_matched,
        "feedback_unjoined": stats.feedback_unmatched,
        "feedback_unknown": stats.feedback_unknown,
        "feedback_before_window": stats.feedback_before_window,
        "feedback_after_window": stats.feedback_after_window,
        "lookback_seconds": stats.lookback_seconds,
        "labelled_in_report": sum(arm.labelled for arm in arms.values()),
        "duplicate_records": stats.log.duplicate_records,
        "unreadable_objects": stats.log.read.unreadable_objects + stats.feedback_read.unreadable_objects,
    }


def _warnings(
    cover: dict[str, Any], selection: Selection, arms: dict[str, VersionArm], burn_in: int
) -> list[str]:
    notes: list[str] = []
    if cover["feedback_labels"] == 0:
        notes.append("no feedback received for this window: no version has labelled rows (POST /feedback)")
    if cover["feedback_unknown"]:
        notes.append(
            f"{cover['feedback_unknown']} labels name a (request id, row) with no record in the window or "
            "the lookback (never answered, or older than the lookback)"
        )
    if cover["feedback_after_window"]:
        notes.append(
            f"{cover['feedback_after_window']} labels received after the window have no record in it "
            "(predictions made after the window, or unknown ids)"
        )
    if cover["feedback_duplicates"]:
        notes.append(f"{cover['feedback_duplicates']} repeated labels for the same row were counted once")
    if selection.new is None:
        notes.append(
            f"only one version ({selection.primary or 'none'}) served in this window: nothing to compare"
        )
    for version in (selection.primary, selection.new):
        if version is None:
            continue
        arm = arms[version]
        if arm.predictions == 0:
            notes.append(f"version {version} has no logged predictions in this window")
        elif arm.labelled == 0:
            notes.append(f"version {version} has no labelled rows: its metric is unknown")
        elif arm.labelled < burn_in:
            notes.append(
                f"version {version} has {arm.labelled} labelled rows; the sequential test runs from {burn_in}"
            )
        if arm.unscorable:
            notes.append(
                f"version {version}: {arm.unscorable} labels could not be scored against the prediction"
            )
    return notes


def build_ab_report(
    *,
    s3: Any,
    log_bucket: str,
    task_of: TaskSource,
    since: datetime,
    until: datetime,
    feedback_until: datetime,
    named: tuple[str, str] | None = None,
    routing: Routing | None = None,
    metric: Metric | None = None,
    effect: float | None = None,
    cost_matrix: CostMatrix | None = None,
    business: BusinessMetric | None = None,
    alpha: float = DEFAULT_ALPHA,
    read_arms: Callable[..., tuple[dict[str, VersionArm], JoinStats]] | None = None,
    counter: RequestCounter | None = None,
) -> dict[str, Any]:
    """`read_arms`: the arms from elsewhere than the log read in process (Athena's aggregates,
    modelctl.reports.query.reports); it takes no business metric, which needs every labelled row."""
    if since >= until:
        raise ShadowError("--since must be before --until")
    if cost_matrix is not None and metric is Metric.ABSOLUTE_ERROR:
        raise ShadowError("--cost-matrix applies to classifiers only (the metric is accuracy)")
    started = time.perf_counter()
    if business is None and cost_matrix is not None:
        business = BusinessMetric.costs(cost_matrix)
    values: dict[str, BusinessAccumulator] = {}
    stats = JoinStats()
    if read_arms is not None:
        if business is not None:
            raise ShadowError("a business metric needs every labelled row: use --engine local")
        arms, stats = read_arms(
            s3,
            log_bucket,
            since=since,
            until=until,
            metric=metric if metric is not None else metric_resolver(task_of),
            versions=named,
            feedback_until=feedback_until,
        )
    else:
        with aws_errors(f"reading s3://{log_bucket}", ShadowError):
            rows = joined_rows(
                s3, log_bucket, since=since, until=until, feedback_until=feedback_until, stats=stats
            )
            in_window = window_only(rows, since, counter.add_row if counter is not None else None)
            arms = version_arms(
                _tap(in_window, business, values),
                metric=metric if metric is not None else metric_resolver(task_of),
                versions=named,
                cost_matrix=cost_matrix,
            )
    selection = select(arms, named, routing)
    chosen = next(iter(arms.values())).metric if arms else (metric or Metric.ACCURACY)
    for version in (selection.primary, selection.new):
        if version is not None:
            arms.setdefault(version, VersionArm(version, chosen))
    if cost_matrix is not None and chosen is Metric.ABSOLUTE_ERROR:
        raise ShadowError("--cost-matrix applies to classifiers only: these versions serve a regressor")
    with_cost = cost_matrix is not None
    roles = {selection.primary: "primary", selection.new: "new"}
    comparison_doc: dict[str, Any] | None = None
    needed: dict[str, Any] | None = None
    asked_effect: float | None = None
    if selection.primary is not None and selection.new is not None:
        primary, new = arms[selection.primary], arms[selection.new]
        comparison = compare(primary.summary, new.summary, direction=chosen.direction, alpha=alpha)
        comparison_doc = _comparison(comparison.to_dict())
        asked_effect = _effect(chosen, effect, primary)
        if asked_effect is not None and asked_effect != 0:
            size = labels_needed(comparison, asked_effect, power=POWER)
            needed = size.to_dict() if size is not None else None
    cover = coverage(stats, arms)
    return {
        "schema_version": DOCUMENT_SCHEMA_VERSION,
        "since": _text(since),
        "until": _text(until),
        "feedback_until": _text(feedback_until),
        "metric": chosen.value,
        "direction": chosen.direction.value,
        "alpha": alpha,
        "versions_from": selection.source,
        "routing": _routing(routing),
        "primary": selection.primary,
        "new": selection.new,
        "arms": [
            _arm(arm, roles.get(version, "other"), with_cost, values.get(version) if business else None)
            for version, arm in arms.items()
        ],
        "comparison": comparison_doc,
        "labels_needed": needed,
        "effect": asked_effect,
        "power": POWER,
        "business_metric": {**business.to_dict(), "name": business.name} if business is not None else None,
        "business_comparison": (
            _business_comparison(
                business, values.get(selection.primary or ""), values.get(selection.new or ""), alpha
            )
            if business is not None
            else None
        ),
        "coverage": cover,
        "warnings": _warnings(cover, selection, arms, DEFAULT_BURN_IN),
        "read_seconds": round(time.perf_counter() - started, 3),
    }


def _comparison(document: dict[str, Any]) -> dict[str, Any]:
    """`SequentialComparison.to_dict()` without the per-arm copies (the arms are listed once)."""
    return {key: value for key, value in document.items() if key not in ("primary", "new")}


def _routing(routing: Routing | None) -> dict[str, Any] | None:
    if routing is None:
        return None
    return {"primary": routing.primary, "extra": routing.extra, "extra_percent": routing.extra_percent}


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
