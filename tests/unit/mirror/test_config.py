"""The active shadow configuration: validation, the S3 store and the inference function's TTL cache."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError

from common.mirror.config import (
    INACTIVE,
    NOT_MODIFIED,
    ShadowConfig,
    ShadowConfigCache,
    ShadowConfigError,
    ShadowConfigStore,
    split_s3_uri,
)

ACTIVE = ShadowConfig(active=True, sample_percent=25.0, candidate_model_version="m-cand")


class FakeS3:
    """get_object/put_object on a dict, with ETags and If-None-Match like S3."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.gets = 0
        self.fail: Exception | None = None

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any:
        self.objects[f"{Bucket}/{Key}"] = Body

    def get_object(self, *, Bucket: str, Key: str, IfNoneMatch: str = "") -> Any:
        self.gets += 1
        if self.fail is not None:
            raise self.fail
        body = self.objects.get(f"{Bucket}/{Key}")
        if body is None:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "no"}}, "GetObject")
        etag = f'"{hash(body)}"'
        if IfNoneMatch == etag:
            raise ClientError({"Error": {"Code": "304", "Message": "Not Modified"}}, "GetObject")
        return {"Body": io.BytesIO(body), "ETag": etag}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sample_rate_is_zero_when_inactive() -> None:
    assert ACTIVE.sample_rate == 0.25
    assert ShadowConfig(active=False, sample_percent=50, candidate_model_version="m").sample_rate == 0.0
    assert INACTIVE.sample_rate == 0.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"active": "yes"}, "active must be true or false"),
        ({"sample_percent": 101}, "sample_percent must be a number from 0 to 100"),
        ({"sample_percent": True}, "sample_percent must be a number"),
        ({"sample_percent": float("nan")}, "sample_percent must be a number"),
        ({"active": True, "sample_percent": 5}, "an active shadow needs a candidate_model_version"),
        ({"active": True, "candidate_model_version": "../../etc"}, "an active shadow needs"),
    ],
)
def test_invalid_configurations_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ShadowConfigError, match=message):
        ShadowConfig(**values)


def test_json_round_trip_and_schema_check() -> None:
    assert ShadowConfig.from_json(ACTIVE.to_json()) == ACTIVE
    with pytest.raises(ShadowConfigError, match="schema_version"):
        ShadowConfig.from_json('{"active": false}')
    with pytest.raises(ShadowConfigError, match="not JSON"):
        ShadowConfig.from_json("{")


def test_stopping_keeps_the_history() -> None:
    stopped = ACTIVE.stopped("2026-01-02T13:00:00.000Z")
    assert (stopped.active, stopped.candidate_model_version, stopped.stopped_at) == (
        False,
        "m-cand",
        "2026-01-02T13:00:00.000Z",
    )


def test_store_reads_what_it_wrote_and_never_written_is_inactive() -> None:
    s3 = FakeS3()
    store = ShadowConfigStore.from_uri(s3, "s3://logs/control/shadow.json")
    assert store.load() == INACTIVE
    store.save(ACTIVE)
    result = store.read()
    assert isinstance(result, tuple)
    config, etag = result
    assert config == ACTIVE and etag
    assert store.read(etag=etag) is NOT_MODIFIED


def test_split_s3_uri() -> None:
    assert split_s3_uri("s3://b/control/shadow.json") == ("b", "control/shadow.json")
    for bad in ("b/key", "s3://b", "s3://b/prefix/"):
        with pytest.raises(ValueError):
            split_s3_uri(bad)


def test_cache_reads_at_most_once_per_ttl_and_never_on_current() -> None:
    s3, clock = FakeS3(), Clock()
    store = ShadowConfigStore(s3, "logs")
    store.save(ACTIVE)
    cache = ShadowConfigCache(store, ttl_s=5.0, clock=clock)
    assert cache.current == INACTIVE and s3.gets == 0  # nothing read until the sender thread refreshes
    assert cache.refresh_if_due() and cache.current == ACTIVE
    for _ in range(100):
        assert cache.current == ACTIVE
    clock.now += 4.9
    assert not cache.refresh_if_due()
    assert s3.gets == 1
    store.save(ACTIVE.stopped("2026-01-02T13:00:00.000Z"))
    clock.now += 0.2
    assert cache.refresh_if_due() and not cache.current.active
    clock.now += 5.1
    assert cache.refresh_if_due() and s3.gets == 3  # 304: kept as it is
    assert not cache.current.active


def test_a_failed_read_keeps_the_last_known_configuration_and_reports() -> None:
    s3, clock = FakeS3(), Clock()
    store = ShadowConfigStore(s3, "logs")
    store.save(ACTIVE)
    errors: list[Exception] = []
    cache = ShadowConfigCache(store, ttl_s=5.0, clock=clock, on_error=errors.append)
    cache.refresh()
    s3.fail = TimeoutError("read timeout")
    clock.now += 10
    assert cache.refresh() == ACTIVE
    assert [type(e) for e in errors] == [TimeoutError]
    assert cache.seconds_until_refresh() == 5.0
