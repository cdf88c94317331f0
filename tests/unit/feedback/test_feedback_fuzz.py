"""Property-based: whatever a client sends to the feedback function, it answers 2xx or 4xx JSON, never
a 500 or an exception. 10,000 generated requests (methods, paths, headers, bodies: random text, random
JSON, near-valid feedback with one thing wrong) go through the real handler in-process (S3 in moto)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import FakeLambdaContext
from tests.unit import request_strategies as fuzz
from tests.unit.feedback.conftest import FeedbackFunction

documents = fuzz.json_values(max_leaves=30)
request_ids = st.text(max_size=40) | st.uuids().map(str) | fuzz.scalars
labels = st.sampled_from([0, 1, "0", "1", 1.0, True, 2, -1, None, "spam"]) | fuzz.scalars
item_fields = st.fixed_dictionaries(
    {"request_id": request_ids, "label": labels},
    optional={"row": st.integers(-3, 2_000_000) | fuzz.scalars, "extra": fuzz.scalars},
)
good_items = st.fixed_dictionaries(
    {"request_id": st.uuids().map(str), "label": st.sampled_from([0, 1])},
    optional={"row": st.integers(0, 999)},
)
feedback_bodies = st.one_of(
    good_items,
    item_fields,
    st.lists(good_items | item_fields, min_size=0, max_size=60).map(lambda items: {"feedback": items}),
    st.dictionaries(st.sampled_from(["feedback", "request_id", "label", "row", "x"]), documents, max_size=4),
)
feedback_events = fuzz.proxy_events(
    methods=st.sampled_from(["POST"] * 4 + ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
    paths=fuzz.request_paths(["/feedback", "/feedback/", "/predict", "/", "/FEEDBACK"]),
    content_types=st.sampled_from(
        [None, "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", ""]
    ),
    bodies=fuzz.raw_bodies(feedback_bodies, json_documents=documents, nan_for="1"),
)


@fuzz.many_examples
@given(event=feedback_events)
def test_every_feedback_request_gets_a_2xx_or_4xx_json_answer(
    feedback_function: FeedbackFunction, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    response: dict[str, Any] = feedback_function.module.handler(event, FakeLambdaContext())
    capsys.readouterr()
    status, document = fuzz.assert_2xx_or_4xx_json(response)
    if status < 400:
        assert status == 202 and document["accepted"] >= 1
