"""Fixtures: a function runtime with log subscriptions over ./log_functions (see support.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.bundling import BundleTarget, install_runtime_provided
from localcloud.functions.runtime import FunctionRuntime
from localcloud.subscriptions.config import subscriptions_from
from localcloud.subscriptions.delivery import LogSubscriptions
from tests.integration.local_runtime.support import BASE_ENV, FIXTURE, LogFunctions, deployment


@pytest.fixture(scope="session")
def runtime_dirs() -> list[Path]:
    return [install_runtime_provided(BundleTarget.host())]


@pytest.fixture
def make_log_functions(runtime_dirs: list[Path], tmp_path: Path) -> Iterator[Callable[..., LogFunctions]]:
    made: list[LogFunctions] = []

    def make(
        *,
        freeze: bool = True,
        environment: dict[str, str] | None = None,
        retries: int | None = None,
        window_s: float = 0.1,
    ) -> LogFunctions:
        code_dir = tmp_path / f"task{len(made)}"
        shutil.copytree(FIXTURE, code_dir)
        holder: dict[str, LogFunctions] = {}
        lines: list[tuple[str, str]] = []
        subscriptions = LogSubscriptions(
            subscriptions_from(deployment(retries=retries)),
            invoke=lambda name, qualifier, event: holder["functions"].invoke(name, event),
            window_s=window_s,
            retry_delays_s=(0.05,),
        ).start()

        def sink(label: str, line: str) -> None:
            lines.append((label, line))
            subscriptions.offer(label, line)

        runtime = FunctionRuntime(
            runtime_dirs=runtime_dirs, base_env=BASE_ENV, log_sink=sink, freeze=freeze, idle_reclaim_s=None
        )
        out = tmp_path / f"out{len(made)}.jsonl"
        functions = LogFunctions(runtime, subscriptions, code_dir, out, lines, dict(environment or {}))
        holder["functions"] = functions
        made.append(functions)
        return functions

    yield make
    for functions in made:
        functions.subscriptions.stop(timeout_s=5)
        functions.runtime.close()
