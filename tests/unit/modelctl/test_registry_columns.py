"""`modelctl models` shows the holdout metrics the store's models have (classifier, regressor, both)."""

from __future__ import annotations

import pytest

from modelctl.commands.retrain import registry_metric_columns


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ([{"accuracy": 0.9, "f1_macro": 0.8}], ["accuracy", "f1_macro"]),
        ([{"mae": 1.0, "rmse": 2.0, "r2": 0.5}], ["mae", "rmse", "r2"]),
        (
            [{"accuracy": 0.9, "f1_macro": 0.8}, {"mae": 1.0, "rmse": 2.0, "r2": 0.5}],
            ["accuracy", "f1_macro", "mae", "rmse", "r2"],
        ),
        ([{}, {"rmse": 2.0}], ["rmse"]),
        ([], ["accuracy", "f1_macro"]),
    ],
)
def test_columns_follow_the_metrics_present(metrics: list[dict[str, float]], expected: list[str]) -> None:
    assert registry_metric_columns(metrics) == expected
