"""Gates: CloudWatch alarms scoped to one version, created by `modelctl` for each release.

Why the CLI creates them (and not the stack): a version number exists only once `publish` made
it, and CloudWatch alarms cannot select "whichever version is the canary". So each release puts
three alarms on its candidate and deletes them when the release ends:

- errors:          AWS/Lambda Errors, Sum, {FunctionName, Resource=<fn>:<alias>, ExecutedVersion=N}
- p99:             AWS/Lambda Duration, p99, same dimensions
- internal-errors: <metrics namespace> InternalErrors, Sum, {FunctionVersion=N, service=<service>}:
                   the handler turns model exceptions into HTTP 500s, which Lambda does not count
                   as Errors; the function's EMF metric does.

Beside the alarms, a release may carry a quality gate (`check_quality`): between steps it waits
for labelled rows of both versions and advances, rolls back or holds on the always-valid test of
release/quality (docs/quality-gate.md). Both runners (release/runner.py in process, the release
controller's `check` step) call it.

Only these alarms gate a release: the stack's alias-wide alarms also see the primary's traffic,
and a fleet-wide alarm must not block (or roll back) the release of the fix for it. Thresholds
default to the stack's alias alarms (one source of truth: cdk.json `alarm_*`), overridable per
release.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from release.alias import VersionInfo
from release.aws import aws_errors
from release.clock import format_duration
from release.errors import RefusedError

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

    from common.observe.feedback import Feedback
    from common.observe.prediction_log import PredictionRow
    from release.quality.release_gate import QualityGateSpec

ALARM = "ALARM"
MISSING = "MISSING"
NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"
SERVICE_ENV = "POWERTOOLS_SERVICE_NAME"


@dataclass(frozen=True)
class GateSettings:
    period_s: int = 60
    evaluation_periods: int = 3
    errors_threshold: float = 5.0
    p99_ms: float = 1000.0
    internal_errors_threshold: float = 5.0

    @property
    def window_s(self) -> int:
        """How long a breach must last before a gate fires."""
        return self.period_s * self.evaluation_periods

    def with_overrides(self, **overrides: float | int | None) -> GateSettings:
        given = {key: value for key, value in overrides.items() if value is not None}
        return replace(self, **given)  # type: ignore[arg-type]


def settings_from_fleet_alarms(cloudwatch: CloudWatchClient, names: Sequence[str]) -> GateSettings:
    """Mirror the stack's alias alarms (Errors Sum, Duration p99): the same thresholds and windows."""
    settings = GateSettings()
    if not names:
        return settings
    with aws_errors("reading the stack's alarms"):
        alarms = cloudwatch.describe_alarms(AlarmNames=list(names)).get("MetricAlarms", [])
    for alarm in alarms:
        if alarm.get("MetricName") == "Errors" and alarm.get("Statistic") == "Sum":
            settings = replace(
                settings,
                errors_threshold=float(alarm["Threshold"]),
                internal_errors_threshold=float(alarm["Threshold"]),
                period_s=int(alarm.get("Period") or settings.period_s),
                evaluation_periods=int(alarm.get("EvaluationPeriods") or settings.evaluation_periods),
            )
        elif alarm.get("MetricName") == "Duration" and alarm.get("ExtendedStatistic") == "p99":
            settings = replace(settings, p99_ms=float(alarm["Threshold"]))
    return settings


@dataclass(frozen=True)
class GateState:
    name: str
    kind: str
    state: str
    reason: str = ""

    @property
    def fired(self) -> bool:
        return self.state in (ALARM, MISSING)


