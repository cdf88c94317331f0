"""The local router's alias cache: cached for a TTL, dropped on every write through the front."""

from __future__ import annotations

from typing import Any

from localcloud.router import AliasCache


class FakeAliases:
    def __init__(self) -> None:
        self.version = "1"
        self.reads = 0
        self.during_read: Any = None

    def read(self, function: str, alias: str) -> dict[str, Any]:
        self.reads += 1
        answer = {"FunctionVersion": self.version, "Name": alias}
        if self.during_read is not None:
            self.during_read()
        return answer


def test_an_alias_is_read_once_per_ttl() -> None:
    now = [100.0]
    source = FakeAliases()
    cache = AliasCache(source.read, ttl_s=1.0, clock=lambda: now[0])
    assert cache.get("f", "live")["FunctionVersion"] == "1"
    source.version = "2"  # a write that bypassed the front
    now[0] += 0.5
    assert cache.get("f", "live")["FunctionVersion"] == "1"
    now[0] += 0.6
    assert cache.get("f", "live")["FunctionVersion"] == "2"
    assert source.reads == 2


def test_invalidate_makes_the_next_request_read_the_alias() -> None:
    source = FakeAliases()
    cache = AliasCache(source.read, ttl_s=3600.0)
    cache.get("f", "live")
    source.version = "2"
    cache.invalidate()
    assert cache.get("f", "live")["FunctionVersion"] == "2"


def test_a_read_in_flight_during_an_invalidation_is_not_cached() -> None:
    source = FakeAliases()
    cache = AliasCache(source.read, ttl_s=3600.0)

    def write_lands_meanwhile() -> None:
        source.during_read = None
        source.version = "2"
        cache.invalidate()

    source.during_read = write_lands_meanwhile
    assert cache.get("f", "live")["FunctionVersion"] == "1"  # read before the write landed
    assert cache.get("f", "live")["FunctionVersion"] == "2"  # not served from the cache
    assert source.reads == 2
