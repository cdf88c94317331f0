"""Sticky routing: one routing key, one function version, for as long as the alias's weights hold.

Lambda's alias draws a version at random for every invocation (`AdditionalVersionWeights`), so a
canary at 10% shows one user both models. A client that sends a routing key (the header named by
`ROUTING_KEY_HEADER`, e.g. `X-Routing-Key: <user id>`) is pinned instead: the key's SHA-256 gives a
point in [0, 1), placed into the alias's split (the extra versions first, in version order, each
over its weight; the primary version over the rest). The version the alias chose answers itself
when the point falls in its own share; otherwise it re-invokes the key's version by its number
(`Invoke` with `Qualifier=<version>`) and returns that answer unchanged, with
`X-Routing-Forwarded-From` naming the hop. Requests without a key, requests that name a version
(no alias in the invoked ARN) and forwarded requests are served where they landed, as before.

Raising a canary's weight only moves keys from the primary to the canary (the canary's share
grows from 0), and a key never flips back while the weight grows. The alias's routing is read with
`GetAlias` and kept for `ROUTING_ALIAS_TTL_SECONDS`; a failed read or a failed hop is served where
the request landed (fail-open) and counted (`StickyFallbacks`; when the key's version itself
crashed or timed out, also `InternalErrors` under that version, which its release gate reads); a
hop is counted as `StickyForwards` by the version that forwarded it. docs/routing.md has the costs
and how pinned traffic counts in the release gates.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
Invoke = Callable[[str, str, bytes], bytes]
"""(function name, version, event JSON) -> the version's response payload; raises on a failure."""

ROUTING_KEY_HEADER_ENV = "ROUTING_KEY_HEADER"
ROUTING_TTL_ENV = "ROUTING_ALIAS_TTL_SECONDS"
FORWARDED_HEADER = "X-Routing-Forwarded-From"
DEFAULT_TTL_S = 5.0
_SCALE = float(1 << 64)


class VersionFailedError(RuntimeError):
    """The key's version ran and failed (a crash, a timeout, an init error: Lambda's FunctionError)."""


def key_point(key: str) -> float:
    """The key's place in [0, 1): the first 8 bytes of its SHA-256, uniform over keys."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / _SCALE


@dataclass(frozen=True)
class AliasSplit:
    """An alias's routing: the primary version and the extra versions' weights (0..1)."""

    primary: str
    weights: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_alias(cls, answer: Mapping[str, Any]) -> AliasSplit:
        """From a `GetAlias` answer (its `FunctionVersion` and `RoutingConfig`)."""
        extra = (answer.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        ordered = sorted(((str(v), float(w)) for v, w in extra.items()), key=lambda item: _order(item[0]))
        return cls(primary=str(answer["FunctionVersion"]), weights=tuple(ordered))

    def version_for(self, key: str) -> str:
        """The version that serves `key`: the same for the same key while the weights hold."""
        point = key_point(key)
        cumulative = 0.0
        for version, weight in self.weights:
            cumulative += weight
            if point < cumulative:
                return version
        return self.primary


def _order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)


class AliasSplitCache:
    """(function, alias) -> `AliasSplit`, read at most every `ttl_s`; None while it cannot be read."""

    def __init__(
        self,
        read: Callable[[str, str], Mapping[str, Any]],
        *,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, AliasSplit | None]] = {}
        self._lock = threading.Lock()

    def get(self, function: str, alias: str) -> AliasSplit | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get((function, alias))
        if entry is not None and entry[0] > now:
            return entry[1]
        try:
            split: AliasSplit | None = AliasSplit.from_alias(self._read(function, alias))
        except Exception:  # fail-open: served where it landed until the next read
            split = None
        with self._lock:
            self._entries[(function, alias)] = (now + self.ttl_s, split)
        return split

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def routing_key(event: Mapping[str, Any], header: str) -> str | None:
    """The request's routing key (header names compare case-insensitively), or None."""
    wanted = header.lower()
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == wanted and value:
            return str(value)
    return None


def invoked_alias(invoked_function_arn: str) -> str | None:
    """The alias in an invoked ARN (`...:function:name:live`), or None for a version or no qualifier."""
    parts = invoked_function_arn.split(":")
    if len(parts) < 8:
        return None
    qualifier = parts[7]
    return None if qualifier.isdigit() or qualifier == "$LATEST" else qualifier


