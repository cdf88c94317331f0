"""Which served requests carry their inputs in their log record, and which the shadow scores.

Every answered request leaves its outcome record in the inference function's "prediction served"
log line (inference.record_line); a CloudWatch Logs subscription delivers those lines to the
recorder function, which writes them to S3 and forwards the shadow's share to the shadow queue
(docs/prediction-log.md). This module only decides, on the request thread and without I/O, what a
request's record carries:

- its float32 inputs when one uniform draw falls below the larger of the shadow's rate and the
  prediction log's rate (`PREDICTION_LOG_SAMPLE_PERCENT`);
- the shadow's candidate when the same draw is also below the shadow's rate, so the shadow's sample
  does not depend on the log's rate.

The shadow configuration (`control/shadow.json`) is re-read every `config_ttl_s` seconds by a one-shot
thread that a request starts when the cached copy is due: nothing runs between invocations, so the
freeze of an idle Lambda environment cannot hold anything back. A refresh started just before a
freeze completes when the environment thaws (the response waits in the socket meanwhile); until
then the last configuration read stays in force, and the first request after a long idle period
may still use it.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from common.mirror.config import ShadowConfigCache, ShadowConfigStore

SAMPLED = "ShadowSampled"
"""EMF count of the requests whose record names the shadow's candidate (the shadow report compares it
with the records it finds)."""
CONFIG_ERRORS = "ShadowConfigReadErrors"
"""EMF count of failed reads of the shadow configuration (the last one read stays in force)."""


@dataclass(frozen=True)
class MirrorSettings:
    config_ttl_s: float = 5.0
    connect_timeout_s: float = 0.2
    read_timeout_s: float = 0.5
    log_interval_s: float = 60.0
    log_sample_rate: float = 0.0
    """The share of live requests (0..1) whose record carries their inputs even when no shadow runs."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> MirrorSettings:
        def number(name: str, default: float) -> float:
            raw = environ.get(name, "")
            try:
                value = float(raw) if raw else default
            except ValueError:
                return default
            return value if value > 0 else default

        return cls(
            config_ttl_s=number("SHADOW_CONFIG_TTL_SECONDS", cls.config_ttl_s),
            connect_timeout_s=number("SHADOW_CONNECT_TIMEOUT_SECONDS", cls.connect_timeout_s),
            read_timeout_s=number("SHADOW_READ_TIMEOUT_SECONDS", cls.read_timeout_s),
            log_sample_rate=min(number("PREDICTION_LOG_SAMPLE_PERCENT", 0.0), 100.0) / 100.0,
        )


@dataclass(frozen=True)
class Sample:
    """What one request's record carries beyond its outputs."""

    inputs: bool
    candidate_model_version: str | None
    """The shadow's candidate when the shadow's sample drew the request, else None."""


NOT_SAMPLED = Sample(inputs=False, candidate_model_version=None)


class RequestMirror:
    """The sampling decision per request, and the configuration refresh that feeds it."""

    def __init__(
        self,
        *,
        config: ShadowConfigCache,
        settings: MirrorSettings | None = None,
        log: logging.Logger | Any | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.settings = settings or MirrorSettings()
        self._rng = rng or random.Random()
        self._clock = clock
        self._log = log or logging.getLogger(__name__)
        self._last_warning = -float("inf")
        self._config_errors = 0
        self._refreshing: threading.Thread | None = None
        self._lock = threading.Lock()
        if config.on_error is None:
            config.on_error = self.report_config_error

    def draw(self) -> Sample:
        """The sample for one served request. Never raises, never blocks, never does I/O; starts a
        background re-read of the configuration when the cached one is due."""
        try:
            config = self.config.current
            self._refresh_when_due()
            shadow_rate = config.sample_rate
            rate = max(shadow_rate, self.settings.log_sample_rate)
            if rate <= 0.0:
                return NOT_SAMPLED
            draw = self._rng.random()
            if draw >= rate:
                return NOT_SAMPLED
            candidate = config.candidate_model_version if draw < shadow_rate else None
            return Sample(inputs=True, candidate_model_version=candidate)
        except Exception as exc:  # fail-open: a sampling bug must not fail the live request
            self._warn(f"{type(exc).__name__}: {exc}")
            return NOT_SAMPLED

    def take_counters(self) -> dict[str, int]:
        """Configuration read errors since the last call (when any), for the invocation's metrics."""
        with self._lock:
            errors, self._config_errors = self._config_errors, 0
        return {CONFIG_ERRORS: errors} if errors else {}

    def report_config_error(self, exc: Exception) -> None:
        """The configuration could not be read: the last known one stays in force; counted, and logged
        at most once per interval."""
        with self._lock:
            self._config_errors += 1
        self._warn(f"cannot read {self.config.store.uri}: {type(exc).__name__}: {exc}")

    def wait_for_refresh(self, timeout_s: float = 5.0) -> None:
        """Wait for a configuration read in progress (tests and benchmarks)."""
        thread = self._refreshing
        if thread is not None:
            thread.join(timeout_s)

    def _refresh_when_due(self) -> None:
        if self.config.seconds_until_refresh() > 0.0:
            return
        thread = self._refreshing
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(target=self.config.refresh_if_due, name="shadow-config", daemon=True)
        self._refreshing = thread
        thread.start()

    def _warn(self, detail: str) -> None:
        now = self._clock()
        if now - self._last_warning < self.settings.log_interval_s:
            return
        self._last_warning = now
        self._log.warning(
            "shadow sampling is failing; the live responses are not affected",
            extra={"last_error": detail[:500], "interval_s": self.settings.log_interval_s},
        )


# -- wiring for the inference function -----------------------------------------------------------------


def fast_client_config(settings: MirrorSettings) -> Any:
    """Short timeouts and exactly one attempt: `total_max_attempts=1` means no retry at all (botocore's
    `max_attempts` counts retries *after* the first attempt, so `max_attempts: 1` would retry once)."""
    from botocore.config import Config

    return Config(
        connect_timeout=settings.connect_timeout_s,
        read_timeout=settings.read_timeout_s,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=2,
        tcp_keepalive=True,
    )


def mirror_from_environment(
    environ: Mapping[str, str] = os.environ,
    *,
    log: logging.Logger | Any | None = None,
    session: Any = None,
) -> RequestMirror | None:
    """The sampler the stack configured (`SHADOW_CONFIG_URI`), with the configuration read once; or
    None when the function is deployed without a shadow stack."""
    config_uri = environ.get("SHADOW_CONFIG_URI", "")
    if not config_uri:
        return None
    import boto3  # provided by the Lambda runtime; only needed when a shadow stack is wired

    settings = MirrorSettings.from_environment(environ)
    # boto3's default session by default: the one the model's S3 download already used at init, so
    # botocore's parsed service models are shared and the client adds little to a cold start.
    make_client = session.client if session is not None else boto3.client
    s3 = make_client("s3", config=fast_client_config(settings))
    cache = ShadowConfigCache(ShadowConfigStore.from_uri(s3, config_uri), ttl_s=settings.config_ttl_s)
    mirror = RequestMirror(config=cache, settings=settings, log=log)
    # One read at init (short timeouts; a failure keeps "no shadow" and is reported): otherwise the
    # first requests of a new environment would be served before the first background read.
    cache.refresh()
    return mirror
