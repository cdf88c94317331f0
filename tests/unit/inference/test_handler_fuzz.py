"""Property-based: whatever a client sends, the handler answers 2xx or 4xx JSON, never 500.

10,000 generated requests (methods, paths, headers, bodies: random text, random JSON, and
near-valid prediction bodies with one thing wrong) go through the real handler in-process.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.model.metadata import ModelMetadata
from tests.helpers import FakeLambdaContext
from tests.unit import request_strategies as fuzz

N_FEATURES = 30

documents = fuzz.json_values(max_leaves=40)
numbers = st.floats(allow_nan=False, allow_infinity=False, width=32) | st.integers(-(10**6), 10**6)
good_row = st.lists(numbers, min_size=N_FEATURES, max_size=N_FEATURES)
mutated_row = st.one_of(
    st.lists(numbers, min_size=0, max_size=N_FEATURES * 2),
    good_row.flatmap(
        lambda row: st.integers(0, N_FEATURES - 1).flatmap(
            lambda i: fuzz.scalars.map(lambda bad: [*row[:i], bad, *row[i + 1 :]])
        )
    ),
    st.dictionaries(st.text(max_size=12), numbers | fuzz.scalars, max_size=N_FEATURES + 2),
)
prediction_bodies = st.one_of(
    st.lists(good_row, min_size=1, max_size=5).map(lambda rows: {"instances": rows}),
    st.lists(mutated_row, min_size=0, max_size=5).map(lambda rows: {"instances": rows}),
    st.dictionaries(st.sampled_from(["instances", "inputs", "extra"]), documents, max_size=3),
)
predict_events = fuzz.proxy_events(
    methods=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
    paths=fuzz.request_paths(["/predict", "/health", "/", "/predict/", "/PREDICT", "/health/x", "/feedback"]),
    content_types=st.sampled_from(
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
    ),
    bodies=fuzz.raw_bodies(prediction_bodies, json_documents=documents, nan_for="0.5"),
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


@fuzz.many_examples
@given(event=predict_events)
def test_every_request_gets_a_2xx_or_4xx_json_answer(
    handler: ModuleType, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    response: dict[str, Any] = handler.handler(event, FakeLambdaContext())
    capsys.readouterr()
    fuzz.assert_2xx_or_4xx_json(response)
