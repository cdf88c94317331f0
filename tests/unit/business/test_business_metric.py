"""The business metric's kinds: cost matrix, reward sent with the feedback, the user's function."""

from __future__ import annotations

import pytest

from common.business_metric import BusinessAccumulator, BusinessMetric, BusinessMetricError
from common.http.errors import RequestError
from common.observe.feedback import encode_records, parse_feedback, parse_record

MODULE = "tests.unit.business.user_metrics"


def test_a_cost_matrix_costs_each_row_and_averages_per_version() -> None:
    metric = BusinessMetric.from_dict({"kind": "cost_matrix", "cost_matrix": {"0": {"1": 5}, "1": {"0": 1}}})
    assert not metric.higher_is_better and metric.name == "mean_cost"
    assert metric.row_value(0, 1) == 5.0 and metric.row_value(1, 0) == 1.0 and metric.row_value(1, 1) == 0.0
    assert metric.version_value([(0, 1, None, None), (1, 1, None, None)]) == 2.5


def test_a_reward_counts_only_rows_that_carry_one() -> None:
    metric = BusinessMetric.from_dict({"kind": "reward"})
    accumulator = BusinessAccumulator(metric)
    for reward in (2.0, None, 4.0):
        accumulator.add(1, 1, None, reward)
    assert accumulator.values() == [2.0, 4.0] and accumulator.value() == 3.0


def test_the_users_function_sees_every_row_of_a_version_at_once() -> None:
    metric = BusinessMetric.from_dict({"kind": "function", "function": f"{MODULE}:revenue"})
    rows = [(1, 1, [0.1, 0.9], None), (0, 1, [0.3, 0.7], None), (0, 0, [0.9, 0.1], None)]
    assert metric.version_value(rows) == pytest.approx((10 - 2 + 0) / 3)
    assert [metric.row_value(*row) for row in rows] == [10.0, -2.0, 0.0]
    confident = BusinessMetric.user_function(f"{MODULE}:confident_hits")
    assert confident.version_value(rows) == pytest.approx(2 / 3)


def test_a_failing_user_function_does_not_count_a_row() -> None:
    metric = BusinessMetric.user_function(f"{MODULE}:broken")
    assert metric.row_value(1, 1) is None and metric.version_value([(1, 1, None, None)]) is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"kind": "function", "function": "no_colon"}, "module:function"),
        ({"kind": "function", "function": "not.a.module:f"}, "cannot import"),
        ({"kind": "function", "function": f"{MODULE}:NOT_A_FUNCTION"}, "has no function"),
        ({"kind": "cost_matrix", "cost_matrix": {"0": {"1": -1}}}, ">= 0"),
        ({"kind": "nonsense"}, "not one of"),
    ],
)
def test_a_bad_business_metric_is_named(document: dict[str, object], message: str) -> None:
    with pytest.raises(BusinessMetricError, match=message):
        BusinessMetric.from_dict(document)


def test_the_feedback_carries_an_optional_reward_to_the_log_and_back() -> None:
    [item] = parse_feedback({"request_id": "r", "label": 1, "reward": 2.5}, class_labels=[0, 1], max_items=10)
    assert item.reward == 2.5
    import gzip
    import json

    line = json.loads(gzip.decompress(encode_records([item])))
    assert line["reward"] == 2.5 and parse_record(line) == item
    [plain] = parse_feedback({"request_id": "r", "label": 1}, class_labels=[0, 1], max_items=10)
    assert "reward" not in plain.to_dict() and plain.reward is None


@pytest.mark.parametrize("reward", ["2", True, None, [1]])
def test_a_reward_that_is_not_a_number_is_a_400(reward: object) -> None:
    with pytest.raises(RequestError, match="reward must be a finite number"):
        parse_feedback({"request_id": "r", "label": 1, "reward": reward}, class_labels=[0, 1], max_items=10)
