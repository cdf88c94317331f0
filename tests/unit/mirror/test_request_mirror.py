"""The shadow sampler on the request thread: what each served request's record carries (inputs for
the sampled share, the candidate for the shadow's share), the shadow's sample independent of the log's
rate, fail-open, and the configuration refresh started by a request when due (nothing runs between
invocations). Fake S3 and clocks."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from common.mirror.config import ShadowConfig, ShadowConfigCache, ShadowConfigStore
from common.mirror.request_mirror import (
    CONFIG_ERRORS,
    NOT_SAMPLED,
    MirrorSettings,
    RequestMirror,
    Sample,
    fast_client_config,
)
from tests.unit.mirror.test_config import FakeS3

DRAWS = 4000
ACTIVE = ShadowConfig(active=True, sample_percent=100, candidate_model_version="m-cand")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ListLog:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, message: str, *, extra: dict[str, Any]) -> None:
        self.warnings.append((message, extra))


def make_mirror(
    config: ShadowConfig | None, *, log_percent: float = 0.0, seed: int = 3, ttl_s: float = 5.0
) -> tuple[RequestMirror, FakeS3, ListLog, Clock]:
    s3 = FakeS3()
    store = ShadowConfigStore(s3, "logs")
    if config is not None:
        store.save(config)
    clock = Clock()
    cache = ShadowConfigCache(store, ttl_s=ttl_s, clock=clock)
    cache.refresh()
    log = ListLog()
    mirror = RequestMirror(
        config=cache,
        settings=MirrorSettings(log_interval_s=60.0, log_sample_rate=log_percent / 100),
        log=log,
        rng=random.Random(seed),
        clock=clock,
    )
    return mirror, s3, log, clock


def within_4_sigma(count: int, share: float) -> bool:
    return bool(abs(count - DRAWS * share) <= 4 * np.sqrt(DRAWS * 0.25) + 1)


def draws(mirror: RequestMirror) -> list[Sample]:
    return [mirror.draw() for _ in range(DRAWS)]


def test_no_configuration_or_a_stopped_shadow_samples_nothing() -> None:
    for config in (None, ACTIVE.stopped("2026-01-02T13:00:00.000Z")):
        mirror, _, _, _ = make_mirror(config)
        assert mirror.draw() == NOT_SAMPLED
        assert mirror.take_counters() == {}


def test_an_active_shadow_at_100_percent_names_its_candidate_with_the_inputs() -> None:
    mirror, _, _, _ = make_mirror(ACTIVE)
    assert mirror.draw() == Sample(inputs=True, candidate_model_version="m-cand")


@pytest.mark.parametrize("percent", [0.0, 10.0, 25.0, 50.0, 100.0])
def test_sampling_follows_the_configured_percentage(percent: float) -> None:
    config = ShadowConfig(active=True, sample_percent=percent, candidate_model_version="m-cand")
    mirror, _, _, _ = make_mirror(config)
    samples = draws(mirror)
    assert within_4_sigma(sum(s.candidate_model_version == "m-cand" for s in samples), percent / 100)
    assert all(s.inputs for s in samples if s.candidate_model_version)


def test_without_a_shadow_the_log_rate_samples_inputs_only() -> None:
    mirror, _, _, _ = make_mirror(None, log_percent=10)
    samples = draws(mirror)
    assert within_4_sigma(sum(s.inputs for s in samples), 0.10)
    assert {s.candidate_model_version for s in samples} == {None}


@pytest.mark.parametrize(("shadow_percent", "log_percent"), [(25.0, 10.0), (10.0, 25.0), (50.0, 0.0)])
def test_a_running_shadow_sees_its_share_and_the_inputs_at_least_the_log_s(
    shadow_percent: float, log_percent: float
) -> None:
    shadow = ShadowConfig(active=True, sample_percent=shadow_percent, candidate_model_version="m-cand")
    mirror, _, _, _ = make_mirror(shadow, log_percent=log_percent)
    samples = draws(mirror)
    assert within_4_sigma(sum(s.candidate_model_version == "m-cand" for s in samples), shadow_percent / 100)
    assert within_4_sigma(sum(s.inputs for s in samples), max(shadow_percent, log_percent) / 100)


def test_the_same_draws_give_a_shadow_the_same_requests_with_or_without_the_log() -> None:
    shadow = ShadowConfig(active=True, sample_percent=20, candidate_model_version="m-cand")
    plain, _, _, _ = make_mirror(shadow, seed=11)
    logged, _, _, _ = make_mirror(shadow, log_percent=30, seed=11)
    shadowed_plain = [i for i in range(500) if plain.draw().candidate_model_version]
    shadowed_logged = [i for i in range(500) if logged.draw().candidate_model_version]
    assert shadowed_plain == shadowed_logged and shadowed_plain


def test_draw_never_raises_and_warns_once_per_interval() -> None:
    mirror, _, log, clock = make_mirror(ACTIVE)

    class Broken:
        def random(self) -> float:
            raise RuntimeError("boom")

    mirror._rng = Broken()  # type: ignore[assignment]
    assert mirror.draw() == NOT_SAMPLED and mirror.draw() == NOT_SAMPLED
    assert len(log.warnings) == 1 and "boom" in log.warnings[0][1]["last_error"]
    clock.now += 61
    mirror.draw()
    assert len(log.warnings) == 2


def test_a_due_configuration_is_reread_by_a_one_shot_thread_a_request_starts() -> None:
    mirror, s3, _, clock = make_mirror(None, ttl_s=5.0)
    reads = s3.gets
    mirror.draw()
    mirror.wait_for_refresh()
    assert s3.gets == reads  # not due yet: no read
    ShadowConfigStore(s3, "logs").save(ACTIVE)
    clock.now += 5
    assert mirror.draw() == NOT_SAMPLED  # the read starts now, the request does not wait for it
    mirror.wait_for_refresh()
    assert s3.gets == reads + 1
    assert mirror._refreshing is not None and not mirror._refreshing.is_alive()  # nothing left running
    assert mirror.draw() == Sample(inputs=True, candidate_model_version="m-cand")


def test_a_failed_read_keeps_the_last_configuration_and_is_counted() -> None:
    mirror, s3, log, clock = make_mirror(ACTIVE, ttl_s=5.0)
    s3.fail = RuntimeError("S3 is away")
    clock.now += 5
    mirror.draw()
    mirror.wait_for_refresh()
    assert mirror.draw().candidate_model_version == "m-cand"
    assert mirror.take_counters() == {CONFIG_ERRORS: 1}
    assert mirror.take_counters() == {}
    assert "S3 is away" in log.warnings[0][1]["last_error"]


def test_clients_get_short_timeouts_and_no_retry() -> None:
    config = fast_client_config(MirrorSettings())
    assert (config.connect_timeout, config.read_timeout) == (0.2, 0.5)
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}


def test_settings_from_the_environment() -> None:
    settings = MirrorSettings.from_environment(
        {
            "SHADOW_CONFIG_TTL_SECONDS": "2",
            "SHADOW_READ_TIMEOUT_SECONDS": "x",
            "PREDICTION_LOG_SAMPLE_PERCENT": "12.5",
        }
    )
    assert (settings.config_ttl_s, settings.read_timeout_s, settings.log_sample_rate) == (2.0, 0.5, 0.125)
    assert MirrorSettings.from_environment({}).log_sample_rate == 0.0
    assert MirrorSettings.from_environment({"PREDICTION_LOG_SAMPLE_PERCENT": "250"}).log_sample_rate == 1.0
