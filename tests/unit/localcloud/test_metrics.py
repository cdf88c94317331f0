"""The local cloud's CloudWatch stand-in: Lambda metrics, EMF parsing and alarm evaluation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from localcloud.metrics import (
    MetricKey,
    MetricStore,
    emf_data,
    evaluate_expression,
    judge_alarm,
    lambda_invocation_data,
    statistic,
)

FN = "ModelServing-Serving-Inference"
ALIAS_DIMS = [{"Name": "FunctionName", "Value": FN}, {"Name": "Resource", "Value": f"{FN}:live"}]


def errors_alarm(**overrides: Any) -> dict[str, Any]:
    return {
        "AlarmName": "errors",
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": ALIAS_DIMS,
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 3,
        "DatapointsToAlarm": 3,
        "Threshold": 5,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        **overrides,
    }


def store_with_invocations(
    now: float, outcomes: Sequence[tuple[float, bool, float]], version: str = "2"
) -> MetricStore:
    """outcomes: (seconds before now, error?, duration ms)."""
    store = MetricStore()
    for age, error, duration in outcomes:
        for datum in lambda_invocation_data(
            function=FN,
            qualifier="live",
            executed_version=version,
            duration_ms=duration,
            error=error,
            now=now - age,
        ):
            store.add(datum)
    return store


def test_invocation_produces_lambdas_three_dimension_sets() -> None:
    data = lambda_invocation_data(
        function=FN, qualifier="live", executed_version="7", duration_ms=3.0, error=True, now=0.0
    )
    keys = {(d.key.name, d.key.dimensions) for d in data}
    assert ("Errors", (("ExecutedVersion", "7"), ("FunctionName", FN), ("Resource", f"{FN}:live"))) in keys
    assert ("Invocations", (("FunctionName", FN),)) in keys
    assert len(data) == 9


def test_statistics_including_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert statistic(values, "Sum") == 5050
    assert statistic(values, "p99") == 99
    assert statistic(values, "p50") == 50
    assert statistic([], "Sum") is None
    with pytest.raises(ValueError):
        statistic(values, "TrimmedMean")


def test_metric_math_if_and_division() -> None:
    expression = "IF(invocations > 0, 100 * errors / invocations, 0)"
    assert evaluate_expression(expression, {"errors": 3.0, "invocations": 60.0}) == 5.0
    assert evaluate_expression(expression, {"errors": 0.0, "invocations": 0.0}) == 0.0
    assert evaluate_expression("a / b", {"a": 1.0, "b": 0.0}) is None
    with pytest.raises(ValueError):
        evaluate_expression("__import__('os')", {})


def test_errors_alarm_fires_only_when_every_period_breaches() -> None:
    now = 10_000.0
    steady = [(age, True, 5.0) for age in range(0, 180, 6)]  # 10 errors in each 60 s period
    assert judge_alarm(errors_alarm(), store_with_invocations(now, steady), now).state == "ALARM"
    recent_only = [(age, True, 5.0) for age in range(0, 60, 6)]
    assert judge_alarm(errors_alarm(), store_with_invocations(now, recent_only), now).state == "OK"
    assert (
        judge_alarm(errors_alarm(DatapointsToAlarm=1), store_with_invocations(now, recent_only), now).state
        == "ALARM"
    )


def test_p99_duration_alarm_uses_extended_statistic() -> None:
    now = 1_000.0
    alarm = errors_alarm(
        MetricName="Duration",
        Statistic=None,
        ExtendedStatistic="p99",
        Threshold=1000,
        DatapointsToAlarm=1,
        EvaluationPeriods=1,
    )
    slow = [(1.0, False, 5.0)] * 50 + [(1.0, False, 2000.0)] * 2
    assert judge_alarm(alarm, store_with_invocations(now, slow), now).state == "ALARM"
    fast = [(1.0, False, 5.0)] * 200 + [(1.0, False, 2000.0)]
    assert judge_alarm(alarm, store_with_invocations(now, fast), now).state == "OK"


def test_error_rate_alarm_with_metric_math_scoped_to_a_version() -> None:
    now = 500.0
    version_dims = [*ALIAS_DIMS, {"Name": "ExecutedVersion", "Value": "2"}]

    def stat(metric_id: str, name: str) -> dict[str, Any]:
        return {
            "Id": metric_id,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": name, "Dimensions": version_dims},
                "Period": 60,
                "Stat": "Sum",
            },
        }

    alarm = {
        "AlarmName": "rate",
        "EvaluationPeriods": 1,
        "Threshold": 5,
        "TreatMissingData": "notBreaching",
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Metrics": [
            {"Id": "rate", "Expression": "IF(inv > 0, 100 * err / inv, 0)", "ReturnData": True},
            stat("err", "Errors"),
            stat("inv", "Invocations"),
        ],
    }
    failing_canary = store_with_invocations(now, [(1.0, True, 5.0)] * 2 + [(1.0, False, 5.0)] * 8)
    assert judge_alarm(alarm, failing_canary, now).state == "ALARM"
    other_version = store_with_invocations(now, [(1.0, True, 5.0)] * 10, version="1")
    assert judge_alarm(alarm, other_version, now).state == "OK"


def test_missing_data_is_insufficient_unless_treated() -> None:
    verdict = judge_alarm(errors_alarm(TreatMissingData="missing"), MetricStore(), 100.0)
    assert verdict.state == "INSUFFICIENT_DATA"
    assert judge_alarm(errors_alarm(TreatMissingData="breaching"), MetricStore(), 100.0).state == "ALARM"


def test_emf_lines_become_metrics_and_other_lines_are_ignored() -> None:
    line = json.dumps(
        {
            "_aws": {
                "Timestamp": 1_700_000_000_000,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "ModelServing",
                        "Dimensions": [["FunctionVersion", "service"]],
                        "Metrics": [
                            {"Name": "InternalErrors", "Unit": "Count"},
                            {"Name": "InferenceTime", "Unit": "Milliseconds"},
                        ],
                    }
                ],
            },
            "FunctionVersion": "3",
            "service": "inference",
            "InternalErrors": [1.0],
            "InferenceTime": 0.2,
        }
    )
    data = emf_data(line)
    assert {(d.key.name, d.value) for d in data} == {("InternalErrors", 1.0), ("InferenceTime", 0.2)}
    assert data[0].key == MetricKey.of(
        "ModelServing", "InternalErrors", {"FunctionVersion": "3", "service": "inference"}
    )
    assert data[0].timestamp == 1_700_000_000.0
    assert emf_data('{"level": "INFO", "message": "prediction served"}') == []
    assert emf_data('{"_aws": broken') == []