class StickyRouter:
    """Wraps the API's handler: serves a keyed request here or forwards it to the key's version."""

    def __init__(
        self,
        serve: Handler,
        *,
        header: str,
        splits: AliasSplitCache,
        invoke: Invoke,
        count: Callable[[str, str], None] = lambda name, version: None,
        drop_connections: Callable[[], None] = lambda: None,
    ) -> None:
        self.serve = serve
        self.header = header
        self.splits = splits
        self.invoke = invoke
        self.count = count
        self._drop_connections = drop_connections

    def reset(self) -> None:
        """Forget the cached alias routing and the Lambda client (after a SnapStart restore: the
        weights may have changed since the snapshot, and its connections are gone)."""
        self.splits.clear()
        self._drop_connections()

    def target(self, event: Mapping[str, Any], context: Any) -> str | None:
        """The version this request must reach, when it is not the one running it; else None."""
        key = routing_key(event, self.header)
        if key is None or routing_key(event, FORWARDED_HEADER) is not None:
            return None
        alias = invoked_alias(str(getattr(context, "invoked_function_arn", "")))
        if alias is None:
            return None
        split = self.splits.get(context.function_name, alias)
        if split is None:
            self.count("StickyFallbacks", context.function_version)
            return None
        version = split.version_for(key)
        return None if version == context.function_version else version

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        version = self.target(event, context)
        if version is None:
            return self.serve(event, context)
        own = str(context.function_version)
        try:
            answer = self._forward(event, context.function_name, version, own)
        except Exception as exc:  # the key's version failed or could not be reached: answer here
            self.count("StickyFallbacks", own)
            if isinstance(exc, VersionFailedError):
                # Lambda records this failure under the version's own resource, not the alias's,
                # where the release gates do not look: count it as the version's internal error.
                self.count("InternalErrors", version)
            return self.serve(event, context)
        self.count("StickyForwards", own)
        return answer

    def _forward(self, event: dict[str, Any], function: str, version: str, own: str) -> dict[str, Any]:
        headers = {**(event.get("headers") or {}), FORWARDED_HEADER: own}
        forwarded = {**event, "headers": headers}
        if event.get("multiValueHeaders") is not None:
            forwarded["multiValueHeaders"] = {**event["multiValueHeaders"], FORWARDED_HEADER: [own]}
        answer: dict[str, Any] = json.loads(self.invoke(function, version, json.dumps(forwarded).encode()))
        if not isinstance(answer, dict) or "statusCode" not in answer:
            raise ValueError(f"version {version} gave no proxy response")
        if isinstance(answer.get("multiValueHeaders"), dict):
            answer["multiValueHeaders"][FORWARDED_HEADER] = [own]
        else:
            answer["headers"] = {**(answer.get("headers") or {}), FORWARDED_HEADER: own}
        return answer


def lambda_invoker(client: Any) -> Invoke:
    """`Invoke` through a boto3 Lambda client; a function error or a non-200 status raises."""

    def invoke(function: str, version: str, payload: bytes) -> bytes:
        response = client.invoke(FunctionName=function, Qualifier=version, Payload=payload)
        if response.get("FunctionError"):
            raise VersionFailedError(f"version {version} failed: {response['FunctionError']}")
        if response.get("StatusCode") != 200:
            raise RuntimeError(f"version {version} answered status {response.get('StatusCode')}")
        body: bytes = response["Payload"].read()
        return body

    return invoke


def sticky_from_environment(
    serve: Handler,
    environ: Mapping[str, str],
    *,
    count: Callable[[str, str], None] = lambda name, version: None,
    client: Any = None,
) -> Handler:
    """`serve` wrapped in a `StickyRouter` when `ROUTING_KEY_HEADER` names a header; else `serve`.

    The Lambda client (boto3, provided by the runtime) is created on the first keyed request, so a
    function that never sees one never imports it."""
    header = environ.get(ROUTING_KEY_HEADER_ENV, "").strip()
    if not header:
        return serve
    ttl_s = float(environ.get(ROUTING_TTL_ENV) or DEFAULT_TTL_S)
    clients: list[Any] = [client] if client is not None else []

    def lambda_client() -> Any:
        if not clients:
            import boto3
            from botocore.config import Config

            config = Config(connect_timeout=2, read_timeout=30, retries={"max_attempts": 0})
            clients.append(boto3.client("lambda", config=config))
        return clients[0]

    def read(function: str, alias: str) -> Mapping[str, Any]:
        answer: Mapping[str, Any] = lambda_client().get_alias(FunctionName=function, Name=alias)
        return answer

    def invoke(function: str, version: str, payload: bytes) -> bytes:
        return lambda_invoker(lambda_client())(function, version, payload)

    return StickyRouter(
        serve,
        header=header,
        splits=AliasSplitCache(read, ttl_s=ttl_s),
        invoke=invoke,
        count=count,
        drop_connections=clients.clear,
    )


def emf_counter(namespace: str, service: str, stream: TextIO | None = None) -> Callable[[str, str], None]:
    """count(name, function version): one EMF line with that count, on the function's stdout."""
    from inference.log_lines import EmfMetrics, LineWriter

    metrics = EmfMetrics(namespace=namespace, service=service)
    writer = LineWriter(stream if stream is not None else sys.stdout)
    bound = [""]

    def count(name: str, version: str) -> None:
        if bound[0] != version:
            metrics.bind_function_version(version)
            bound[0] = version
        writer.write(metrics.render([(name, "Count", 1.0)]))

    return count
