"""The SnapStart hooks (inference.snapstart): warm before the snapshot; new seeds, fresh connections
and a re-read shadow configuration after each restore."""

from __future__ import annotations

import random
from typing import Any

from inference.snapstart import SnapStartHooks


class FakeClient:
    """Looks like a botocore client to the hooks: an endpoint and `close`."""

    def __init__(self) -> None:
        self._endpoint = object()
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class ShadowConfigCache:
    def __init__(self) -> None:
        self.reads = 0

    def refresh(self) -> None:
        self.reads += 1


class Sender:
    def __init__(self) -> None:
        self.sqs = FakeClient()


class Mirror:
    def __init__(self) -> None:
        self._rng = random.Random(42)
        self.config = ShadowConfigCache()
        self.sender = Sender()


def test_before_snapshot_warms_and_closes_connections() -> None:
    warmed: list[int] = []
    mirror = Mirror()
    hooks = SnapStartHooks(warm=lambda: warmed.append(1), holders=[mirror])
    hooks.before_snapshot()
    assert warmed == [1] and mirror.sender.sqs.closed == 1 and hooks.snapshots == 1


def test_after_restore_gives_each_copy_its_own_draws() -> None:
    # GIVEN two environments restored from one snapshot (the same generator state)
    copies = [Mirror(), Mirror()]
    for mirror in copies:
        SnapStartHooks(warm=lambda: None, holders=[mirror]).after_restore()
    # THEN they no longer draw the same sample
    draws = [[m._rng.random() for _ in range(5)] for m in copies]
    assert draws[0] != draws[1]
    unseeded = [random.Random(42).random() for _ in range(5)]
    assert draws[0] != unseeded


def test_after_restore_reconnects_resets_and_rereads_the_shadow_configuration() -> None:
    mirror = Mirror()
    resets: list[str] = []
    hooks = SnapStartHooks(warm=lambda: None, holders=[mirror], resets=[lambda: resets.append("router")])
    hooks.after_restore()
    assert mirror.config.reads == 1 and mirror.sender.sqs.closed == 1 and resets == ["router"]
    assert hooks.restores == 1


def test_the_inference_app_warms_on_its_sample_rows(handler_module: Any) -> None:
    from inference.snapstart import warm_with_sample_rows

    app = handler_module.app
    calls: list[int] = []
    original = app.service.predict

    def counting(rows: Any) -> Any:
        calls.append(len(rows))
        return original(rows)

    app.service.predict = counting
    try:
        warm_with_sample_rows(app)()
    finally:
        app.service.predict = original
    assert calls == [len(app.service.model.metadata.sample_rows)] and calls[0] > 0
