"""A grid of feature values, expanded to its cartesian product without ever materialising it.

A grid specification names a list of values for every feature of the model:

    {"features": {"mean_radius": [10, 15, 20], "mean_texture": [12.5], ...}}

Its rows are numbered 0..size-1 in mixed radix (the model's last feature varies fastest), so any
slice of the product can be computed from (start, stop) alone: the plan step splits a grid into
index ranges and each scoring worker expands only its own range. The size is the product of the
value counts, which explodes combinatorially; it is checked against a cap before any work starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FLOAT32_MAX = 3.4028234663852886e38


class GridError(ValueError):
    """The grid specification is malformed or too large; the message says what and where."""


@dataclass(frozen=True)
class GridSpec:
    feature_names: tuple[str, ...]
    values: tuple[tuple[float, ...], ...]
    """One tuple of values per feature, in the model's feature order."""

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.values)

    def row(self, index: int) -> list[float]:
        if not 0 <= index < self.size:
            raise IndexError(f"grid row {index} is outside 0..{self.size - 1}")
        row: list[float] = [0.0] * len(self.values)
        for position in range(len(self.values) - 1, -1, -1):
            options = self.values[position]
            index, digit = divmod(index, len(options))
            row[position] = options[digit]
        return row

    def rows(self, start: int, stop: int) -> Iterator[list[float]]:
        for index in range(start, min(stop, self.size)):
            yield self.row(index)

    def describe_size(self) -> str:
        """`3 x 1 x 20 = 60 rows`: how the product comes about, for error messages."""
        counts = " x ".join(str(len(v)) for v in self.values)
        return f"{counts} = {self.size:,} rows"

    def to_document(self) -> dict[str, Any]:
        return {"features": {name: list(v) for name, v in zip(self.feature_names, self.values, strict=True)}}


def _value(feature: str, position: int, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise GridError(f"grid feature {feature!r} value #{position} is {raw!r}, not a number")
    value = float(raw)
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        raise GridError(f"grid feature {feature!r} value #{position} ({raw!r}) is not a finite float32")
    return value


def parse_grid(document: Any, feature_names: Sequence[str]) -> GridSpec:
    """Validate a grid document against the model's features: every feature, no unknown one,
    each with a non-empty list of distinct numbers."""
    if not isinstance(document, Mapping) or not isinstance(document.get("features"), Mapping):
        raise GridError('a grid specification is a JSON object {"features": {"<feature>": [values...]}}')
    given: Mapping[str, Any] = document["features"]
    unknown = sorted(set(given) - set(feature_names))
    if unknown:
        raise GridError(f"grid names features the model does not have: {', '.join(unknown)}")
    missing = [name for name in feature_names if name not in given]
    if missing:
        raise GridError(
            f"grid has no values for {len(missing)} model feature(s): {', '.join(missing)} "
            "(give a one-element list to hold a feature fixed)"
        )
    values: list[tuple[float, ...]] = []
    for name in feature_names:
        raw = given[name]
        if not isinstance(raw, list) or not raw:
            raise GridError(f"grid feature {name!r} must be a non-empty list of numbers")
        parsed = tuple(_value(name, i, item) for i, item in enumerate(raw))
        if len(set(parsed)) != len(parsed):
            raise GridError(f"grid feature {name!r} lists a value twice: each row would be scored twice")
        values.append(parsed)
    return GridSpec(feature_names=tuple(feature_names), values=tuple(values))


def check_grid_size(grid: GridSpec, max_items: int) -> None:
    """Refuse a grid whose product exceeds the cap, before any work starts."""
    if grid.size > max_items:
        raise GridError(
            f"the grid expands to {grid.describe_size()}, more than the cap of {max_items:,} "
            "(serving.precompute_max_items): remove values, hold features fixed, or serve this model "
            "with live inference"
        )


def format_value(value: float) -> str:
    """Integers without a decimal point, other values as Python's shortest round-trip repr."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def grid_row_id(row: Sequence[float]) -> str:
    """The key of a grid row: its values in the model's feature order, joined by commas
    (e.g. `10,12.5,0.25`), so a client computes it from the row alone."""
    return ",".join(format_value(float(v)) for v in row)
