"""Hypothesis strategies for whole API Gateway requests, shared by the `/predict` and `/feedback` fuzz
tests: each test names its route's near-valid bodies, its paths, methods and content types; random
JSON, random text, headers and base64 encoding are the same for both."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from localcloud.events import rest_proxy_event

EXAMPLES = 10_000  # generated requests per fuzz test
many_examples = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
extra_headers = st.dictionaries(
    st.text(alphabet=st.characters(min_codepoint=65, max_codepoint=90), min_size=1, max_size=10),
    st.text(max_size=20),
    max_size=3,
)


def json_values(*, max_leaves: int) -> st.SearchStrategy[Any]:
    """Any JSON document: scalars, lists and objects nested up to `max_leaves` leaves."""
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=5)
        ),
        max_leaves=max_leaves,
    )


def raw_bodies(
    route_bodies: st.SearchStrategy[Any], *, json_documents: st.SearchStrategy[Any], nan_for: str
) -> st.SearchStrategy[str | None]:
    """No body, random text, random JSON, the route's bodies as JSON, and as JSON with the first
    `nan_for` replaced by a bare NaN (not JSON)."""
    return st.one_of(
        st.none(),
        st.text(max_size=300),
        json_documents.map(json.dumps),
        route_bodies.map(json.dumps),
        route_bodies.map(lambda body: json.dumps(body).replace(nan_for, "NaN", 1)),
    )


def request_paths(known: Sequence[str]) -> st.SearchStrategy[str]:
    """The given paths, or any printable ASCII path."""
    return st.one_of(
        st.sampled_from(known),
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=20).map(
            lambda path: "/" + path
        ),
    )


@st.composite
def proxy_events(
    draw: st.DrawFn,
    *,
    methods: st.SearchStrategy[str],
    paths: st.SearchStrategy[str],
    content_types: st.SearchStrategy[str | None],
    bodies: st.SearchStrategy[str | None],
) -> dict[str, Any]:
    """A REST API proxy event as API Gateway sends it, the body base64-encoded half of the time."""
    headers = dict(draw(extra_headers))
    content_type = draw(content_types)
    if content_type is not None:
        headers["Content-Type"] = content_type
    event = rest_proxy_event(draw(methods), draw(paths), body=draw(bodies), headers=headers)
    if draw(st.booleans()) and event["body"] is not None:
        event["body"] = base64.b64encode(event["body"].encode("utf-8", "surrogatepass")).decode()
        event["isBase64Encoded"] = True
    return event


def assert_2xx_or_4xx_json(response: dict[str, Any]) -> tuple[int, Any]:
    """The answer is 2xx or 4xx with a JSON body, a 4xx one naming the error's code and message."""
    status = response["statusCode"]
    assert 200 <= status < 300 or 400 <= status < 500, response
    document = json.loads(response["body"])
    if status >= 400:
        assert set(document["error"]) >= {"code", "message"}
    return status, document
