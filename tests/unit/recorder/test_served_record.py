"""The inference app's served lines as the recorder reads them: with a recorder wired (a sampler), a
request's record is written whatever the log level, since it is data, not a diagnostic; its outputs are
the response's own; and a large answer is split into lines the recorder joins back row for row."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.http.request_body import RequestLimits
from common.mirror.config import ShadowConfig, ShadowConfigCache, ShadowConfigStore
from common.mirror.request_mirror import MirrorSettings, RequestMirror
from common.model.metadata import ModelMetadata
from common.model.onnx_model import OnnxModel
from inference.api import InferenceApi, create_app
from inference.service import InferenceService
from localcloud.events import rest_proxy_event
from recorder.lines import parse_line
from tests.helpers import FakeLambdaContext
from tests.unit.mirror.test_config import FakeS3


def sampler(percent: float) -> RequestMirror:
    store = ShadowConfigStore(FakeS3(), "logs")
    store.save(ShadowConfig(active=True, sample_percent=percent, candidate_model_version="m-cand"))
    cache = ShadowConfigCache(store, ttl_s=3600.0)
    cache.refresh()
    return RequestMirror(config=cache, settings=MirrorSettings(), rng=random.Random(1))


def app_for(trained_model: tuple[Path, ModelMetadata], *, log_enabled: bool, percent: float) -> InferenceApi:
    service = InferenceService(OnnxModel.load(trained_model[0]))
    return create_app(
        service,
        namespace="RecordTest",
        service_name="inference",
        limits=RequestLimits(max_rows=1000, max_body_bytes=4_000_000),
        mirror=sampler(percent),
        log_enabled=log_enabled,
        stream=io.StringIO(),
    )


def predict(app: InferenceApi, rows: list[list[float]]) -> dict[str, Any]:
    event = rest_proxy_event(
        "POST", "/predict", body=json.dumps({"instances": rows}), headers={"Content-Type": "application/json"}
    )
    response: dict[str, Any] = app.handle(event, FakeLambdaContext(function_version="4"))
    return response


def served(app: InferenceApi) -> list[str]:
    text = app.stream.getvalue()  # type: ignore[attr-defined]
    return [line for line in text.splitlines() if '"message":"prediction served"' in line]


def test_with_a_recorder_wired_the_record_is_written_at_log_level_warning(
    trained_model: tuple[Path, ModelMetadata],
) -> None:
    app = app_for(trained_model, log_enabled=False, percent=0.0)
    rows = [list(map(float, row)) for row in trained_model[1].sample_rows[:2]]
    response = predict(app, rows)
    (line,) = served(app)
    part = parse_line(line)
    body = json.loads(response["body"])
    assert part.request_id == response["multiValueHeaders"]["X-Request-Id"][0]
    assert (part.predictions, part.probabilities) == (body["predictions"], body["probabilities"])
    assert (part.function_version, part.inputs, part.shadow_candidate) == ("4", None, None)


def test_a_shadowed_large_answer_is_split_and_read_back_row_for_row(
    trained_model: tuple[Path, ModelMetadata], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("inference.api.MAX_LINE_BYTES", 20_000)  # this model's 1,000 rows fit in 200 kB
    app = app_for(trained_model, log_enabled=True, percent=100.0)
    samples = np.asarray(trained_model[1].sample_rows, dtype=np.float32)
    rows = (
        np.resize(samples, (1000, samples.shape[1])) * np.linspace(0.5, 1.5, 1000, dtype=np.float32)[:, None]
    )
    response = predict(app, rows.tolist())
    assert response["statusCode"] == 200, response["body"]
    lines = served(app)
    assert len(lines) > 1 and all(len(line.encode()) <= 20_000 for line in lines)
    parts = sorted((parse_line(line) for line in lines), key=lambda p: p.row_offset)
    assert np.concatenate([p.inputs for p in parts if p.inputs is not None]).tobytes() == rows.tobytes()
    assert [label for p in parts for label in p.predictions] == json.loads(response["body"])["predictions"]
    assert {p.shadow_candidate for p in parts} == {"m-cand"}
    assert '"ShadowSampled":[1.0]' in app.stream.getvalue()  # type: ignore[attr-defined]
