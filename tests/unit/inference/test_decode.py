"""The decode seam's fast decoder (inference.decode) answers exactly as its general decoder.

Each generated request goes through the real handler twice, with the fast decoder on and off, with
the clock and the inference timer frozen: responses, headers, log lines and EMF lines must be
byte for byte the same. The requests are the fuzz test's (anything a client may send) and common
requests with everything that may push one off the fast decoder: numbers beyond float32, at and
around 2**127, integers beyond 64 bits, every row count up to past the bound batches, other
spellings of the content type and path, base64 bodies, non-ASCII text, a stray value of another
type.
"""

from __future__ import annotations

import base64
import copy
import importlib
import io
import json
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.http.errors import RequestError
from common.http.validation import FLOAT32_MAX, RequestLimits, parse_instances
from common.mirror.config import ShadowConfig, ShadowConfigCache, ShadowConfigStore
from common.mirror.request_mirror import MirrorSettings, RequestMirror
from common.model.metadata import ModelMetadata
from inference.decode import BATCH_MIN_BYTES, JSON, Decoder, packed_rows
from localcloud.events import rest_proxy_event
from tests.helpers import FakeLambdaContext
from tests.unit.inference.test_handler_fuzz import N_FEATURES, predict_events
from tests.unit.mirror.test_config import FakeS3

differential = settings(max_examples=2_000, deadline=None, suppress_health_check=list(HealthCheck))
"""~1 minute here for the two differential tests (each request runs twice)."""
ACTIVE_SHADOW = ShadowConfig(active=True, sample_percent=100, candidate_model_version="m-cand")
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

edge_numbers = st.sampled_from(
    [
        0,
        -0.0,
        1,
        -1,
        2**53 + 1,
        2**63 - 1,
        -(2**63),
        2**64 + 1,
        10**30,
        float(2**127),
        -float(2**127),
        float(np.nextafter(np.float32(2**127), np.float32(0))),
        FLOAT32_MAX,
        -FLOAT32_MAX,
        float(np.nextafter(FLOAT32_MAX, np.inf)),
        1e39,
        1.7976931348623157e308,
        5e-324,
        1e-45,
    ]
)
numbers = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.integers()
    | edge_numbers
)
strays = st.none() | st.booleans() | st.text(max_size=3) | st.just([1.0]) | st.just({"a": 1})


@st.composite
def common_rows(draw: st.DrawFn) -> list[list[Any]]:
    """1 to 20 rows of numbers (past the 16 rows with a bound batch), sometimes with a row of the
    wrong length or a value of another type."""
    rows: list[list[Any]] = draw(
        st.lists(st.lists(numbers, min_size=N_FEATURES, max_size=N_FEATURES), min_size=1, max_size=20)
    )
    flaw = draw(st.sampled_from(["none", "none", "none", "stray", "short", "long"]))
    index = draw(st.integers(0, len(rows) - 1))
    if flaw == "stray":
        rows[index][draw(st.integers(0, N_FEATURES - 1))] = draw(strays)
    elif flaw == "short":
        rows[index] = rows[index][:-1]
    elif flaw == "long":
        rows[index] = [*rows[index], 1.0]
    return rows


@st.composite
def common_bodies(draw: st.DrawFn) -> str:
    """The rows as JSON, in any of the spellings clients use (spaces, exponents, key order)."""
    rows = draw(common_rows())
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" , ", " : ")]))
    document: dict[str, Any] = {"instances": rows}
    if draw(st.integers(0, 9)) == 0:
        document[draw(st.sampled_from(["extra", "instances2", "é"]))] = 1
    text = json.dumps(document, separators=separators, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        text = text.replace("e+", "E").replace(".0,", ".0e0,")
    if draw(st.integers(0, 9)) == 0:
        text = f"\n {text}\t"
    return text


@st.composite
def common_events(draw: st.DrawFn) -> dict[str, Any]:
    content_type = draw(
        st.sampled_from(
            ["application/json"] * 6 + ["application/json; charset=utf-8", "Application/JSON", "text/plain"]
        )
    )
    header = draw(st.sampled_from(["Content-Type"] * 3 + ["content-type", "CONTENT-TYPE"]))
    method = draw(st.sampled_from(["POST"] * 6 + ["post", "GET"]))
    path = draw(st.sampled_from(["/predict"] * 6 + ["/predict/", "/health"]))
    event = rest_proxy_event(method, path, body=draw(common_bodies()), headers={header: content_type})
    if draw(st.integers(0, 9)) == 0:
        event["body"] = base64.b64encode(event["body"].encode()).decode()
        event["isBase64Encoded"] = True
    return event


class FrozenTimer:
    """perf_counter for the service: 0.0 then 1.25 ms, again for the next measurement."""

    def __init__(self) -> None:
        self.calls = 0

    def perf_counter(self) -> float:
        self.calls += 1
        return 0.0 if self.calls % 2 else 0.00125


@pytest.fixture(scope="module")
def handler(trained_model: tuple[Path, ModelMetadata]) -> Iterator[ModuleType]:
    artifact_dir, _ = trained_model
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "MODEL_URI": str(artifact_dir),
            "MAX_ROWS": "18",
            "MAX_BODY_BYTES": "8000",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "FastPath",
            "POWERTOOLS_SERVICE_NAME": "inference",
        }.items():
            patch.setenv(key, value)
        sys.modules.pop("inference.handler", None)
        module = importlib.import_module("inference.handler")
        import inference.log_lines
        import inference.service

        patch.setattr(inference.service, "time", FrozenTimer())
        patch.setattr(
            inference.log_lines,
            "time",
            SimpleNamespace(time=lambda: 1_700_000_000.4567, strftime=time.strftime, gmtime=time.gmtime),
        )
        yield module
        sys.modules.pop("inference.handler", None)


