"""Rollback: from the alias update to the first request served by the old version, local cloud.

A second version of the serving function is published (same code and model, one extra
environment variable, so Lambda semantics give it a new version number). Each trial puts all of
`live` on the new version, lets traffic reach it, then rolls back while two keep-alive clients
send requests back to back through the gateway:

- `UpdateAlias` (boto3): the one call a rollback is; timed from the call to the first response
  served by the old version. Also counted: responses from the new version to requests sent after
  the call returned (`stale`: must be 0, the alias is read on every request).
- `modelctl rollback --to OLD` (the release CLI, as an operator runs it): timed from the command's
  start, so it includes the CLI's own start-up. Skipped, with the reason, while the CLI lacks it.

The issue's target: one API call, <= 1 s.
"""

from __future__ import annotations

import compileall
import importlib
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.core import REPO_ROOT, BenchResult, Measurement, Summary, judge, log, now_iso
from bench.gateway import KeepAliveClient
from bench.model import served_artifact_dir
from bench.suite import Suite
from common.layout import METADATA_FILE

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

NAME = "rollback"
TITLE = "rollback to the first request served by the old version"
TARGET_S = 1.0
CLIENTS = 2


def modelctl_rollback_missing() -> str | None:
    """Why `modelctl rollback` cannot be benchmarked yet, or None when it can."""
    try:
        cli = importlib.import_module("modelctl.cli")
    except Exception as exc:  # a CLI mid-change may fail to import at all
        return f"modelctl.cli does not import ({type(exc).__name__}: {exc})"
    names = {
        command.name or getattr(command.callback, "__name__", "")
        for command in getattr(cli.app, "registered_commands", [])
    }
    return None if "rollback" in names else "modelctl has no `rollback` command"


