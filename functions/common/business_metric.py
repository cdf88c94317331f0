"""The business metric: what a prediction is worth to the user, in one of three kinds.

- `cost_matrix` (classifiers): `{"<true label>": {"<predicted label>": cost}}`, the cost of
  predicting the column when the truth is the row; missing entries cost 0. Lower is better.
- `reward`: the number the client sent with the feedback (`POST /feedback` `"reward": 2.5`);
  a labelled row without a reward does not count. Higher is better.
- `function`: the user's own `metric(y_true, y_pred, probabilities) -> float`, named
  `module:function` (importable where it runs: the project root, or the functions' bundle).
  Higher is better unless `higher_is_better` is false.

Per version the value is the mean row value (cost matrix, reward) or the function applied to all
the version's labelled rows at once. The sequential tests need one value per row: for `function`
that is the function applied to the row alone (exact for a mean, an approximation otherwise:
docs/quality-gate.md). Shared by the monitor function, `modelctl` reports and the release gates,
so numpy-free and free of release/ and modelctl/ imports.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

COST_MATRIX = "cost_matrix"
REWARD = "reward"
FUNCTION = "function"
KINDS = (COST_MATRIX, REWARD, FUNCTION)

UserMetric = Callable[[list[Any], list[Any], list[Any]], float]


class BusinessMetricError(ValueError):
    """A business metric that cannot be used as configured (the message names what is wrong)."""


def finite_number(value: Any) -> float | None:
    """`value` as a float when it is a finite int or float (never a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _key(value: Any) -> str:
    """A label or prediction as a cost-matrix key: `1` and `"1"` are the same class."""
    return value if isinstance(value, str) else json.dumps(value)


def row_cost(matrix: Mapping[str, Mapping[str, float]], label: Any, predicted: Any) -> float:
    """The cost of predicting `predicted` when the truth is `label`; 0 where the matrix is silent."""
    return float(matrix.get(_key(label), {}).get(_key(predicted), 0.0))


def parse_cost_matrix(document: Any) -> dict[str, dict[str, float]]:
    """`{"<truth>": {"<predicted>": cost, ...}, ...}` checked: finite, non-negative numbers."""
    if not isinstance(document, dict) or not document:
        raise BusinessMetricError('a cost matrix is an object {"<true label>": {"<predicted label>": cost}}')
    matrix: dict[str, dict[str, float]] = {}
    for truth, row in document.items():
        if not isinstance(row, dict):
            raise BusinessMetricError(
                f"cost matrix row {truth!r} must be an object of predicted label -> cost"
            )
        matrix[str(truth)] = {}
        for predicted, cost in row.items():
            number = finite_number(cost)
            if number is None or number < 0:
                raise BusinessMetricError(
                    f"cost matrix [{truth!r}][{predicted!r}] must be a number >= 0, got {cost!r}"
                )
            matrix[str(truth)][str(predicted)] = number
    return matrix


def load_function(reference: str) -> UserMetric:
    """`package.module:function` -> the callable; BusinessMetricError naming what is missing."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise BusinessMetricError(f"business metric function {reference!r}: give it as module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BusinessMetricError(
            f"business metric function {reference!r}: cannot import {module_name} ({exc})"
        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise BusinessMetricError(
            f"business metric function {reference!r}: {module_name} has no function {attribute}"
        )
    return function  # type: ignore[no-any-return]


@dataclass(frozen=True)
class BusinessMetric:
    kind: str
    cost_matrix: Mapping[str, Mapping[str, float]] | None = None
    function: str = ""
    higher_is_better: bool = True
    _callable: UserMetric | None = field(default=None, compare=False, repr=False)

    @classmethod
    def costs(cls, matrix: Any) -> BusinessMetric:
        return cls(COST_MATRIX, cost_matrix=parse_cost_matrix(matrix), higher_is_better=False)

    @classmethod
    def reward(cls) -> BusinessMetric:
        return cls(REWARD, higher_is_better=True)

    @classmethod
    def user_function(cls, reference: str, *, higher_is_better: bool = True) -> BusinessMetric:
        return cls(
            FUNCTION,
            function=reference,
            higher_is_better=higher_is_better,
            _callable=load_function(reference),
        )

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> BusinessMetric:
        """`{"kind": "cost_matrix", "cost_matrix": {...}}`, `{"kind": "reward"}` or
        `{"kind": "function", "function": "module:function", "higher_is_better": true}`."""
        kind = document.get("kind")
        if kind == COST_MATRIX:
            matrix = document.get("cost_matrix")
            return cls.costs(json.loads(matrix) if isinstance(matrix, str) else matrix)
        if kind == REWARD:
            return cls.reward()
        if kind == FUNCTION:
            reference = document.get("function")
            if not isinstance(reference, str):
                raise BusinessMetricError("a business metric of kind function names it: module:function")
            return cls.user_function(
                reference, higher_is_better=document.get("higher_is_better", True) is not False
            )
        raise BusinessMetricError(f"business metric kind {kind!r} is not one of {', '.join(KINDS)}")

    @property
    def name(self) -> str:
        """What the per-version value is called in reports and CloudWatch."""
        return {COST_MATRIX: "mean_cost", REWARD: "mean_reward"}.get(self.kind, self.function)

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"kind": self.kind, "higher_is_better": self.higher_is_better}
        if self.cost_matrix is not None:
            document["cost_matrix"] = {k: dict(v) for k, v in self.cost_matrix.items()}
        if self.function:
            document["function"] = self.function
        return document

    def row_value(
        self, label: Any, predicted: Any, probabilities: Any = None, reward: Any = None
    ) -> float | None:
        """One labelled row's value; None when the row does not count (no reward, a failing function)."""
        if self.kind == COST_MATRIX:
            assert self.cost_matrix is not None
            return row_cost(self.cost_matrix, label, predicted)
        if self.kind == REWARD:
            return finite_number(reward)
        return self._call([label], [predicted], [probabilities])

    def version_value(self, rows: Sequence[tuple[Any, Any, Any, Any]]) -> float | None:
        """The value over one version's labelled rows (label, predicted, probabilities, reward)."""
        if self.kind == FUNCTION:
            if not rows:
                return None
            labels, predicted, probabilities, _ = (list(column) for column in zip(*rows, strict=True))
            return self._call(labels, predicted, probabilities)
        values = [v for v in (self.row_value(*row) for row in rows) if v is not None]
        return sum(values) / len(values) if values else None

    def _call(self, labels: list[Any], predicted: list[Any], probabilities: list[Any]) -> float | None:
        function = self._callable or load_function(self.function)
        try:
            value = function(labels, predicted, probabilities)
        except Exception:  # the user's code: a row it cannot score does not count
            return None
        return finite_number(value)


def parse_spec(text: str) -> BusinessMetric | None:
    """The one-line form of config and `--business-metric`: `reward`, `module:function` (with `!`
    before it when lower is better), or a JSON cost matrix; None for an empty text."""
    text = text.strip()
    if not text:
        return None
    if text == REWARD:
        return BusinessMetric.reward()
    if text.startswith("{"):
        try:
            return BusinessMetric.costs(json.loads(text))
        except json.JSONDecodeError as exc:
            raise BusinessMetricError(f"the cost matrix is not JSON ({exc.msg})") from None
    return BusinessMetric.user_function(text.lstrip("!"), higher_is_better=not text.startswith("!"))


@dataclass
class BusinessAccumulator:
    """Labelled rows of one version, kept small (label, prediction, probabilities, reward)."""

    metric: BusinessMetric
    rows: list[tuple[Any, Any, Any, Any]] = field(default_factory=list)

    def add(self, label: Any, predicted: Any, probabilities: Any = None, reward: Any = None) -> None:
        self.rows.append((label, predicted, probabilities, reward))

    def values(self) -> list[float]:
        """Per-row values of the rows that count (for the sequential test)."""
        return [v for v in (self.metric.row_value(*row) for row in self.rows) if v is not None]

    def value(self) -> float | None:
        return self.metric.version_value(self.rows)