def answer(handler: ModuleType, event: dict[str, Any], *, fast: bool) -> tuple[dict[str, Any], str]:
    """(response, the lines the invocation wrote), through the fast decoder or around it."""
    app = handler.app
    app.stream = io.StringIO()
    app.decoder.fast = fast
    try:
        context = FakeLambdaContext(function_version="12", aws_request_id="req-1")
        response: dict[str, Any] = handler.handler(copy.deepcopy(event), context)
    finally:
        app.decoder.fast = True
    return response, app.stream.getvalue()


def assert_same_answer(handler: ModuleType, event: dict[str, Any], trace: bool) -> None:
    if trace:
        os.environ["_X_AMZN_TRACE_ID"] = TRACE
    try:
        fast = answer(handler, event, fast=True)
        general = answer(handler, event, fast=False)
    finally:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    assert fast == general


@differential
@given(event=common_events(), trace=st.booleans())
def test_common_requests_get_the_general_paths_answer(
    handler: ModuleType, event: dict[str, Any], trace: bool
) -> None:
    assert_same_answer(handler, event, trace)


@settings(differential, max_examples=1_000)
@given(event=predict_events, trace=st.booleans())
def test_any_request_gets_the_general_paths_answer(
    handler: ModuleType, event: dict[str, Any], trace: bool
) -> None:
    assert_same_answer(handler, event, trace)


def wired_mirror(config: ShadowConfig | None, *, pending_failures: int) -> RequestMirror:
    """The shadow sampler as the handler wires it, with `pending_failures` configuration read errors
    counted before the request (they go out in its metrics line)."""
    store = ShadowConfigStore(FakeS3(), "logs")
    if config is not None:
        store.save(config)
    cache = ShadowConfigCache(store, ttl_s=3600.0, clock=lambda: 0.0)
    cache.refresh()
    mirror = RequestMirror(
        config=cache, settings=MirrorSettings(log_sample_rate=0.0), rng=random.Random(7), clock=lambda: 0.0
    )
    for _ in range(pending_failures):
        mirror.report_config_error(RuntimeError("unreadable"))
    return mirror


@settings(differential, max_examples=400)
@given(
    data=st.data(),
    shadow=st.sampled_from([None, ShadowConfig(), ACTIVE_SHADOW]),
    pending_failures=st.integers(0, 2),
)
def test_with_a_shadow_mirror_wired_both_paths_answer_and_offer_the_same(
    handler: ModuleType,
    trained_model: tuple[Path, ModelMetadata],
    data: st.DataObject,
    shadow: ShadowConfig | None,
    pending_failures: int,
) -> None:
    """Served requests (1 to 20 of the model's sample rows), and the others' requests: the same
    response and lines (the record with what the sampler drew, its counters among the metrics)."""
    samples = trained_model[1].sample_rows
    served = st.lists(st.sampled_from(samples), min_size=1, max_size=20).map(
        lambda rows: rest_proxy_event(
            "POST", "/predict", body=json.dumps({"instances": rows}), headers={"Content-Type": JSON}
        )
    )
    event = data.draw(served | common_events() | predict_events)
    app = handler.app
    answers = []
    try:
        for fast in (True, False):
            app.mirror = wired_mirror(shadow, pending_failures=pending_failures)
            answers.append(answer(handler, event, fast=fast))
    finally:
        app.mirror = None
    assert answers[0] == answers[1]


