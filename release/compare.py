"""Metric-gated promotion: advance only if the new version is no worse than the primary.

Over a bake, for each of the two versions: invocations and errors (AWS/Lambda Errors plus the
function's InternalErrors, i.e. HTTP 500s) through the alias, and the mean duration. The new
version may exceed the primary's error rate by `error_margin_pp` percentage points and its mean
duration by `latency_margin_pct` percent. The mean, not p99: with a 10% canary over a few minutes
a p99 rests on a handful of requests; the absolute p99 is the p99 gate's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from release.aws import aws_errors

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient


@dataclass(frozen=True)
class VersionStats:
    version: str
    invocations: float
    errors: float
    mean_duration_ms: float | None

    @property
    def error_rate_pct(self) -> float:
        return 100.0 * self.errors / self.invocations if self.invocations else 0.0

    def describe(self) -> str:
        duration = "n/a" if self.mean_duration_ms is None else f"{self.mean_duration_ms:.1f} ms"
        return (
            f"v{self.version}: {self.invocations:g} invocations, error rate {self.error_rate_pct:.2f}%, "
            f"mean duration {duration}"
        )


@dataclass(frozen=True)
class CompareSettings:
    error_margin_pp: float = 1.0
    latency_margin_pct: float = 20.0
    min_invocations: int = 1


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


class MetricsReader(Protocol):
    def stats(
        self, version: str, *, namespace: str | None, service: str | None, start: datetime, end: datetime
    ) -> VersionStats: ...


class CloudWatchMetricsReader:
    def __init__(self, cloudwatch: CloudWatchClient, function: str, alias: str) -> None:
        self.cloudwatch = cloudwatch
        self.function = function
        self.alias = alias

    def stats(
        self, version: str, *, namespace: str | None, service: str | None, start: datetime, end: datetime
    ) -> VersionStats:
        period = max(60, int((end - start).total_seconds() // 60 + 1) * 60)
        dimensions = [
            {"Name": "FunctionName", "Value": self.function},
            {"Name": "Resource", "Value": f"{self.function}:{self.alias}"},
            {"Name": "ExecutedVersion", "Value": version},
        ]

        def query(query_id: str, name: str, stat: str, dims: list[dict[str, str]], ns: str) -> dict[str, Any]:
            return {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": name, "Dimensions": dims},
                    "Period": period,
                    "Stat": stat,
                },
                "ReturnData": True,
            }

        queries = [
            query("invocations", "Invocations", "Sum", dimensions, "AWS/Lambda"),
            query("errors", "Errors", "Sum", dimensions, "AWS/Lambda"),
            query("duration", "Duration", "Average", dimensions, "AWS/Lambda"),
        ]
        if namespace and service:
            model_dims = [
                {"Name": "FunctionVersion", "Value": version},
                {"Name": "service", "Value": service},
            ]
            queries.append(query("internal", "InternalErrors", "Sum", model_dims, namespace))
        with aws_errors(f"reading the metrics of v{version}"):
            response = self.cloudwatch.get_metric_data(
                MetricDataQueries=queries,  # type: ignore[arg-type]
                StartTime=start,
                EndTime=end,
            )
        values = {r["Id"]: [float(v) for v in r.get("Values", [])] for r in response["MetricDataResults"]}
        durations = values.get("duration", [])
        return VersionStats(
            version=version,
            invocations=sum(values.get("invocations", [])),
            errors=sum(values.get("errors", [])) + sum(values.get("internal", [])),
            mean_duration_ms=sum(durations) / len(durations) if durations else None,
        )


def compare(candidate: VersionStats, primary: VersionStats, settings: CompareSettings) -> Verdict:
    if candidate.invocations < settings.min_invocations:
        return Verdict(
            False,
            f"v{candidate.version} served {candidate.invocations:g} requests during the bake "
            f"(need {settings.min_invocations}): there is nothing to compare",
        )
    worse_errors = candidate.error_rate_pct > primary.error_rate_pct + settings.error_margin_pp
    if worse_errors:
        return Verdict(
            False,
            f"error rate {candidate.error_rate_pct:.2f}% of v{candidate.version} exceeds "
            f"v{primary.version}'s {primary.error_rate_pct:.2f}% by more than {settings.error_margin_pp:g} "
            "points",
        )
    if candidate.mean_duration_ms is not None and primary.mean_duration_ms is not None:
        limit = primary.mean_duration_ms * (1 + settings.latency_margin_pct / 100.0)
        if candidate.mean_duration_ms > limit:
            return Verdict(
                False,
                f"mean duration {candidate.mean_duration_ms:.1f} ms of v{candidate.version} exceeds "
                f"v{primary.version}'s {primary.mean_duration_ms:.1f} ms by more than "
                f"{settings.latency_margin_pct:g}%",
            )
    return Verdict(True, f"no worse than the primary ({candidate.describe()}; {primary.describe()})")
