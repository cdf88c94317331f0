"""Every function version's worker pool, one per (function name, version, code directory)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from localcloud.functions import FunctionSpec, InvocationResult, PoolClosedError
from localcloud.functions.pool import DEFAULT_INIT_TIMEOUT_S, WorkerPool
from localcloud.worker import LogSink


class FunctionRuntime:
    """Every version's pool, keyed by (function name, version, code directory).

    A spec whose configuration changed (environment, handler, timeout, memory) under the same key
    gets a fresh pool, as Lambda resets environments on a configuration update.
    """

    def __init__(
        self,
        *,
        runtime_dirs: Sequence[Path],
        base_env: Mapping[str, str],
        max_workers_per_version: int = 4,
        log_sink: LogSink | None = None,
        init_timeout_s: float = DEFAULT_INIT_TIMEOUT_S,
        pycache_dir: Path | None = None,
    ) -> None:
        self._runtime_dirs = list(runtime_dirs)
        self._base_env = dict(base_env)
        self._max_workers = max_workers_per_version
        self._log_sink = log_sink
        self._init_timeout_s = init_timeout_s
        self._pycache_dir = pycache_dir
        self._pools: dict[tuple[str, str, Path], WorkerPool] = {}
        self._lock = threading.Lock()
        self._closed = False

    def invoke(
        self,
        spec: FunctionSpec,
        event: bytes,
        *,
        invoked_qualifier: str | None = None,
        client_context: str | None = None,
    ) -> InvocationResult:
        return self.pool(spec).invoke(
            event, invoked_qualifier=invoked_qualifier, client_context=client_context
        )

    def pool(self, spec: FunctionSpec) -> WorkerPool:
        key = (spec.function_name, spec.version, spec.code_dir.resolve())
        stale: WorkerPool | None = None
        with self._lock:
            if self._closed:
                raise PoolClosedError("the function runtime is closed")
            pool = self._pools.get(key)
            if pool is None or pool.spec != spec:
                stale = pool
                pool = WorkerPool(
                    spec,
                    runtime_dirs=self._runtime_dirs,
                    base_env=self._base_env,
                    max_workers=self._max_workers,
                    log_sink=self._log_sink,
                    init_timeout_s=self._init_timeout_s,
                    pycache_dir=self._pycache_dir,
                )
                self._pools[key] = pool
        if stale is not None:
            stale.close()
        return pool

    def pools(self) -> list[WorkerPool]:
        with self._lock:
            return list(self._pools.values())

    def close_function(self, function_name: str, version: str | None = None) -> None:
        """Stop the pools of a deleted function (every version, or one)."""
        with self._lock:
            keys = [k for k in self._pools if k[0] == function_name and version in (None, k[1])]
            pools = [self._pools.pop(key) for key in keys]
        for pool in pools:
            pool.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()