def test_with_a_shadow_on_a_served_request_takes_the_fast_decoder_and_is_mirrored(
    handler: ModuleType, trained_model: tuple[Path, ModelMetadata], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = trained_model[1].sample_rows[:3]
    event = rest_proxy_event(
        "POST", "/predict", body=json.dumps({"instances": rows}), headers={"Content-Type": JSON}
    )

    def general(*_: Any) -> Any:
        raise AssertionError("the general decoder answered a common request")

    monkeypatch.setattr(handler.app.decoder, "general_rows", general)
    mirror = wired_mirror(ACTIVE_SHADOW, pending_failures=1)
    monkeypatch.setattr(handler.app, "mirror", mirror)
    response, lines = answer(handler, event, fast=True)
    assert response["statusCode"] == 200 and '"ShadowConfigReadErrors"' in lines
    served = json.loads(lines.splitlines()[0])
    inputs = served["inputs"]
    assert (inputs["dtype"], inputs["shape"]) == ("float32", [3, N_FEATURES])
    assert base64.b64decode(inputs["data"]) == np.asarray(rows, dtype=np.float32).tobytes()
    assert served["shadow_candidate"] == "m-cand" and '"ShadowSampled"' in lines


def test_a_common_request_takes_the_fast_decoder(
    handler: ModuleType, trained_model: tuple[Path, ModelMetadata], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, metadata = trained_model
    body = json.dumps({"instances": metadata.sample_rows[:2]})
    event = rest_proxy_event("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
    expected, lines = answer(handler, event, fast=True)

    def general(*_: Any) -> Any:
        raise AssertionError("the general decoder answered a common request")

    monkeypatch.setattr(handler.app.decoder, "general_rows", general)
    assert answer(handler, event, fast=True) == (expected, lines)
    assert expected["statusCode"] == 200 and '"message":"prediction served"' in lines
    assert handler.service.model._bound[2] is not None  # through the bound run


def test_a_failing_model_is_an_internal_error(
    handler: ModuleType, trained_model: tuple[Path, ModelMetadata], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, metadata = trained_model
    event = rest_proxy_event(
        "POST",
        "/predict",
        body=json.dumps({"instances": [metadata.sample_rows[0]]}),
        headers={"Content-Type": "application/json"},
    )

    def explode(*_: Any) -> Any:
        raise RuntimeError("onnx exploded")

    model = handler.service.model
    monkeypatch.setattr(model, "predict", explode)
    logger = handler.logger.get().registered_handler
    previous = logger.setStream(io.StringIO())
    try:
        response, lines = answer(handler, event, fast=True)
    finally:
        logger.setStream(previous)
    assert response["statusCode"] == 500
    assert '"InternalErrors":[1.0]' in lines


# -- the pieces ----------------------------------------------------------------------------------


@settings(max_examples=1_500, deadline=None)
@given(
    rows=st.lists(st.lists(numbers, min_size=3, max_size=3), min_size=1, max_size=4)
    | st.lists(st.lists(numbers, min_size=3, max_size=3), min_size=80, max_size=90)
)
def test_packed_rows_are_the_validated_rows_or_none(rows: list[list[Any]]) -> None:
    text = json.dumps({"instances": rows})
    import orjson

    try:
        instances = orjson.loads(text)["instances"]
    except orjson.JSONDecodeError:
        return  # beyond float64: orjson refuses it, the fast decoder never sees it
    packed = packed_rows(instances, 3, text)
    try:
        matrix = parse_instances(
            {"instances": instances}, feature_names=["a", "b", "c"], limits=RequestLimits(), body_text=text
        )
    except RequestError:
        assert packed is None
        return
    if packed is None:  # only values from 2**127 up are left to the general checks
        assert np.abs(matrix).max() >= np.float32(2**127)
    else:
        assert packed == matrix.tobytes()


@pytest.mark.parametrize(
    ("value", "packs"),
    [
        (float(np.nextafter(np.float32(2**127), np.float32(0))), True),
        (float(2**127), False),  # valid, but left to the general checks
        (FLOAT32_MAX, False),
        (float(np.nextafter(FLOAT32_MAX, np.inf)), False),  # rounds to FLOAT32_MAX as float32
        (1e39, False),  # infinity as float32
        (-0.0, True),
    ],
)
def test_packed_rows_near_the_float32_limit(value: float, packs: bool) -> None:
    text = json.dumps({"instances": [[value, 1.0]]})
    assert (packed_rows([[value, 1.0]], 2, text) is not None) is packs


@pytest.mark.parametrize(
    "text",
    ['{"instances": [[true, 1.0]]}', '{"instances": [[null, 1.0]]}', '{"instances": [["1", 1.0]]}'],
)
def test_packed_rows_needs_the_text_to_prove_numbers(text: str) -> None:
    import orjson

    assert packed_rows(orjson.loads(text)["instances"], 2, text) is None


def test_the_bound_run_answers_as_the_session(handler: ModuleType, holdout: Any) -> None:
    model = handler.service.model
    X = np.asarray(holdout[0], dtype=np.float32)
    for rows in range(1, 21):
        batch = np.ascontiguousarray(X[rows : rows * 2])
        expected = model._session_predict(batch)
        answer = model.predict(batch)
        assert (answer.labels, answer.probabilities.tolist()) == (
            expected.labels,
            expected.probabilities.tolist(),
        )
        assert answer.outputs() == expected.outputs()
        assert (model._bound.get(rows) is not None) is (rows <= 16)  # above: the session's run


def test_a_busy_bound_run_is_not_shared(handler: ModuleType, holdout: Any) -> None:
    model = handler.service.model
    row = np.asarray(holdout[0][:1], dtype=np.float32)
    expected = model.predict(row).outputs()
    assert model._bound[1] is not None
    lock: threading.Lock = model._bound_lock
    with lock:  # another thread holds the bound run: the session's run answers
        assert model.predict(row).outputs() == expected


@pytest.mark.parametrize("trace", [None, TRACE])
@pytest.mark.parametrize("rows", [1, 17])
@pytest.mark.parametrize("inference_ms", [0.0123, 0.55722999968566, 1e-7, float("nan"), float("inf")])
@pytest.mark.parametrize("enabled", [(True, True), (False, True), (True, False), (False, False)])
def test_the_prediction_lines_are_the_served_line_and_the_metrics_line(
    trace: str | None,
    rows: int,
    inference_ms: float,
    enabled: tuple[bool, bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from inference.log_lines import EmfMetrics, PredictionLines, RequestLog

    if trace is None:
        monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    else:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", trace)
    monkeypatch.setattr("inference.log_lines.time.time", lambda: 1_700_000_000.9995)
    log = RequestLog(service="inference", model_version="m-1", enabled=enabled[0])
    emf = EmfMetrics(namespace="ModelServing", service="inference", enabled=enabled[1])
    lines = PredictionLines(log, emf)
    for version in ("$LATEST", "7"):
        log.bind_function_version(version)
        emf.bind_function_version(version)
        expected = log.served("req-1", rows, inference_ms) + emf.render_prediction(rows, inference_ms)
        assert lines.render("req-1", rows, inference_ms) == expected


# -- where the lines go ----------------------------------------------------------------------------


class Unbuffered:
    """awslambdaric's stdout wrapper: a write that flushes, everything else passed through."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


@pytest.mark.parametrize("wrapped", [False, True])
def test_lines_go_to_the_descriptor_after_what_the_stream_holds(wrapped: bool) -> None:
    from inference.log_lines import LineWriter

    read, write = os.pipe()
    with open(read, "rb") as reader:
        with open(write, "w", encoding="utf-8") as stream:
            stream.write("before, still in the stream's buffer\n")
            writer = LineWriter(Unbuffered(stream) if wrapped else stream)  # type: ignore[arg-type]
            assert writer._raw is not None  # the descriptor is written directly
            writer.write('{"message":"prediction served"}\n' * 50)
            stream.write("after\n")
        assert reader.read().decode() == (
            "before, still in the stream's buffer\n" + '{"message":"prediction served"}\n' * 50 + "after\n"
        )


def test_other_streams_get_their_own_write_and_flush(tmp_path: Path) -> None:
    from inference.log_lines import LineWriter

    buffer = io.StringIO()
    writer = LineWriter(buffer)
    writer.write("line\n")
    assert writer._raw is None and buffer.getvalue() == "line\n"
    with open(tmp_path / "latin", "w", encoding="latin-1") as latin:
        assert LineWriter(latin)._raw is None


def test_without_simdjson_orjson_takes_the_large_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "inference.batch_rows", None)  # import fails
    instances = [[0.125, 1, 2] * 10] * 100
    decoder = Decoder([f"f{n}" for n in range(30)], RequestLimits())
    body = json.dumps({"instances": instances})
    assert len(body) >= BATCH_MIN_BYTES
    rows = decoder.fast_rows(body)
    assert decoder._batch is False
    assert rows is not None and rows.tobytes() == np.asarray(instances, np.float32).tobytes()
