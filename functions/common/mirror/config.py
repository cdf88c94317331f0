"""The active shadow configuration: one small JSON object in the shadow log bucket.

`modelctl shadow start/stop` writes `s3://<log bucket>/control/shadow.json`; the inference function
reads it through `ShadowConfigCache` (refreshed off the request thread every few seconds, with a
conditional GET) to decide whether and how often to mirror, and which candidate model to name in
the messages. A missing object means no shadow has ever been started.

    {"schema_version": 1, "active": true, "sample_percent": 25.0,
     "candidate_model_version": "m-...", "candidate_source": "function version 3",
     "live_model_version": "m-...", "started_at": "...", "stopped_at": null, "updated_at": "..."}
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from common.layout import SHADOW_CONFIG_KEY

CONFIG_SCHEMA_VERSION = 1
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ShadowConfigError(ValueError):
    """The configuration document is not valid; it names what is wrong."""


@dataclass(frozen=True)
class ShadowConfig:
    active: bool = False
    sample_percent: float = 0.0
    candidate_model_version: str | None = None
    candidate_source: str | None = None
    live_model_version: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    updated_at: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.active, bool):
            raise ShadowConfigError(f"active must be true or false, got {self.active!r}")
        percent = self.sample_percent
        if type(percent) not in (int, float) or not math.isfinite(percent) or not 0 <= percent <= 100:
            raise ShadowConfigError(f"sample_percent must be a number from 0 to 100, got {percent!r}")
        if self.active and (
            not isinstance(self.candidate_model_version, str)
            or _VERSION_RE.fullmatch(self.candidate_model_version) is None
        ):
            raise ShadowConfigError(
                f"an active shadow needs a candidate_model_version, got {self.candidate_model_version!r}"
            )

    @property
    def sample_rate(self) -> float:
        """The share of requests to mirror, 0..1 (0 when inactive)."""
        return float(self.sample_percent) / 100.0 if self.active else 0.0

    def to_json(self) -> str:
        return json.dumps({"schema_version": CONFIG_SCHEMA_VERSION, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> ShadowConfig:
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ShadowConfigError(f"the shadow configuration is not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise ShadowConfigError("the shadow configuration must be a JSON object")
        if document.get("schema_version") != CONFIG_SCHEMA_VERSION:
            raise ShadowConfigError(
                f"schema_version {document.get('schema_version')!r} is not supported "
                f"(expected {CONFIG_SCHEMA_VERSION})"
            )
        known = set(cls.__dataclass_fields__)
        values = {key: value for key, value in document.items() if key in known}
        try:
            return cls(**values)
        except TypeError as exc:
            raise ShadowConfigError(str(exc)) from exc

    def stopped(self, at: str) -> ShadowConfig:
        return replace(self, active=False, stopped_at=at, updated_at=at)


INACTIVE = ShadowConfig()


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key) for one object."""
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise ValueError(f"{uri!r} does not name an object (s3://bucket/key)")
    return bucket, key


# -- the store -------------------------------------------------------------------------------------


class S3Objects(Protocol):
    def get_object(self, *, Bucket: str, Key: str, IfNoneMatch: str = ...) -> Any: ...

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any: ...


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


NOT_MODIFIED = object()


class ShadowConfigStore:
    """Reads and writes the configuration object; `read` supports conditional GETs by ETag."""

    def __init__(self, s3: S3Objects, bucket: str, key: str = SHADOW_CONFIG_KEY) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.key = key

    @classmethod
    def from_uri(cls, s3: S3Objects, uri: str) -> ShadowConfigStore:
        bucket, key = split_s3_uri(uri)
        return cls(s3, bucket, key)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def read(self, *, etag: str | None = None) -> tuple[ShadowConfig, str | None] | object:
        """(config, etag); NOT_MODIFIED when `etag` still matches; INACTIVE when never written."""
        try:
            if etag:
                response = self.s3.get_object(Bucket=self.bucket, Key=self.key, IfNoneMatch=etag)
            else:
                response = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            code = _error_code(exc)
            if code in ("304", "NotModified"):
                return NOT_MODIFIED
            if code in ("NoSuchKey", "404"):
                return INACTIVE, None
            raise
        body = response["Body"].read()
        return ShadowConfig.from_json(body), response.get("ETag")

    def load(self) -> ShadowConfig:
        result = self.read()
        assert isinstance(result, tuple)
        config: ShadowConfig = result[0]
        return config

    def save(self, config: ShadowConfig) -> None:
        self.s3.put_object(
            Bucket=self.bucket, Key=self.key, Body=config.to_json().encode(), ContentType="application/json"
        )


# -- the cache the inference function reads ----------------------------------------------------------


class ShadowConfigCache:
    """The last configuration read, refreshed at most every `ttl_s` by whoever calls `refresh_if_due`
    (the mirror's sender thread). `current` never does I/O: the request thread only reads it."""

    def __init__(
        self,
        store: ShadowConfigStore,
        *,
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._clock = clock
        self.on_error = on_error
        self._current = INACTIVE
        self._etag: str | None = None
        self._next_refresh = 0.0  # due at once
        self._lock = threading.Lock()
        self.loaded = False

    @property
    def current(self) -> ShadowConfig:
        return self._current

    def seconds_until_refresh(self) -> float:
        return max(0.0, self._next_refresh - self._clock())

    def refresh_if_due(self) -> bool:
        if self._clock() < self._next_refresh:
            return False
        self.refresh()
        return True

    def refresh(self) -> ShadowConfig:
        """Read the object now; on failure keep the last known configuration (and report the error)."""
        with self._lock:
            self._next_refresh = self._clock() + self.ttl_s
            try:
                result = self.store.read(etag=self._etag)
            except Exception as exc:
                if self.on_error is not None:
                    self.on_error(exc)
                return self._current
            if isinstance(result, tuple):
                self._current, self._etag = result
            self.loaded = True
            return self._current