@dataclass
class Traffic:
    """Requests sent back to back by a few clients: (sent, answered, function version)."""

    url: str
    key: str
    body: bytes
    records: list[tuple[float, float, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, clients: int) -> None:
        for _ in range(clients):
            thread = threading.Thread(target=self._loop, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _loop(self) -> None:
        client = KeepAliveClient(self.url, {"x-api-key": self.key}, self.body)
        try:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    version = client.post()
                except Exception as exc:  # recorded: a lost request is a finding, not a crash
                    with self._lock:
                        self.errors.append(repr(exc))
                    client.close()
                    client = KeepAliveClient(self.url, {"x-api-key": self.key}, self.body)
                    continue
                with self._lock:
                    self.records.append((sent, time.monotonic(), version))
        finally:
            client.close()

    def snapshot(self) -> list[tuple[float, float, str]]:
        with self._lock:
            return list(self.records)

    def wait_for(self, version: str, after: float, timeout: float = 60.0) -> float:
        """The answer time of the first response from `version` answered after `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            served = [answered for _, answered, v in self.snapshot() if v == version and answered > after]
            if served:
                return min(served)
            time.sleep(0.002)
        raise TimeoutError(f"no response from version {version} within {timeout:g} s")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def publish_second_version(cloud: LocalCloud) -> tuple[str, str]:
    """(old, new): the alias's current primary and a freshly published version of the same code."""
    assert cloud.clients is not None
    lam = cloud.clients.lambda_
    function, alias = cloud.serving_function()
    old = str(lam.get_alias(FunctionName=function, Name=alias)["FunctionVersion"])
    variables = dict(lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"])
    variables["BENCH_VERSION_MARK"] = uuid.uuid4().hex[:8]
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
    new = str(lam.publish_version(FunctionName=function)["Version"])
    return old, new


def move_traffic_to(cloud: LocalCloud, traffic: Traffic, version: str) -> None:
    """All of the alias on `version`, and a few answers from it seen: all traffic is on it."""
    assert cloud.clients is not None
    function, alias = cloud.serving_function()
    cloud.clients.lambda_.update_alias(
        FunctionName=function,
        Name=alias,
        FunctionVersion=version,
        RoutingConfig={"AdditionalVersionWeights": {}},
    )
    switched = time.monotonic()
    for _ in range(3):
        switched = traffic.wait_for(version, switched)
    time.sleep(0.05)


def run_trials(
    cloud: LocalCloud, traffic: Traffic, old: str, new: str, trials: int, rollback: Callable[[], None]
) -> tuple[list[float], list[float], int]:
    to_first_old: list[float] = []
    call_s: list[float] = []
    stale = 0
    for _ in range(trials):
        move_traffic_to(cloud, traffic, new)
        started = time.monotonic()
        rollback()
        returned = time.monotonic()
        first_old = traffic.wait_for(old, started)
        to_first_old.append(first_old - started)
        call_s.append(returned - started)
        time.sleep(0.2)
        stale += sum(1 for sent, _, v in traffic.snapshot() if v == new and sent > returned)
    return to_first_old, call_s, stale


def count_aws_requests(cloud: LocalCloud, old: str, new: str, rollback: Callable[[], None]) -> dict[str, Any]:
    """The requests moto logged while one rollback ran with no traffic (the local cloud's own
    background calls, metrics and alarms, may add one or two)."""
    assert cloud.clients is not None
    function, alias = cloud.serving_function()
    cloud.clients.lambda_.update_alias(
        FunctionName=function, Name=alias, FunctionVersion=new, RoutingConfig={"AdditionalVersionWeights": {}}
    )
    moto_log = cloud.settings.state_dir / "moto.log"
    if not moto_log.is_file():
        return {"requests": None, "why": f"{moto_log} does not exist"}
    before = moto_log.stat().st_size
    rollback()
    time.sleep(0.2)
    with moto_log.open("rb") as handle:
        handle.seek(before)
        lines = [line.decode(errors="replace") for line in handle.read().splitlines() if b'"' in line]
    requests = [re.sub(r"\x1b\[[0-9;]*m", "", line).split('"')[1] for line in lines]
    return {"requests": len(requests), "calls": requests[:30]}


def unavailable(key: str, what: str, why: str) -> Measurement:
    """A row that could not be measured, with the reason in place of figures."""
    return Measurement(key=key, what=what, unit="ms", samples=0, median=None, note=why)


def run(suite: Suite) -> BenchResult:
    import json

    started = time.monotonic()
    trials = 5 if suite.quick else 9
    cloud = suite.cloud.get()
    assert cloud.clients is not None
    lam = cloud.clients.lambda_
    function, alias = cloud.serving_function()
    old, new = publish_second_version(cloud)
    row = json.loads((served_artifact_dir() / METADATA_FILE).read_text())["sample_rows"][0]
    traffic = Traffic(
        f"{cloud.api_url}/predict", cloud.api_key or "", json.dumps({"instances": [row]}).encode()
    )
    traffic.start(CLIENTS)
    measurements: list[Measurement] = []
    details: dict[str, Any] = {"old_version": old, "new_version": new, "trials": trials, "clients": CLIENTS}
    cli_rollback: Callable[[], None] | None = None
    try:
        log(f"{NAME}: {trials} UpdateAlias rollbacks {new} -> {old}")

        def update_alias() -> None:
            lam.update_alias(
                FunctionName=function,
                Name=alias,
                FunctionVersion=old,
                RoutingConfig={"AdditionalVersionWeights": {}},
            )

        to_old, call_s, stale = run_trials(cloud, traffic, old, new, trials, update_alias)
        s, call = Summary.of(to_old), Summary.of(call_s)
        measurements.append(
            Measurement(
                key="update_alias",
                what="rollback (one UpdateAlias via boto3) to first old-version response",
                unit="ms",
                samples=s.samples,
                median=s.median * 1000,
                p99=s.p99 * 1000,
                target=judge(
                    f"one API call, <= {TARGET_S * 1000:g} ms",
                    [("time", s.median <= TARGET_S), ("next request follows", stale == 0)],
                ),
                extra={"update_alias_call_ms": round(call.median * 1000, 2), "stale_responses": stale},
            )
        )
        cli_label = "`modelctl rollback` (CLI start-up included) to first old-version response"
        missing = modelctl_rollback_missing()
        if missing is not None:
            measurements.append(unavailable("modelctl_rollback", cli_label, f"not available yet: {missing}"))
        else:
            cli_trials = 3 if suite.quick else 5
            log(f"{NAME}: {cli_trials} `modelctl rollback` runs")
            env = {
                **os.environ,
                **cloud.environment(),
                "MODELCTL_LOCAL_DEPLOYMENT": str(cloud.settings.state_dir / "deployment.json"),
            }
            # As an operator runs it: the installed `modelctl` script, with the bytecode an install
            # (or its first run) leaves; `make` exports PYTHONDONTWRITEBYTECODE, which would make
            # every run compile the CLI's modules from source.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            for package in ("modelctl", "release"):
                compileall.compile_dir(REPO_ROOT / package, quiet=1)
            script = Path(sys.executable).with_name("modelctl")
            entry = [str(script)] if script.exists() else [sys.executable, "-m", "modelctl.cli"]
            cli_errors: list[str] = []

            def modelctl_rollback() -> None:
                command = [*entry, "rollback", "--to", old]
                command += ["--function", function, "--alias", alias, "--reason", "bench: rollback timing"]
                result = subprocess.run(
                    command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
                )
                if result.returncode != 0:
                    cli_errors.append((result.stderr or result.stdout).strip()[-500:])
                    raise RuntimeError(cli_errors[-1])

            try:
                cli_to_old, cli_call, cli_stale = run_trials(
                    cloud, traffic, old, new, cli_trials, modelctl_rollback
                )
            except (RuntimeError, TimeoutError) as exc:
                measurements.append(unavailable("modelctl_rollback", cli_label, f"error: {exc}"))
            else:
                cli_rollback = modelctl_rollback
                c = Summary.of(cli_to_old)
                measurements.append(
                    Measurement(
                        key="modelctl_rollback",
                        what=cli_label,
                        unit="ms",
                        samples=c.samples,
                        median=c.median * 1000,
                        p99=c.p99 * 1000,
                        target=judge(
                            f"one API call, <= {TARGET_S * 1000:g} ms",
                            [("time", c.median <= TARGET_S), ("next request follows", cli_stale == 0)],
                        ),
                        extra={
                            "cli_run_ms": round(Summary.of(cli_call).median * 1000, 1),
                            "stale_responses": cli_stale,
                        },
                    )
                )
        if cli_rollback is not None:
            traffic.stop()
            details["modelctl_rollback_aws_requests"] = count_aws_requests(cloud, old, new, cli_rollback)
    finally:
        traffic.stop()
        lam.update_alias(
            FunctionName=function,
            Name=alias,
            FunctionVersion=old,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
    details["lost_requests"] = len(traffic.errors)
    if traffic.errors:
        details["errors"] = traffic.errors[:5]
    return BenchResult(
        name=NAME,
        title=TITLE,
        status="ok",
        measurements=tuple(measurements),
        details=details,
        wall_s=time.monotonic() - started,
        measured_at=now_iso(),
    )
