"""CloudWatch metrics and alarms for the local cloud.

Lambda publishes `AWS/Lambda` metrics for every invocation and turns the functions' EMF log lines
into custom metrics; CloudWatch then evaluates alarms against them. moto stores metric data and
alarms but does neither, so the local cloud does both here: every invocation and EMF line goes to
an in-memory series store (which the alarm evaluator reads, percentiles included) and, batched by
a background thread, to moto with `PutMetricData` (which CLIs and reports read).

Local difference, on purpose: alarms are evaluated over the periods ending now (sliding) rather
than over whole clock-aligned periods, so a short local bake sees its own traffic at once.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localcloud.background import PeriodicLoop

Dimensions = tuple[tuple[str, str], ...]
MAX_POINTS_PER_SERIES = 200_000


@dataclass(frozen=True)
class MetricKey:
    namespace: str
    name: str
    dimensions: Dimensions

    @classmethod
    def of(
        cls, namespace: str, name: str, dimensions: dict[str, str] | Iterable[dict[str, str]]
    ) -> MetricKey:
        if isinstance(dimensions, dict):
            pairs = list(dimensions.items())
        else:
            pairs = [(d["Name"], d["Value"]) for d in dimensions]
        return cls(namespace, name, tuple(sorted((str(k), str(v)) for k, v in pairs)))


@dataclass(frozen=True)
class Datum:
    key: MetricKey
    timestamp: float
    value: float
    unit: str


class MetricStore:
    """Recent data points per metric, thread-safe."""

    def __init__(self) -> None:
        self._series: dict[MetricKey, deque[tuple[float, float]]] = defaultdict(
            lambda: deque(maxlen=MAX_POINTS_PER_SERIES)
        )
        self._lock = threading.Lock()

    def add(self, datum: Datum) -> None:
        with self._lock:
            self._series[datum.key].append((datum.timestamp, datum.value))

    def values(self, key: MetricKey, start: float, end: float) -> list[float]:
        with self._lock:
            points = list(self._series.get(key, ()))
        return [value for timestamp, value in points if start <= timestamp < end]


def lambda_invocation_data(
    *,
    function: str,
    qualifier: str | None,
    executed_version: str,
    duration_ms: float,
    error: bool,
    now: float,
) -> list[Datum]:
    """The AWS/Lambda data points one invocation produces, with the dimension sets Lambda uses."""
    dimension_sets: list[dict[str, str]] = [{"FunctionName": function}]
    if qualifier:
        resource = f"{function}:{qualifier}"
        dimension_sets.append({"FunctionName": function, "Resource": resource})
        if not qualifier.isdigit() and qualifier != "$LATEST":
            dimension_sets.append(
                {"FunctionName": function, "Resource": resource, "ExecutedVersion": executed_version}
            )
    data = []
    for dimensions in dimension_sets:
        data.append(Datum(MetricKey.of("AWS/Lambda", "Invocations", dimensions), now, 1.0, "Count"))
        data.append(
            Datum(MetricKey.of("AWS/Lambda", "Errors", dimensions), now, 1.0 if error else 0.0, "Count")
        )
        data.append(
            Datum(MetricKey.of("AWS/Lambda", "Duration", dimensions), now, duration_ms, "Milliseconds")
        )
    return data


def emf_data(line: str) -> list[Datum]:
    """Data points of one CloudWatch Embedded Metric Format log line (none for other lines)."""
    if '"_aws"' not in line:
        return []
    try:
        document = json.loads(line)
        metadata = document["_aws"]
        timestamp = float(metadata.get("Timestamp", time.time() * 1000)) / 1000.0
        data = []
        for directive in metadata["CloudWatchMetrics"]:
            for dimension_names in directive.get("Dimensions", [[]]):
                dimensions = {name: str(document[name]) for name in dimension_names}
                for metric in directive["Metrics"]:
                    raw = document.get(metric["Name"])
                    values = raw if isinstance(raw, list) else [raw]
                    for value in values:
                        if isinstance(value, (int, float)) and not isinstance(value, bool):
                            key = MetricKey.of(directive["Namespace"], metric["Name"], dimensions)
                            data.append(Datum(key, timestamp, float(value), metric.get("Unit", "None")))
        return data
    except (ValueError, KeyError, TypeError):
        return []


class MetricsPipeline:
    """Collects data points, keeps them for alarm evaluation and ships them to moto in batches."""

    def __init__(
        self,
        put_metric_data: Callable[..., Any],
        *,
        store: MetricStore | None = None,
        flush_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store or MetricStore()
        self._put = put_metric_data
        self._pending: list[Datum] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._clock = clock
        self._loop = PeriodicLoop(self.flush, interval_s=flush_interval_s, name="local-metrics")
        self.errors = 0

    def record(self, data: Sequence[Datum]) -> None:
        for datum in data:
            self.store.add(datum)
        with self._lock:
            self._pending.extend(data)

    def record_invocation(
        self, *, function: str, qualifier: str | None, executed_version: str, duration_ms: float, error: bool
    ) -> None:
        self.record(
            lambda_invocation_data(
                function=function,
                qualifier=qualifier,
                executed_version=executed_version,
                duration_ms=duration_ms,
                error=error,
                now=self._clock(),
            )
        )

    def record_log_line(self, line: str) -> None:
        data = emf_data(line)
        if data:
            self.record(data)

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, []
            by_namespace: dict[str, list[Datum]] = defaultdict(list)
            for datum in pending:
                by_namespace[datum.key.namespace].append(datum)
            for namespace, data in by_namespace.items():
                for start in range(0, len(data), 500):
                    chunk = data[start : start + 500]
                    try:
                        self._put(Namespace=namespace, MetricData=[_as_metric_datum(d) for d in chunk])
                    except Exception:  # moto briefly unavailable: the alarm store already has the data
                        self.errors += 1

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()
        self.flush()


def _as_metric_datum(datum: Datum) -> dict[str, Any]:
    return {
        "MetricName": datum.key.name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in datum.key.dimensions],
        "Timestamp": datetime.fromtimestamp(datum.timestamp, UTC),
        "Value": datum.value,
        "Unit": datum.unit,
    }


# --- alarms ------------------------------------------------------------------------------------


def statistic(values: Sequence[float], stat: str) -> float | None:
    if not values:
        return None
    if stat == "Sum":
        return float(sum(values))
    if stat == "Average":
        return float(sum(values) / len(values))
    if stat == "Minimum":
        return float(min(values))
    if stat == "Maximum":
        return float(max(values))
    if stat == "SampleCount":
        return float(len(values))
    if stat.startswith("p"):
        ordered = sorted(values)
        rank = max(0, math.ceil(float(stat[1:]) / 100.0 * len(ordered)) - 1)
        return float(ordered[rank])
    raise ValueError(f"statistic {stat!r} is not supported locally")


_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_COMPARE = {
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def evaluate_expression(expression: str, variables: dict[str, float | None]) -> float | None:
    """Metric math on single values: + - * /, comparisons, numbers, ids and IF(cond, a, b)."""
    tree = ast.parse(expression.replace("IF(", "IF_("), mode="eval")

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            return variables.get(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Div) and right == 0:
                return None
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = walk(node.operand)
            return None if value is None else -value
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            left, right = walk(node.left), walk(node.comparators[0])
            if left is None or right is None:
                return None
            return 1.0 if _COMPARE[type(node.ops[0])](left, right) else 0.0
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "IF_":
            condition = walk(node.args[0])
            return walk(node.args[1]) if condition else walk(node.args[2])
        raise ValueError(f"metric math {expression!r} uses something not supported locally")

    result = walk(tree)
    return None if result is None else float(result)


@dataclass(frozen=True)
class AlarmVerdict:
    name: str
    state: str
    reason: str
    datapoints: list[float | None]


def judge_alarm(alarm: dict[str, Any], store: MetricStore, now: float) -> AlarmVerdict:
    periods = int(alarm["EvaluationPeriods"])
    needed = int(alarm.get("DatapointsToAlarm") or periods)
    datapoints: list[float | None] = []
    for index in range(periods):
        datapoints.append(_datapoint(alarm, store, now, index))
    treat_missing = alarm.get("TreatMissingData", "missing")
    compare = _COMPARISONS[alarm["ComparisonOperator"]]
    threshold = float(alarm["Threshold"])
    breaching = 0
    present = 0
    for value in datapoints:
        if value is None:
            if treat_missing == "breaching":
                breaching += 1
                present += 1
            elif treat_missing == "notBreaching":
                present += 1
            continue
        present += 1
        if compare(value, threshold):
            breaching += 1
    shown = ", ".join("missing" if v is None else f"{v:.4g}" for v in datapoints)
    if breaching >= needed:
        state = "ALARM"
    elif present == 0 and treat_missing in ("missing", "ignore"):
        state = "INSUFFICIENT_DATA"
    else:
        state = "OK"
    reason = (
        f"local evaluation: {breaching} of the last {periods} datapoints [{shown}] "
        f"{alarm['ComparisonOperator']} {threshold:g} (need {needed})"
    )
    return AlarmVerdict(alarm["AlarmName"], state, reason, datapoints)


def _datapoint(alarm: dict[str, Any], store: MetricStore, now: float, index: int) -> float | None:
    if alarm.get("Metrics"):
        period = int(next(m["MetricStat"]["Period"] for m in alarm["Metrics"] if "MetricStat" in m))
    else:
        period = int(alarm["Period"])
    end = now - index * period
    start = end - period
    if not alarm.get("Metrics"):
        key = MetricKey.of(alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions", []))
        stat = alarm.get("ExtendedStatistic") or alarm["Statistic"]
        return statistic(store.values(key, start, end), stat)
    variables: dict[str, float | None] = {}
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            key = MetricKey.of(metric["Namespace"], metric["MetricName"], metric.get("Dimensions", []))
            variables[query["Id"]] = statistic(store.values(key, start, end), query["MetricStat"]["Stat"])
    for query in alarm["Metrics"]:
        if "Expression" in query:
            variables[query["Id"]] = evaluate_expression(query["Expression"], variables)
    returned = next(q["Id"] for q in alarm["Metrics"] if q.get("ReturnData", True))
    return variables.get(returned)


class AlarmEvaluator:
    """Evaluates every alarm in (moto's) CloudWatch against the local metric store."""

    def __init__(
        self,
        cloudwatch: Any,
        store: MetricStore,
        *,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cloudwatch = cloudwatch
        self.store = store
        self._clock = clock
        self._loop = PeriodicLoop(self.evaluate, interval_s=interval_s, name="local-alarms")
        self._lock = threading.Lock()

    def evaluate(self) -> list[AlarmVerdict]:
        with self._lock:
            verdicts = []
            now = self._clock()
            for page in self.cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
                for alarm in page["MetricAlarms"]:
                    try:
                        verdict = judge_alarm(alarm, self.store, now)
                    except (ValueError, KeyError):
                        continue
                    verdicts.append(verdict)
                    if verdict.state != alarm.get("StateValue"):
                        self.cloudwatch.set_alarm_state(
                            AlarmName=verdict.name,
                            StateValue=verdict.state,
                            StateReason=verdict.reason[:1023],
                        )
            return verdicts

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()
