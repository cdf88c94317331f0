"""Per-version gates: alarms scoped to the new version only, their states, and their thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from release.alias import VersionCatalog
from release.compare import (
    CloudWatchMetricsReader,
    CompareSettings,
    VersionStats,
    compare,
)
from release.gates import Gates, GateSettings, settings_from_fleet_alarms
from tests.unit.modelctl.world import NAMESPACE, SERVICE, World


def gates(world: World) -> Gates:
    return Gates(world.cloudwatch, world.function, world.alias)


def alarms(world: World) -> dict[str, dict[str, object]]:
    found = world.cloudwatch.describe_alarms(AlarmNamePrefix="modelctl-")["MetricAlarms"]
    return {a["AlarmName"]: a for a in found}


def test_gates_watch_only_the_new_versions_traffic(world: World) -> None:
    candidate = VersionCatalog(world.lambda_, world.function).describe("2")
    names = gates(world).create(candidate, GateSettings())
    assert names == [world.gate_alarm("2", k) for k in ("errors", "p99", "internal-errors")]
    created = alarms(world)
    executed_version = {"Name": "ExecutedVersion", "Value": "2"}
    errors, p99, internal = (created[name] for name in names)
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert executed_version in errors["Dimensions"]  # type: ignore[operator]
    assert {"Name": "Resource", "Value": f"{world.function}:live"} in errors["Dimensions"]  # type: ignore[operator]
    assert (p99["MetricName"], p99["ExtendedStatistic"]) == ("Duration", "p99")
    assert executed_version in p99["Dimensions"]  # type: ignore[operator]
    # HTTP 500s are not Lambda errors: the model metric the handler emits, for this version only.
    assert (internal["Namespace"], internal["MetricName"]) == (NAMESPACE, "InternalErrors")
    assert sorted(d["Value"] for d in internal["Dimensions"]) == sorted(["2", SERVICE])  # type: ignore[attr-defined]


def test_thresholds_and_windows_follow_the_stacks_alias_alarms(world: World) -> None:
    world.cloudwatch.put_metric_alarm(
        AlarmName=world.errors_alarm,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=120,
        EvaluationPeriods=2,
        Threshold=7,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    settings = settings_from_fleet_alarms(world.cloudwatch, [world.errors_alarm, world.p99_alarm])
    assert settings == GateSettings(
        period_s=120, evaluation_periods=2, errors_threshold=7, p99_ms=1000, internal_errors_threshold=7
    )
    assert settings.with_overrides(p99_ms=250, period_s=None).p99_ms == 250


def test_a_gate_in_alarm_has_fired_and_one_deleted_counts_as_fired(world: World) -> None:
    candidate = VersionCatalog(world.lambda_, world.function).describe("2")
    watch = gates(world)
    names = watch.create(candidate, GateSettings())
    assert not any(s.fired for s in watch.states(names))
    world.set_alarm(names[0], "ALARM", "5 errors")
    world.cloudwatch.delete_alarms(AlarmNames=[names[1]])
    states = {s.kind: s for s in watch.states(names)}
    assert states["errors"].fired and states["errors"].reason == "5 errors"
    assert states["p99"].fired and states["p99"].state == "MISSING"
    assert not states["internal-errors"].fired


def test_deleting_removes_only_the_release_gates(world: World) -> None:
    candidate = VersionCatalog(world.lambda_, world.function).describe("2")
    watch = gates(world)
    watch.delete(watch.create(candidate, GateSettings()))
    assert world.alarm_names() == []
    assert world.alarm_names(world.function) == [world.errors_alarm, world.p99_alarm]


def test_metrics_of_one_version_through_the_alias(world: World) -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    dims = [
        {"Name": "FunctionName", "Value": world.function},
        {"Name": "Resource", "Value": f"{world.function}:live"},
        {"Name": "ExecutedVersion", "Value": "2"},
    ]
    for name, value in (("Invocations", 1.0), ("Errors", 0.0), ("Duration", 12.0)):
        world.cloudwatch.put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[{"MetricName": name, "Dimensions": dims, "Value": value, "Timestamp": now}] * 4,
        )
    world.cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": "InternalErrors",
                "Dimensions": [
                    {"Name": "FunctionVersion", "Value": "2"},
                    {"Name": "service", "Value": SERVICE},
                ],
                "Value": 1.0,
                "Timestamp": now,
            }
        ],
    )
    reader = CloudWatchMetricsReader(world.cloudwatch, world.function, world.alias)
    stats = reader.stats(
        "2",
        namespace=NAMESPACE,
        service=SERVICE,
        start=now - timedelta(minutes=5),
        end=now + timedelta(minutes=1),
    )
    assert (stats.invocations, stats.errors, stats.mean_duration_ms) == (4, 1, 12)
    assert stats.error_rate_pct == 25


@pytest.mark.parametrize(
    ("new", "ok", "why"),
    [
        (VersionStats("2", 100, 1, 10.0), True, "no worse"),
        (VersionStats("2", 100, 5, 10.0), False, "error rate 5.00% of v2 exceeds v1's 1.00%"),
        (VersionStats("2", 100, 1, 13.0), False, "mean duration 13.0 ms of v2 exceeds"),
        (VersionStats("2", 0, 0, None), False, "nothing to compare"),
    ],
)
def test_metric_comparison_with_margins(new: VersionStats, ok: bool, why: str) -> None:
    verdict = compare(
        new, VersionStats("1", 1000, 10, 10.0), CompareSettings(error_margin_pp=1, latency_margin_pct=20)
    )
    assert verdict.ok is ok and why in verdict.reason
