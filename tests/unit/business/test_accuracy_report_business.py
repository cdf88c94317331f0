"""`modelctl report accuracy --business-metric`: the business metric per model version beside accuracy."""

from __future__ import annotations

import json

import pytest

from tests.unit.monitoring.test_accuracy_report import (
    DAYS,
    MODEL,
    ROWS_PER_DAY,
    Stream,
    accuracy_on,
    run,
    stream,
)

__all__ = ["stream"]


def test_a_cost_matrix_gives_the_mean_cost_per_model_version(stream: Stream) -> None:
    cost = '{"0": {"1": 4}, "1": {"0": 4}}'  # every error costs 4
    document = json.loads(run(stream, "--since", "10d", "--json", "--business-metric", cost).stdout)
    business = document["business_metric"]
    errors = sum(ROWS_PER_DAY - round(ROWS_PER_DAY * accuracy_on(day)) for day in range(DAYS))
    expected = 4 * errors / (DAYS * ROWS_PER_DAY)
    assert business["kind"] == "cost_matrix" and business["by_model_version"][MODEL] == pytest.approx(
        expected
    )
    assert document["versions"][0]["business_value"] == pytest.approx(expected)


def test_the_users_function_per_model_version_and_in_the_terminal(stream: Stream) -> None:
    output = run(stream, "--since", "10d", "--business-metric", "common.usermetrics.example:profit").stdout
    assert f"business metric common.usermetrics.example:profit of {MODEL}:" in output
