"""Sticky routing: the key's version from the alias's split, and the hop to it (inference.sticky)."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from inference.sticky import (
    FORWARDED_HEADER,
    AliasSplit,
    AliasSplitCache,
    StickyRouter,
    VersionFailedError,
    emf_counter,
    invoked_alias,
    key_point,
    lambda_invoker,
    routing_key,
    sticky_from_environment,
)

FUNCTION = "inference-fn"
ALIAS_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:live"


@dataclass
class Context:
    function_version: str
    invoked_function_arn: str = ALIAS_ARN
    function_name: str = FUNCTION
    aws_request_id: str = "req"


def alias_answer(primary: str, weights: dict[str, float]) -> dict[str, Any]:
    return {"FunctionVersion": primary, "RoutingConfig": {"AdditionalVersionWeights": weights}}


def answered_by(version: str) -> dict[str, Any]:
    return {"statusCode": 200, "multiValueHeaders": {"X-Function-Version": [version]}}


def event(key: str | None = None, **headers: str) -> dict[str, Any]:
    all_headers = {**({"X-Routing-Key": key} if key is not None else {}), **headers}
    return {"httpMethod": "POST", "path": "/predict", "headers": all_headers, "body": "{}"}


class Fleet:
    """Two versions behind one alias: the alias draws a version by its weights (as Lambda does),
    and that version's router serves or forwards through `invoke` to the other one."""

    def __init__(self, primary: str, weights: dict[str, float], seed: int = 7) -> None:
        self.answer = alias_answer(primary, weights)
        self.weights = weights
        self.primary = primary
        self.rng = random.Random(seed)
        self.counts: list[tuple[str, str]] = []
        self.hops = 0
        versions = [primary, *weights]
        self.routers = {v: self._router(v) for v in versions}

    def _router(self, version: str) -> StickyRouter:
        def serve(evt: dict[str, Any], context: Any) -> dict[str, Any]:
            return answered_by(context.function_version)

        return StickyRouter(
            serve,
            header="X-Routing-Key",
            splits=AliasSplitCache(lambda f, a: self.answer, ttl_s=60),
            invoke=self._invoke,
            count=lambda name, v: self.counts.append((name, v)),
        )

    def _invoke(self, function: str, version: str, payload: bytes) -> bytes:
        self.hops += 1
        context = Context(function_version=version, invoked_function_arn=f"{ALIAS_ARN[:-5]}:{version}")
        return json.dumps(self.routers[version](json.loads(payload), context)).encode()

    def alias_draw(self) -> str:
        draw, cumulative = self.rng.random(), 0.0
        for version, weight in self.weights.items():
            cumulative += weight
            if draw < cumulative:
                return version
        return self.primary

    def request(self, key: str | None) -> str:
        landed = self.alias_draw()
        answer = self.routers[landed](event(key), Context(function_version=landed))
        return str(answer["multiValueHeaders"]["X-Function-Version"][0])


def test_the_same_key_reaches_the_same_version_on_10000_requests() -> None:
    # GIVEN a canary at 30% WHEN one key sends 10,000 requests THEN one version answers them all
    fleet = Fleet("1", {"2": 0.3})
    for key in ("user-17", "user-18", "alice@example.com"):
        served = {fleet.request(key) for _ in range(10_000)}
        assert served == {AliasSplit.from_alias(fleet.answer).version_for(key)}
    assert fleet.hops > 0  # the alias did land keys on the other version: they were forwarded


@pytest.mark.parametrize("weight", [0.05, 0.1, 0.3, 0.5, 0.9])
def test_10000_distinct_keys_split_within_one_point_of_the_weight(weight: float) -> None:
    split = AliasSplit.from_alias(alias_answer("1", {"2": weight}))
    on_canary = sum(split.version_for(f"user-{i}") == "2" for i in range(10_000))
    assert abs(on_canary / 10_000 - weight) <= 0.01


def test_10000_distinct_keys_through_the_fleet_split_within_one_point() -> None:
    fleet = Fleet("4", {"5": 0.2})
    served = [fleet.request(f"customer-{i}") for i in range(10_000)]
    assert abs(served.count("5") / 10_000 - 0.2) <= 0.01


