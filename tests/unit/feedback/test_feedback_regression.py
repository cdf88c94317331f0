"""Feedback for a regressor: the true values are numbers (integers or not), stored as sent; anything
else (a string, a boolean, null, a number beyond float) is a 400 naming the item. The task is the live
model's, from its metadata."""

from __future__ import annotations

import pytest

from common.http.errors import RequestError
from common.observe.feedback import Feedback, parse_feedback, parse_record
from tests.unit.feedback.conftest import MODEL_VERSION, FeedbackFunction
from tests.unit.feedback.test_feedback_handler import post, stored


def parse(document: dict[str, object]) -> list[Feedback]:
    return parse_feedback(document, class_labels=[], max_items=10, task="regression")


def test_a_regressor_s_true_values_are_numbers() -> None:
    items = parse({"feedback": [{"request_id": "a", "label": 151.25}, {"request_id": "b", "label": -3}]})
    assert [(item.request_id, item.label) for item in items] == [("a", 151.25), ("b", -3)]


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("151.2", '"151.2"'),
        (True, "true"),
        (None, "null"),
        ([1.5], "array"),
        ({"v": 1}, "object"),
        (10**400, "1"),
    ],
)
def test_anything_but_a_finite_number_is_refused_naming_the_item(label: object, shown: str) -> None:
    with pytest.raises(RequestError) as refused:
        parse({"feedback": [{"request_id": "a", "label": 1.5}, {"request_id": "b", "label": label}]})
    assert refused.value.status == 400
    assert refused.value.message.startswith("feedback[1].label must be a finite number")
    assert shown in refused.value.message


def test_a_classifier_still_takes_its_class_labels_only() -> None:
    with pytest.raises(RequestError, match="class labels"):
        parse_feedback({"request_id": "a", "label": 0.5}, class_labels=[0, 1], max_items=10)


def test_stored_numeric_labels_read_back() -> None:
    line = {
        "schema_version": 1,
        "request_id": "a",
        "row": 0,
        "label": 2.5,
        "received_at": "2026-01-02T00:00:00.000Z",
    }
    assert parse_record(line) == Feedback("a", 0, 2.5, "2026-01-02T00:00:00.000Z")
    assert parse_record({**line, "label": True}) is None


def test_the_function_of_a_regression_deployment_stores_numbers(
    regression_feedback_function: FeedbackFunction,
) -> None:
    body = {
        "feedback": [{"request_id": "req-1", "label": 151.25}, {"request_id": "req-2", "row": 2, "label": 7}]
    }
    answer = post(regression_feedback_function, body)
    assert answer["status"] == 202 and answer["body"] == {"accepted": 2, "model_version": MODEL_VERSION}
    ((_, lines),) = stored(regression_feedback_function).items()
    assert [(line["request_id"], line["row"], line["label"]) for line in lines] == [
        ("req-1", 0, 151.25),
        ("req-2", 2, 7),
    ]


@pytest.mark.parametrize("label", ["151.25", False, None])
def test_the_function_of_a_regression_deployment_refuses_a_non_number(
    regression_feedback_function: FeedbackFunction, label: object
) -> None:
    answer = post(regression_feedback_function, {"request_id": "req-1", "label": label})
    assert answer["status"] == 400
    assert answer["body"]["error"]["code"] == "invalid_field"
    assert answer["body"]["error"]["message"].startswith("label must be a finite number")
    assert stored(regression_feedback_function) == {}


def test_a_body_with_a_number_beyond_float_is_refused(regression_feedback_function: FeedbackFunction) -> None:
    from localcloud.events import rest_proxy_event
    from tests.helpers import FakeLambdaContext

    event = rest_proxy_event(
        "POST",
        "/feedback",
        body='{"request_id": "r", "label": 1e999}',
        headers={"Content-Type": "application/json"},
    )
    response = regression_feedback_function.module.handler(event, FakeLambdaContext("feedback", "1"))
    assert response["statusCode"] == 400 and "label" in response["body"]
