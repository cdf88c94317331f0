"""Grid specifications: validation against the model, mixed-radix expansion, the size cap."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.precompute.grid import GridError, check_grid_size, grid_row_id, parse_grid

FEATURES = ["a", "b", "c"]


def test_rows_are_the_cartesian_product_in_order() -> None:
    grid = parse_grid({"features": {"a": [1, 2], "b": [0.5], "c": [10, 20, 30]}}, FEATURES)
    assert grid.size == 6
    assert list(grid.rows(0, grid.size)) == [
        list(row) for row in itertools.product([1.0, 2.0], [0.5], [10.0, 20.0, 30.0])
    ]


@given(
    st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=4),
    st.integers(min_value=1, max_value=7),
)
def test_any_split_into_ranges_covers_every_row_once(counts: list[int], chunk: int) -> None:
    names = [f"f{i}" for i in range(len(counts))]
    grid = parse_grid({"features": {n: list(range(c)) for n, c in zip(names, counts, strict=True)}}, names)
    pieces = [list(grid.rows(start, start + chunk)) for start in range(0, grid.size, chunk)]
    flat = [tuple(row) for piece in pieces for row in piece]
    assert flat == [tuple(float(v) for v in row) for row in itertools.product(*(range(c) for c in counts))]


def test_a_grid_over_the_cap_names_its_product() -> None:
    grid = parse_grid(
        {"features": {"a": list(range(100)), "b": list(range(100)), "c": list(range(101))}}, FEATURES
    )
    with pytest.raises(GridError) as error:
        check_grid_size(grid, 1_000_000)
    assert "100 x 100 x 101 = 1,010,000 rows" in str(error.value)
    assert "cap of 1,000,000" in str(error.value)
    check_grid_size(grid, 1_010_000)


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"a": [1], "b": [1]}, "no values for 1 model feature(s): c"),
        ({"a": [1], "b": [1], "c": [1], "d": [1]}, "does not have: d"),
        ({"a": [], "b": [1], "c": [1]}, "non-empty list"),
        ({"a": ["x"], "b": [1], "c": [1]}, "not a number"),
        ({"a": [True], "b": [1], "c": [1]}, "not a number"),
        ({"a": [1e39], "b": [1], "c": [1]}, "finite float32"),
        ({"a": [1, 1.0], "b": [1], "c": [1]}, "twice"),
    ],
)
def test_bad_grids_are_refused_naming_the_feature(features: dict[str, list[object]], message: str) -> None:
    with pytest.raises(GridError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_grid({"features": features}, FEATURES)


def test_row_ids_are_the_values_in_feature_order() -> None:
    assert grid_row_id([10.0, 12.5, 0.1]) == "10,12.5,0.1"
    assert grid_row_id([-3.0, 1e20]) == "-3,1e+20"