def test_requests_without_a_key_are_weighted_as_the_alias_draws_them() -> None:
    fleet = Fleet("1", {"2": 0.3})
    served = [fleet.request(None) for _ in range(10_000)]
    assert fleet.hops == 0
    assert abs(served.count("2") / 10_000 - 0.3) <= 0.02


def test_raising_the_weight_only_moves_keys_onto_the_canary() -> None:
    keys = [f"k{i}" for i in range(5_000)]
    at_10 = AliasSplit.from_alias(alias_answer("1", {"2": 0.1}))
    at_50 = AliasSplit.from_alias(alias_answer("1", {"2": 0.5}))
    moved_back = [k for k in keys if at_10.version_for(k) == "2" and at_50.version_for(k) != "2"]
    assert moved_back == []


def test_without_a_canary_every_key_goes_to_the_primary() -> None:
    split = AliasSplit.from_alias({"FunctionVersion": "3"})
    assert {split.version_for(f"u{i}") for i in range(1000)} == {"3"}


def test_key_points_are_stable_and_in_the_unit_interval() -> None:
    assert key_point("user-1") == key_point("user-1")
    assert all(0.0 <= key_point(str(i)) < 1.0 for i in range(1000))


def test_header_names_compare_case_insensitively() -> None:
    assert routing_key({"headers": {"x-routing-key": "u1"}}, "X-Routing-Key") == "u1"
    assert routing_key({"headers": {"X-Routing-Key": ""}}, "X-Routing-Key") is None
    assert routing_key({"headers": None}, "X-Routing-Key") is None


def test_only_an_alias_invocation_is_routed() -> None:
    assert invoked_alias(ALIAS_ARN) == "live"
    assert invoked_alias(ALIAS_ARN.replace(":live", ":7")) is None
    assert invoked_alias(ALIAS_ARN.replace(":live", "")) is None


def router_for(
    answer: dict[str, Any] | Exception, invoke: Callable[[str, str, bytes], bytes]
) -> tuple[StickyRouter, list[tuple[str, str]], list[dict[str, Any]]]:
    counts: list[tuple[str, str]] = []
    served: list[dict[str, Any]] = []

    def read(function: str, alias: str) -> dict[str, Any]:
        if isinstance(answer, Exception):
            raise answer
        return answer

    def serve(evt: dict[str, Any], context: Any) -> dict[str, Any]:
        served.append(evt)
        return answered_by(context.function_version)

    router = StickyRouter(
        serve,
        header="X-Routing-Key",
        splits=AliasSplitCache(read),
        invoke=invoke,
        count=lambda name, v: counts.append((name, v)),
    )
    return router, counts, served


def a_key_on(split: AliasSplit, version: str) -> str:
    return next(k for k in (f"key-{i}" for i in range(10_000)) if split.version_for(k) == version)


def test_a_forward_carries_the_marker_and_the_answer_names_the_hop() -> None:
    sent: list[tuple[str, str, dict[str, Any]]] = []

    def invoke(function: str, version: str, payload: bytes) -> bytes:
        sent.append((function, version, json.loads(payload)))
        return json.dumps(answered_by(version)).encode()

    answer = alias_answer("1", {"2": 0.5})
    router, counts, served = router_for(answer, invoke)
    key = a_key_on(AliasSplit.from_alias(answer), "2")
    response = router(event(key), Context(function_version="1"))
    assert served == []
    assert [(f, v) for f, v, _ in sent] == [(FUNCTION, "2")]
    assert sent[0][2]["headers"][FORWARDED_HEADER] == "1"
    assert response["multiValueHeaders"]["X-Function-Version"] == ["2"]
    assert response["multiValueHeaders"][FORWARDED_HEADER] == ["1"]
    assert counts == [("StickyForwards", "1")]


def test_a_forwarded_request_is_served_where_it_arrives() -> None:
    answer = alias_answer("1", {"2": 0.5})
    router, _, served = router_for(answer, lambda f, v, p: pytest.fail("forwarded twice"))
    key = a_key_on(AliasSplit.from_alias(answer), "2")
    router(event(key, **{FORWARDED_HEADER: "2"}), Context(function_version="1"))
    assert len(served) == 1


