"""Every function version's worker pool, one per (function name, version, code directory)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from localcloud.freezer import freeze_enabled_by_default
from localcloud.functions import FunctionSpec, InvocationResult, PoolClosedError
from localcloud.functions.pool import DEFAULT_INIT_TIMEOUT_S, WorkerPool
from localcloud.worker import LogSink

DEFAULT_IDLE_RECLAIM_S = 600.0  # Lambda keeps an idle environment for minutes (not documented exactly)


class FunctionRuntime:
    """Every version's pool, keyed by (function name, version, code directory).

    A spec whose configuration changed (environment, handler, timeout, memory) under the same key
    gets a fresh pool, as Lambda resets environments on a configuration update.

    Idle workers are frozen (`freeze`, default from LOCALCLOUD_FREEZE, on) and a reaper thread shuts
    down those idle for `idle_reclaim_s` (None: never), as Lambda reclaims idle environments.
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
        freeze: bool | None = None,
        idle_reclaim_s: float | None = DEFAULT_IDLE_RECLAIM_S,
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
        self.freeze = freeze_enabled_by_default() if freeze is None else freeze
        self.idle_reclaim_s = idle_reclaim_s
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        if idle_reclaim_s is not None:
            self._reaper = threading.Thread(target=self._reap, name="idle-worker-reaper", daemon=True)
            self._reaper.start()

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
                    freeze=self.freeze,
                )
                self._pools[key] = pool
        if stale is not None:
            stale.close()
        return pool

    def pools(self) -> list[WorkerPool]:
        with self._lock:
            return list(self._pools.values())

    def reclaim_idle(self, idle_for_s: float = 0.0) -> list[int]:
        """Shut down every worker idle for at least `idle_for_s`; returns their pids."""
        return [pid for pool in self.pools() for pid in pool.reclaim_idle(idle_for_s)]

    def logs_drained(self) -> bool:
        """Whether every line any worker has written so far has reached the log sink."""
        return all(pool.logs_drained() for pool in self.pools())

    def wait_logs_drained(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.logs_drained():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def close_function(self, function_name: str, version: str | None = None) -> None:
        """Stop the pools of a deleted function (every version, or one)."""
        with self._lock:
            keys = [k for k in self._pools if k[0] == function_name and version in (None, k[1])]
            pools = [self._pools.pop(key) for key in keys]
        for pool in pools:
            pool.close()

    def close(self) -> None:
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join()
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()

    def _reap(self) -> None:
        assert self.idle_reclaim_s is not None
        interval = min(5.0, max(0.05, self.idle_reclaim_s / 4))
        while not self._stop.wait(interval):
            for pool in self.pools():
                try:
                    pool.reclaim_idle(self.idle_reclaim_s)
                except Exception:
                    continue
