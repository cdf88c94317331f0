"""Property-based: whatever a client sends to the feedback function, it answers 2xx or 4xx JSON, never
a 500 or an exception. 10,000 generated requests (methods, paths, headers, bodies: random text, random
JSON, near-valid feedback with one thing wrong) go through the real handler in-process (S3 in moto)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localcloud.events import rest_proxy_event
from tests.helpers import FakeLambdaContext
from tests.unit.feedback.conftest import FeedbackFunction

EXAMPLES = 10_000

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=30,
)
request_ids = st.text(max_size=40) | st.uuids().map(str) | scalars
labels = st.sampled_from([0, 1, "0", "1", 1.0, True, 2, -1, None, "spam"]) | scalars
item_fields = st.fixed_dictionaries(
    {"request_id": request_ids, "label": labels},
    optional={"row": st.integers(-3, 2_000_000) | scalars, "extra": scalars},
)
good_items = st.fixed_dictionaries(
    {"request_id": st.uuids().map(str), "label": st.sampled_from([0, 1])},
    optional={"row": st.integers(0, 999)},
)
feedback_bodies = st.one_of(
    good_items,
    item_fields,
    st.lists(good_items | item_fields, min_size=0, max_size=60).map(lambda items: {"feedback": items}),
    st.dictionaries(
        st.sampled_from(["feedback", "request_id", "label", "row", "x"]), json_values, max_size=4
    ),
)
raw_bodies = st.one_of(
    st.none(),
    st.text(max_size=300),
    json_values.map(json.dumps),
    feedback_bodies.map(json.dumps),
    feedback_bodies.map(lambda b: json.dumps(b).replace("1", "NaN", 1)),
)
content_types = st.sampled_from(
    [None, "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", ""]
)
paths = st.one_of(
    st.sampled_from(["/feedback", "/feedback/", "/predict", "/", "/FEEDBACK"]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=20).map(lambda p: "/" + p),
)
methods = st.sampled_from(["POST"] * 4 + ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
extra_headers = st.dictionaries(
    st.text(alphabet=st.characters(min_codepoint=65, max_codepoint=90), min_size=1, max_size=10),
    st.text(max_size=20),
    max_size=3,
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=methods,
    path=paths,
    content_type=content_types,
    body=raw_bodies,
    headers=extra_headers,
    as_base64=st.booleans(),
)
def test_every_feedback_request_gets_a_2xx_or_4xx_json_answer(
    feedback_function: FeedbackFunction,
    method: str,
    path: str,
    content_type: str | None,
    body: str | None,
    headers: dict[str, str],
    as_base64: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    all_headers = dict(headers)
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    event = rest_proxy_event(method, path, body=body, headers=all_headers)
    if as_base64 and event["body"] is not None:
        event["body"] = base64.b64encode(event["body"].encode("utf-8", "surrogatepass")).decode()
        event["isBase64Encoded"] = True
    response: dict[str, Any] = feedback_function.module.handler(event, FakeLambdaContext())
    capsys.readouterr()
    status = response["statusCode"]
    assert 200 <= status < 300 or 400 <= status < 500, response
    document = json.loads(response["body"])
    if status >= 400:
        assert set(document["error"]) >= {"code", "message"}
    else:
        assert status == 202 and document["accepted"] >= 1