def test_a_version_pinned_invocation_is_never_forwarded() -> None:
    answer = alias_answer("1", {"2": 0.5})
    router, _, served = router_for(answer, lambda f, v, p: pytest.fail("forwarded"))
    key = a_key_on(AliasSplit.from_alias(answer), "2")
    router(event(key), Context(function_version="1", invoked_function_arn=ALIAS_ARN.replace(":live", ":1")))
    assert len(served) == 1


def test_a_failed_hop_is_answered_here_and_counted() -> None:
    def invoke(function: str, version: str, payload: bytes) -> bytes:
        raise RuntimeError("version 2 failed: Unhandled")

    answer = alias_answer("1", {"2": 0.5})
    router, counts, served = router_for(answer, invoke)
    key = a_key_on(AliasSplit.from_alias(answer), "2")
    response = router(event(key), Context(function_version="1"))
    assert response["multiValueHeaders"]["X-Function-Version"] == ["1"] and len(served) == 1
    assert counts == [("StickyFallbacks", "1")]


def test_an_unreadable_alias_is_answered_here_and_counted() -> None:
    router, counts, served = router_for(RuntimeError("AccessDenied"), lambda f, v, p: b"")
    router(event("u1"), Context(function_version="1"))
    assert len(served) == 1 and counts == [("StickyFallbacks", "1")]


def test_the_alias_is_read_once_per_ttl() -> None:
    reads: list[str] = []
    now = [0.0]

    def read(function: str, alias: str) -> dict[str, Any]:
        reads.append(alias)
        return alias_answer("1", {})

    cache = AliasSplitCache(read, ttl_s=5.0, clock=lambda: now[0])
    for _ in range(100):
        cache.get(FUNCTION, "live")
    now[0] = 5.1
    cache.get(FUNCTION, "live")
    assert reads == ["live", "live"]


def test_unset_header_leaves_the_handler_unwrapped() -> None:
    def serve(evt: dict[str, Any], context: Any) -> dict[str, Any]:
        return {}

    assert sticky_from_environment(serve, {}) is serve
    assert isinstance(sticky_from_environment(serve, {"ROUTING_KEY_HEADER": "X-User"}), StickyRouter)


def test_counts_are_emf_lines_keyed_by_the_forwarding_version() -> None:
    stream = io.StringIO()
    count = emf_counter("ModelServing", "inference", stream)
    count("StickyForwards", "3")
    line = json.loads(stream.getvalue())
    assert line["StickyForwards"] == [1.0] and line["FunctionVersion"] == "3"
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ModelServing"


def test_a_crash_of_the_keys_version_counts_as_its_internal_error() -> None:
    def invoke(function: str, version: str, payload: bytes) -> bytes:
        raise VersionFailedError("version 2 failed: Unhandled")

    answer = alias_answer("1", {"2": 0.5})
    router, counts, served = router_for(answer, invoke)
    key = a_key_on(AliasSplit.from_alias(answer), "2")
    router(event(key), Context(function_version="1"))
    assert len(served) == 1 and counts == [("StickyFallbacks", "1"), ("InternalErrors", "2")]


class FakeLambda:
    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return self.response


def test_the_invoker_names_the_version_and_tells_a_crash_from_other_failures() -> None:
    ok = FakeLambda({"StatusCode": 200, "Payload": io.BytesIO(b'{"statusCode": 200}')})
    assert lambda_invoker(ok)(FUNCTION, "2", b"{}") == b'{"statusCode": 200}'
    assert ok.calls == [{"FunctionName": FUNCTION, "Qualifier": "2", "Payload": b"{}"}]
    crashed = FakeLambda({"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(b"{}")})
    with pytest.raises(VersionFailedError):
        lambda_invoker(crashed)(FUNCTION, "2", b"{}")
    with pytest.raises(RuntimeError, match="status 429"):
        lambda_invoker(FakeLambda({"StatusCode": 429}))(FUNCTION, "2", b"{}")
