"""Gates: CloudWatch alarms scoped to one version, created by `modelctl` for each release.

Why the CLI creates them (and not the stack): a version number exists only once `publish` made
it, and CloudWatch alarms cannot select "whichever version is the canary". So each release puts
three alarms on its candidate and deletes them when the release ends:

- errors:          AWS/Lambda Errors, Sum, {FunctionName, Resource=<fn>:<alias>, ExecutedVersion=N}
- p99:             AWS/Lambda Duration, p99, same dimensions
- internal-errors: <metrics namespace> InternalErrors, Sum, {FunctionVersion=N, service=<service>}:
                   the handler turns model exceptions into HTTP 500s, which Lambda does not count
                   as Errors; the function's EMF metric does.

Only these alarms gate a release: the stack's alias-wide alarms also see the primary's traffic,
and a fleet-wide alarm must not block (or roll back) the release of the fix for it. Thresholds
default to the stack's alias alarms (one source of truth: cdk.json `alarm_*`), overridable per
release.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from release.alias import VersionInfo
from release.aws import aws_errors

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

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
