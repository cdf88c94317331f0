"""Lambda's Invoke, locally: resolve a qualifier (alias or version) to a version, then run it.

An alias's routing is cached (`AliasCache`): every moto call costs a TLS handshake (moto closes
its connections) plus its dispatch, too much to pay on every request (docs/local-cloud.md). Every
write that passes through the local Lambda API (`LambdaFront`: UpdateAlias, CreateAlias,
DeleteAlias, PublishVersion, ...; `modelctl`, boto3 in tests and the local cloud's own client all
go through it) drops the cache before the write's answer is returned, so a weight change or a
rollback takes effect on the very next request, as on Lambda. A short TTL bounds the
staleness of a write that reaches moto some other way. A version's configuration is immutable
once published, so it is read once and cached.
"""

from __future__ import annotations

import base64
import hashlib
import random
import ssl
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from localcloud.aws import AwsClients
from localcloud.functions import SNAP_START_TAG, FunctionSpec, InvocationResult
from localcloud.functions.runtime import FunctionRuntime


@dataclass(frozen=True)
class RoutedInvocation:
    qualifier: str
    result: InvocationResult


class CodeStore:
    """Maps a version's CodeSha256 to an unpacked bundle directory on disk."""

    def __init__(self, root: Path, *, cafile: Path | None = None) -> None:
        self.root = root
        self.cafile = cafile
        self._known: dict[str, Path] = {}
        self._lock = threading.Lock()

    def register(self, code_sha256: str, directory: Path) -> None:
        with self._lock:
            self._known[code_sha256] = directory

    def directory_for(self, code_sha256: str, location: str | None) -> Path:
        with self._lock:
            known = self._known.get(code_sha256)
        if known is not None:
            return known
        if not location:
            raise LookupError(f"no bundle is known for code {code_sha256} and moto gave no download location")
        target = self.root / hashlib.sha256(code_sha256.encode()).hexdigest()[:16]
        if not target.is_dir():
            archive = target.with_suffix(".zip")
            target.parent.mkdir(parents=True, exist_ok=True)
            context = ssl.create_default_context(cafile=str(self.cafile)) if self.cafile else None
            with urlopen(location, timeout=60, context=context) as response:
                archive.write_bytes(response.read())
            digest = base64.b64encode(hashlib.sha256(archive.read_bytes()).digest()).decode()
            if digest != code_sha256:
                raise LookupError(f"downloaded code has sha256 {digest}, expected {code_sha256}")
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(target)
            archive.unlink()
        self.register(code_sha256, target)
        return target


ALIAS_TTL_S = 1.0


def snap_start_of(get_function: dict[str, Any]) -> bool:
    """Whether a GetFunction answer's versions take a SnapStart snapshot (the tag, or SnapStart)."""
    applied = get_function["Configuration"].get("SnapStart", {}).get("ApplyOn")
    tagged = (get_function.get("Tags") or {}).get(SNAP_START_TAG)
    return "PublishedVersions" in (applied, tagged)


class AliasCache:
    """(function, alias) -> GetAlias answer, for at most `ttl_s`, dropped by `invalidate`.

    A read that was in flight when an invalidation happened is not stored (the generation
    changed): it may predate the write, and must not outlive it in the cache."""

    def __init__(
        self,
        read: Callable[[str, str], dict[str, Any]],
        *,
        ttl_s: float = ALIAS_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._generation = 0
        self._lock = threading.Lock()
        self.reads = 0

    def get(self, function: str, alias: str) -> dict[str, Any]:
        key = (function, alias)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return entry[1]
            generation = self._generation
        answer = self._read(function, alias)
        with self._lock:
            self.reads += 1
            if self._generation == generation:
                self._entries[key] = (now + self.ttl_s, answer)
        return answer

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


class LambdaRouter:
    def __init__(
        self,
        clients: AwsClients,
        runtime: FunctionRuntime,
        code_store: CodeStore,
        *,
        rng: random.Random | None = None,
        on_invocation: Callable[..., None] | None = None,
        alias_ttl_s: float = ALIAS_TTL_S,
    ) -> None:
        self.on_invocation = on_invocation
        self.clients = clients
        self.runtime = runtime
        self.code_store = code_store
        self.rng = rng or random.Random()
        self._specs: dict[tuple[str, str], FunctionSpec] = {}
        self._lock = threading.Lock()
        self.aliases = AliasCache(self._get_alias, ttl_s=alias_ttl_s)

    def _get_alias(self, function: str, alias: str) -> dict[str, Any]:
        return dict(self.clients.lambda_.get_alias(FunctionName=function, Name=alias))

    def choose_version(self, function: str, qualifier: str) -> str:
        if qualifier == "$LATEST" or qualifier.isdigit():
            return qualifier
        alias = self.aliases.get(function, qualifier)
        weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
        draw = self.rng.random()
        cumulative = 0.0
        for version, weight in weights.items():
            cumulative += float(weight)
            if draw < cumulative:
                return str(version)
        return str(alias["FunctionVersion"])

    def spec(self, function: str, version: str) -> FunctionSpec:
        key = (function, version)
        with self._lock:
            cached = self._specs.get(key)
        if cached is not None:
            return cached
        response: dict[str, Any] = dict(
            self.clients.lambda_.get_function(FunctionName=function, Qualifier=version)
        )
        configuration = response["Configuration"]
        code_dir = self.code_store.directory_for(
            configuration["CodeSha256"], response.get("Code", {}).get("Location")
        )
        spec = FunctionSpec(
            function_name=configuration["FunctionName"],
            version=configuration["Version"],
            handler=configuration["Handler"],
            code_dir=code_dir,
            environment=dict(configuration.get("Environment", {}).get("Variables", {})),
            timeout_s=float(configuration.get("Timeout", 3)),
            memory_mb=int(configuration.get("MemorySize", 128)),
            function_arn=configuration["FunctionArn"].rsplit(":", 1)[0]
            if configuration["FunctionArn"].count(":") > 6
            else configuration["FunctionArn"],
            snap_start=version != "$LATEST" and snap_start_of(response),
        )
        if version != "$LATEST":
            with self._lock:
                self._specs[key] = spec
        return spec

    def invoke(self, function: str, qualifier: str, event: bytes) -> RoutedInvocation:
        version = self.choose_version(function, qualifier)
        spec = self.spec(function, version)
        result = self.runtime.invoke(spec, event, invoked_qualifier=qualifier)
        if self.on_invocation is not None:
            self.on_invocation(
                function=spec.function_name,
                qualifier=qualifier,
                executed_version=result.executed_version,
                duration_ms=result.duration_ms,
                error=result.status != "ok",
            )
        return RoutedInvocation(qualifier=qualifier, result=result)
