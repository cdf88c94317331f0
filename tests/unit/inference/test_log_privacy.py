"""The inference function never writes a client's input rows to its log.

Requests carry marker values (numbers and feature names no log line would contain by chance) on
every path: served, rejected for each kind of bad row, not found. Everything the function logs is
captured and searched for the markers. (Recording inputs is the shadow feature's job: to S3, with
an expiry, only while a shadow runs; docs/security.md.)
"""

from __future__ import annotations

import importlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from common.model.metadata import ModelMetadata
from localcloud.events import rest_proxy_event
from tests.helpers import FakeLambdaContext

MARKER = 4242.123
NAME_MARKER = "zz_marker_feature"


@pytest.fixture(scope="module")
def logged(trained_model: tuple[Path, ModelMetadata]) -> Iterator[tuple[ModuleType, io.StringIO]]:
    artifact_dir, _ = trained_model
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "MODEL_URI": str(artifact_dir),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "Privacy",
            "POWERTOOLS_SERVICE_NAME": "inference",
            "LOG_LEVEL": "DEBUG",  # the most the function can be asked to log
        }.items():
            patch.setenv(key, value)
        sys.modules.pop("inference.handler", None)
        module = importlib.import_module("inference.handler")
        handler = module.logger.get().registered_handler  # Powertools: internal errors, warnings
        stream = io.StringIO()
        previous = handler.setStream(stream)
        previous_app_stream = module.app.stream
        module.app.stream = stream  # the request log and EMF lines
        try:
            yield module, stream
        finally:
            module.app.stream = previous_app_stream
            if previous is not None:
                handler.setStream(previous)
        sys.modules.pop("inference.handler", None)


def requests(metadata: ModelMetadata) -> list[tuple[str, str, Any]]:
    row = [MARKER + i for i in range(len(metadata.feature_names))]
    named = dict(zip(metadata.feature_names, row, strict=True))
    return [
        ("POST", "/predict", {"instances": [row, row]}),  # served
        ("POST", "/predict", {"instances": [named]}),  # served, rows as objects
        ("POST", "/predict", {"instances": [row[:-1]]}),  # wrong row length
        ("POST", "/predict", {"instances": [{**named, NAME_MARKER: MARKER}]}),  # unknown feature
        ("POST", "/predict", {"instances": [[*row[:-1], str(MARKER)]]}),  # not a number
        ("POST", "/predict", {"instances": [[*row[:-1], 1e300]]}),  # beyond float32
        ("POST", "/predict", {"instances": [row], NAME_MARKER: MARKER}),  # unexpected key
        ("POST", "/predict", f'{{"instances": [[{MARKER}, NaN]]}}'),  # NaN
        ("POST", "/predict", f"not json {MARKER} {NAME_MARKER}"),
        ("GET", f"/{NAME_MARKER}", None),  # unknown path
    ]


def test_no_log_line_holds_an_input_row(
    logged: tuple[ModuleType, io.StringIO],
    trained_model: tuple[Path, ModelMetadata],
    capsys: pytest.CaptureFixture[str],
) -> None:
    module, stream = logged
    statuses = []
    for method, path, body in requests(trained_model[1]):
        text = body if isinstance(body, str) or body is None else json.dumps(body)
        event = rest_proxy_event(method, path, body=text, headers={"Content-Type": "application/json"})
        statuses.append(module.handler(event, FakeLambdaContext())["statusCode"])
    output = stream.getvalue() + capsys.readouterr().out  # the logger, and metrics (EMF) on stdout
    assert statuses[:2] == [200, 200] and all(400 <= s < 500 for s in statuses[2:]), statuses
    predictions = sum(path == "/predict" for _, path, _ in requests(trained_model[1]))
    assert output.count('"message":') >= predictions  # the function did log each /predict request
    assert str(MARKER)[:6] not in output
    assert NAME_MARKER not in output
