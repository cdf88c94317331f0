"""Property-based: whatever a client sends, the handler answers 2xx or 4xx JSON, never 500.

10,000 generated requests (methods, paths, headers, bodies: random text, random JSON, and
near-valid prediction bodies with one thing wrong) go through the real handler in-process.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.metadata import ModelMetadata
from localcloud.events import rest_proxy_event
from tests.helpers import FakeLambdaContext

N_FEATURES = 30
EXAMPLES = 10_000

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=40,
)
numbers = st.floats(allow_nan=False, allow_infinity=False, width=32) | st.integers(-(10**6), 10**6)
good_row = st.lists(numbers, min_size=N_FEATURES, max_size=N_FEATURES)
mutated_row = st.one_of(
    st.lists(numbers, min_size=0, max_size=N_FEATURES * 2),
    good_row.flatmap(
        lambda row: st.integers(0, N_FEATURES - 1).flatmap(
            lambda i: scalars.map(lambda bad: [*row[:i], bad, *row[i + 1 :]])
        )
    ),
    st.dictionaries(st.text(max_size=12), numbers | scalars, max_size=N_FEATURES + 2),
)
prediction_bodies = st.one_of(
    st.lists(good_row, min_size=1, max_size=5).map(lambda rows: {"instances": rows}),
    st.lists(mutated_row, min_size=0, max_size=5).map(lambda rows: {"instances": rows}),
    st.dictionaries(st.sampled_from(["instances", "inputs", "extra"]), json_values, max_size=3),
)
raw_bodies = st.one_of(
    st.none(),
    st.text(max_size=300),
    json_values.map(json.dumps),
    prediction_bodies.map(json.dumps),
    prediction_bodies.map(lambda b: json.dumps(b).replace("0.5", "NaN", 1)),
)
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
        "application/jsonp",
        "multipart/form-data; boundary=x",
    ]
)
paths = st.one_of(
    st.sampled_from(["/predict", "/health", "/", "/predict/", "/PREDICT", "/health/x", "/feedback"]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=20).map(lambda p: "/" + p),
)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
extra_headers = st.dictionaries(
    st.text(alphabet=st.characters(min_codepoint=65, max_codepoint=90), min_size=1, max_size=10),
    st.text(max_size=20),
    max_size=3,
)


@pytest.fixture(scope="module")
def handler(trained_model: tuple[Path, ModelMetadata]) -> Iterator[ModuleType]:
    artifact_dir, _ = trained_model
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "MODEL_URI": str(artifact_dir),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Fuzz",
            "POWERTOOLS_SERVICE_NAME": "inference",
        }.items():
            patch.setenv(key, value)
        sys.modules.pop("inference.handler", None)
        module = importlib.import_module("inference.handler")
        handler = module.logger.get().registered_handler
        with open(os.devnull, "w") as sink:
            module.app.stream = sink
            previous = handler.setStream(sink)
            try:
                yield module
            finally:
                # Powertools' logging handler outlives this module object: give its stream back.
                if previous is not None:
                    handler.setStream(previous)
        sys.modules.pop("inference.handler", None)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=methods,
    path=paths,
    content_type=content_types,
    body=raw_bodies,
    headers=extra_headers,
    as_base64=st.booleans(),
)
def test_every_request_gets_a_2xx_or_4xx_json_answer(
    handler: ModuleType,
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
    response: dict[str, Any] = handler.handler(event, FakeLambdaContext())
    capsys.readouterr()
    status = response["statusCode"]
    assert 200 <= status < 300 or 400 <= status < 500, response
    document = json.loads(response["body"])
    if status >= 400:
        assert set(document["error"]) >= {"code", "message"}
