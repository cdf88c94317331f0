"""A live-only message (no candidate: what the inference function's earlier sender wrote for the
prediction log) is acknowledged without scoring and not written: the recorder writes every answered
request; the shadow writes only what it scored."""

from __future__ import annotations

from typing import Any

import numpy as np

from common.mirror.message import LiveResult, encode_messages
from shadow.consumer import ShadowConsumer
from tests.helpers import FakeLambdaContext
from tests.unit.shadow.test_shadow_consumer import Sink, Writer, event


class NoModels:
    def get(self, version: str) -> Any:
        raise AssertionError("a live-only message loads no model")


def test_a_live_only_message_is_acknowledged_and_not_written() -> None:
    writer, sink = Writer(), Sink()
    consumer = ShadowConsumer(models=NoModels(), writer=writer, logger=sink, metrics=sink)
    (body,) = encode_messages(
        request_id="live-1",
        timestamp="2026-01-02T13:04:05.678Z",
        candidate_model_version=None,
        inputs=np.asarray([[1.0, 2.0]], dtype=np.float32),
        live=LiveResult("m-live", "3", [1], [[0.5, 0.5]], 0.05),
    )
    response = consumer.handle(event(body), FakeLambdaContext("shadow", "$LATEST"))
    assert response == {"batchItemFailures": []}
    assert writer.batches == []
    assert sink.metrics == {"ShadowLiveOnlySkipped": 1}
