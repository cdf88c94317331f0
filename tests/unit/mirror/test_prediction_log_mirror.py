"""Live predictions logged for monitoring through the shadow path: sampled at the log's rate when no
shadow runs (live-only messages), and a running shadow still sees exactly the requests it saw before;
the shadow function writes live-only messages as records without a shadow result under predictions/."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from common.mirror.config import ShadowConfig, ShadowConfigCache, ShadowConfigStore
from common.mirror.message import parse_message
from common.mirror.request_mirror import MirrorSettings, RequestMirror
from shadow.writer import RecordWriter
from tests.monitoring_support import logged_record
from tests.unit.mirror.test_config import FakeS3
from tests.unit.mirror.test_request_mirror import Clock, FakeSender, ListLog, drain, offer

OFFERS = 4000


def mirror_with(
    config: ShadowConfig | None, log_percent: float, seed: int = 5
) -> tuple[RequestMirror, FakeSender]:
    store = ShadowConfigStore(FakeS3(), "logs")
    if config is not None:
        store.save(config)
    clock = Clock()
    cache = ShadowConfigCache(store, ttl_s=5.0, clock=clock)
    cache.refresh()
    sender = FakeSender()
    mirror = RequestMirror(
        config=cache,
        sender=sender,
        settings=MirrorSettings(capacity=OFFERS + 1, log_sample_rate=log_percent / 100),
        log=ListLog(),
        rng=random.Random(seed),
        clock=clock,
        wall_clock=lambda: 1767359045.678,
    )
    return mirror, sender


def candidates(mirror: RequestMirror) -> list[str | None]:
    for index in range(OFFERS):
        offer(mirror, f"r{index}")
    return [item.candidate_model_version for item in drain(mirror)]


def within_4_sigma(count: int, share: float) -> bool:
    return bool(abs(count - OFFERS * share) <= 4 * np.sqrt(OFFERS * 0.25) + 1)


def test_without_a_shadow_the_log_rate_mirrors_live_only_messages() -> None:
    mirror, _ = mirror_with(None, log_percent=10)
    named = candidates(mirror)
    assert within_4_sigma(len(named), 0.10)
    assert set(named) == {None}
    everything, sender = mirror_with(None, log_percent=100)
    offer(everything, "one")
    everything.send_items(drain(everything))
    (body,) = sender.bodies
    message = parse_message(body)
    assert message.candidate_model_version is None and message.request_id == "one"


@pytest.mark.parametrize(("shadow_percent", "log_percent"), [(25.0, 10.0), (10.0, 25.0), (50.0, 0.0)])
def test_a_running_shadow_sees_its_share_and_the_log_at_least_its_own(
    shadow_percent: float, log_percent: float
) -> None:
    shadow = ShadowConfig(active=True, sample_percent=shadow_percent, candidate_model_version="m-cand")
    mirror, _ = mirror_with(shadow, log_percent)
    named = candidates(mirror)
    assert within_4_sigma(named.count("m-cand"), shadow_percent / 100)
    assert within_4_sigma(len(named), max(shadow_percent, log_percent) / 100)


def test_the_same_draws_give_a_shadow_the_same_requests_with_or_without_the_log() -> None:
    shadow = ShadowConfig(active=True, sample_percent=20, candidate_model_version="m-cand")
    plain, _ = mirror_with(shadow, log_percent=0, seed=11)
    logged, _ = mirror_with(shadow, log_percent=30, seed=11)
    for index in range(500):
        offer(plain, f"r{index}")
        offer(logged, f"r{index}")
    shadowed_plain = [item.request_id for item in drain(plain)]
    shadowed_logged = [item.request_id for item in drain(logged) if item.candidate_model_version]
    assert shadowed_plain == shadowed_logged


def test_the_log_rate_comes_from_the_environment() -> None:
    assert MirrorSettings.from_environment({"PREDICTION_LOG_SAMPLE_PERCENT": "12.5"}).log_sample_rate == 0.125
    assert MirrorSettings.from_environment({}).log_sample_rate == 0.0
    assert MirrorSettings.from_environment({"PREDICTION_LOG_SAMPLE_PERCENT": "250"}).log_sample_rate == 1.0


class PutRecorder:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any:
        self.keys.append(Key)


def test_live_only_records_go_under_predictions_and_shadow_records_stay_under_records() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 1, 2, 13, 4, tzinfo=UTC)
    s3 = PutRecorder()
    RecordWriter(s3, "logs").write(
        [
            logged_record("a", moment, [[1.0]], [1]),
            logged_record("b", moment, [[1.0]], [1], candidate="m-cand"),
        ]
    )
    assert sorted(key.split("/")[0] for key in s3.keys) == ["predictions", "records"]
    assert all("/dt=2026-01-02/hour=13/" in key for key in s3.keys)


def test_the_shadow_function_logs_a_live_only_message_without_scoring_it() -> None:
    from common.mirror.message import LiveResult, encode_messages
    from shadow.consumer import ShadowConsumer
    from tests.helpers import FakeLambdaContext
    from tests.unit.shadow.test_shadow_consumer import Sink, Writer, event

    class NoModels:
        def get(self, version: str) -> Any:
            raise AssertionError("a live-only message loads no model")

    writer, sink = Writer(), Sink()
    consumer = ShadowConsumer(models=NoModels(), writer=writer, logger=sink, metrics=sink)
    (message_body,) = encode_messages(
        request_id="live-1",
        timestamp="2026-01-02T13:04:05.678Z",
        candidate_model_version=None,
        inputs=np.asarray([[1.0, 2.0]], dtype=np.float32),
        live=LiveResult("m-live", "3", [1], [[0.5, 0.5]], 0.05),
    )
    response = consumer.handle(event(message_body), FakeLambdaContext("shadow", "$LATEST"))
    assert response == {"batchItemFailures": []}
    (batch,) = writer.batches
    assert [(r.record_id, r.shadow, r.prefix) for r in batch] == [("live-1#0", None, "predictions/")]
    assert sink.metrics == {"PredictionRecordsWritten": 1}