class Gates:
    def __init__(self, cloudwatch: CloudWatchClient, function: str, alias: str) -> None:
        self.cloudwatch = cloudwatch
        self.function = function
        self.alias = alias

    def alarm_name(self, version: str, kind: str) -> str:
        return f"modelctl-{self.function}-{self.alias}-v{version}-{kind}"

    def definitions(self, candidate: VersionInfo, settings: GateSettings) -> dict[str, dict[str, Any]]:
        """The alarms for `candidate`, as put_metric_alarm arguments keyed by kind."""
        version = candidate.version
        lambda_dimensions = [
            {"Name": "FunctionName", "Value": self.function},
            {"Name": "Resource", "Value": f"{self.function}:{self.alias}"},
            {"Name": "ExecutedVersion", "Value": version},
        ]
        common: dict[str, Any] = {
            "Period": settings.period_s,
            "EvaluationPeriods": settings.evaluation_periods,
            "DatapointsToAlarm": settings.evaluation_periods,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "ActionsEnabled": False,
        }
        alarms: dict[str, dict[str, Any]] = {
            "errors": {
                "AlarmDescription": f"release gate: errors of v{version} on {self.alias}",
                "Namespace": "AWS/Lambda",
                "MetricName": "Errors",
                "Dimensions": lambda_dimensions,
                "Statistic": "Sum",
                "Threshold": settings.errors_threshold,
                **common,
            },
            "p99": {
                "AlarmDescription": f"release gate: p99 duration of v{version} on {self.alias}",
                "Namespace": "AWS/Lambda",
                "MetricName": "Duration",
                "Dimensions": lambda_dimensions,
                "ExtendedStatistic": "p99",
                "Threshold": settings.p99_ms,
                **common,
            },
        }
        namespace = candidate.environment.get(NAMESPACE_ENV)
        service = candidate.environment.get(SERVICE_ENV)
        if namespace and service:
            alarms["internal-errors"] = {
                "AlarmDescription": f"release gate: model errors (HTTP 500) of v{version}",
                "Namespace": namespace,
                "MetricName": "InternalErrors",
                "Dimensions": [
                    {"Name": "FunctionVersion", "Value": version},
                    {"Name": "service", "Value": service},
                ],
                "Statistic": "Sum",
                "Threshold": settings.internal_errors_threshold,
                **common,
            }
        return {kind: {"AlarmName": self.alarm_name(version, kind), **spec} for kind, spec in alarms.items()}

    def create(self, candidate: VersionInfo, settings: GateSettings) -> list[str]:
        """Put (or reset) the candidate's gate alarms; returns their names."""
        names = []
        for spec in self.definitions(candidate, settings).values():
            with aws_errors(f"creating gate alarm {spec['AlarmName']}"):
                self.cloudwatch.put_metric_alarm(**spec)
            names.append(str(spec["AlarmName"]))
        return names

    def states(self, names: Sequence[str]) -> list[GateState]:
        """Current state of each gate; one that no longer exists counts as fired (fail safe)."""
        if not names:
            return []
        with aws_errors("reading the gate alarms"):
            found = {
                a["AlarmName"]: a
                for a in self.cloudwatch.describe_alarms(AlarmNames=list(names)).get("MetricAlarms", [])
            }
        states = []
        for name in names:
            kind = self._kind(name)
            alarm: Mapping[str, Any] | None = found.get(name)
            if alarm is None:
                states.append(GateState(name, kind, MISSING, "the gate alarm was deleted"))
            else:
                states.append(
                    GateState(name, kind, str(alarm["StateValue"]), str(alarm.get("StateReason", "")))
                )
        return states

    def delete(self, names: Sequence[str]) -> None:
        if names:
            with aws_errors("deleting the gate alarms"):
                self.cloudwatch.delete_alarms(AlarmNames=list(names))

    @staticmethod
    def _kind(name: str) -> str:
        for kind in ("internal-errors", "errors", "p99"):
            if name.endswith(f"-{kind}"):
                return kind
        return name


def summarize(states: Sequence[GateState]) -> str:
    return ", ".join(f"{s.kind} {s.state}" for s in states) or "no gates"


# -- the quality gate: labelled live quality, between steps (release/quality/release_gate.py) --------

QUALITY_ADVANCE, QUALITY_ROLLBACK, QUALITY_WAIT, QUALITY_HOLD = "advance", "rollback", "wait", "hold"
LOG_BUCKET_ENV = "MODELCTL_LOG_BUCKET"
JoinedRows = Iterable[tuple["PredictionRow", "Feedback | None"]]
RowsSource = Callable[[datetime, datetime], JoinedRows]


@dataclass(frozen=True)
class QualityCheck:
    """One check of the quality gate: what the release does next, why, and every figure."""

    action: str
    reason: str
    figures: dict[str, Any]
    p_value: float | None

    def history_detail(self) -> str:
        return json.dumps(self.figures, separators=(",", ":"), default=str)


def s3_rows(s3: Any, log_bucket: str) -> RowsSource:
    """The prediction rows logged in [since, until) joined with the feedback received until `until`
    (without the join's lookback rows: the gate compares the traffic since the release started)."""
    from common.observe.label_join import joined_rows
    from release.quality.join import window_only

    if not log_bucket:
        raise RefusedError(
            f"the quality gate needs the log bucket (the shadow stack's LogBucketName, or {LOG_BUCKET_ENV})"
        )

    def rows(since: datetime, until: datetime) -> JoinedRows:
        with aws_errors(f"reading the prediction log and feedback in s3://{log_bucket}"):
            joined = joined_rows(s3, log_bucket, since=since, until=until, feedback_until=until)
            return list(window_only(joined, since))

    return rows


def check_quality(
    rows: RowsSource,
    spec: QualityGateSpec,
    *,
    base: str,
    candidate: str,
    since: datetime,
    now: datetime,
    waited_s: float,
    previous_p_value: float | None = None,
) -> QualityCheck:
    """The gate on every labelled row since the release started. `waited_s`: how long this step has
    waited for labels after its bake; at `spec.max_wait_s` an undecided gate holds the weight."""
    from release.quality.gate import Verdict
    from release.quality.release_gate import gate_decision

    decision, figures = gate_decision(
        rows(since, now), spec, base=base, candidate=candidate, previous_p_value=previous_p_value
    )
    figures["waited_s"] = round(waited_s, 1)
    p_value = decision.comparison.p_value
    if decision.verdict is Verdict.ROLLBACK:
        action, reason = QUALITY_ROLLBACK, f"quality gate ({spec.metric}): {decision.reason}"
    elif decision.verdict is Verdict.ADVANCE:
        action, reason = QUALITY_ADVANCE, f"quality gate ({spec.metric}): {decision.reason}"
    elif waited_s >= spec.max_wait_s:
        action = QUALITY_HOLD
        reason = (
            f"quality gate ({spec.metric}) undecided after waiting {format_duration(spec.max_wait_s)} for "
            f"labels ({decision.reason}): v{candidate} holds its weight; `modelctl promote` or `rollback`"
        )
    else:
        action, reason = QUALITY_WAIT, f"quality gate ({spec.metric}) waits: {decision.reason}"
    figures["action"] = action
    return QualityCheck(action, reason, figures, p_value)
