"""Releases end to end on the local cloud: `modelctl` (in-process, through Typer's runner) finds the
stack in `.local-cloud/deployment.json`, publishes real models, pre-traffic checks through Lambda's
Invoke API, and moves the alias that the gateway reads on every request. Gates are CloudWatch alarms
that the local cloud evaluates against the metrics its functions really emit."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from common.model.metadata import ModelMetadata
from demo.models import poison, train_candidate
from localcloud.cloud import LocalCloud
from modelctl.factory import Factory
from tests.e2e.conftest import Api
from tests.unit.modelctl.world import run_cli

GOOD = "good"
POISON = "poison"


class TrafficClock:
    """Real wall-clock time (history, lock leases), but a bake's waiting is replaced by real
    traffic through the gateway followed by an alarm evaluation, so a bake takes as long as its
    requests, not minutes."""

    def __init__(self) -> None:
        self._mono = 0.0
        self.on_sleep: list[Callable[[float], None]] = []

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        self._mono += seconds
        for hook in self.on_sleep:
            hook(seconds)


@dataclass
class Release:
    cloud: LocalCloud
    api: Api
    clock: TrafficClock
    rows: dict[str, list[float]]
    function: str
    alias: str
    log: list[str] = field(default_factory=list)

    def factory(self) -> Factory:
        env = dict(os.environ)
        env["MODELCTL_LOCAL_DEPLOYMENT"] = str(self.cloud.settings.state_dir / "deployment.json")
        return Factory(env=env, clock=self.clock)

    def modelctl(self, *args: str, input: str | None = None) -> tuple[int, str]:
        code, output, _ = run_cli(self.factory(), *args, input=input)
        self.log.append(f"$ modelctl {' '.join(args)}\n{output}")
        return code, output

    def served(self, count: int, kind: str = GOOD, workers: int = 8) -> Counter[str]:
        def one(_: int) -> str:
            response = self.api.predict([self.rows[kind]])
            return f"{response.headers.get('X-Function-Version')}:{response.status}"

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return Counter(pool.map(one, range(count)))

    def routing(self) -> tuple[str, dict[str, float]]:
        assert self.cloud.clients is not None
        alias = self.cloud.clients.lambda_.get_alias(FunctionName=self.function, Name=self.alias)
        return alias["FunctionVersion"], dict(
            (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        )

    def bake_with_traffic(self, kind: str, requests: int) -> None:
        """Every gate check of a bake sees `requests` more requests, then a fresh alarm evaluation."""

        def hook(_: float) -> None:
            self.served(requests, kind)
            self.cloud.evaluate_alarms()

        self.clock.on_sleep[:] = [hook]


@pytest.fixture(scope="module")
def candidate_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_candidate(tmp_path_factory.mktemp("release_candidate"))


@pytest.fixture(scope="module")
def poisoned_model(
    trained_model: tuple[Path, ModelMetadata], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The trained model with a flaw that passes publish and the pre-traffic check but makes rows
    whose first feature is negative fail with HTTP 500 (see demo/models.py)."""
    source, metadata = trained_model
    return poison(source, metadata, tmp_path_factory.mktemp("poisoned"))


@pytest.fixture()
def release(local_cloud: LocalCloud, trained_model: tuple[Path, ModelMetadata]) -> Iterator[Release]:
    _, metadata = trained_model
    good = list(metadata.sample_rows[0])
    function, alias = local_cloud.serving_function()
    setup = Release(
        local_cloud,
        Api(local_cloud),
        TrafficClock(),
        {GOOD: good, POISON: [-1.0, *good[1:]]},
        function,
        alias,
    )
    yield setup
    # Leave the shared cloud as the other e2e tests expect it: v1 takes all traffic, no release.
    assert local_cloud.clients is not None
    local_cloud.clients.lambda_.update_alias(
        FunctionName=function, Name=alias, FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {}}
    )
    cloudwatch = local_cloud.clients.cloudwatch
    names = [a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix="modelctl-")["MetricAlarms"]]
    if names:
        cloudwatch.delete_alarms(AlarmNames=names)
    dynamodb = local_cloud.clients.client("dynamodb")
    table = local_cloud.deployment.output("ReleaseTableName") if local_cloud.deployment else ""
    for item in dynamodb.scan(TableName=table)["Items"]:
        if not item["pk"]["S"].startswith("HISTORY#"):
            dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})


def publish(release: Release, artifact: Path) -> str:
    code, output = release.modelctl("publish", str(artifact), "--reason", "e2e")
    assert code == 0, output
    return output.strip().splitlines()[-1]


def test_canary_share_matches_its_weight_and_rollback_takes_effect_on_the_next_request(
    release: Release, candidate_model: Path
) -> None:
    version = publish(release, candidate_model)
    code, output = release.modelctl("canary", version, "--weight", "20", "--poll", "1")  # in the controller
    assert code == 0, output
    said = " ".join(output.split())  # Rich wraps long lines when not on a terminal
    assert "runs in the release controller" in said and f"v{version} takes 20% of the traffic" in said
    counts = release.served(800)
    share = counts[f"{version}:200"] / 800
    assert abs(share - 0.20) <= 0.045, counts  # 3.2 standard deviations
    assert counts[f"{version}:200"] + counts["1:200"] == 800
    code, output = release.modelctl("rollback", "--reason", "e2e rollback")
    assert code == 0, output
    assert release.served(300) == Counter({"1:200": 300})


def test_a_progressive_release_completes(release: Release, candidate_model: Path) -> None:
    version = publish(release, candidate_model)
    release.bake_with_traffic(GOOD, 40)
    code, output = release.modelctl(
        "shift",
        version,
        "--in-process",
        "--steps",
        "25,50,100",
        "--bake",
        "3s",
        "--poll",
        "1",
        "--gate-p99-ms",
        "10000",  # cold starts on a busy machine are not what these tests are about
        "--gate-period",
        "60",
        "--gate-evaluation-periods",
        "1",
        "--gate-errors",
        "1",
        "--gate-internal-errors",
        "1",
    )
    assert code == 0, output
    assert release.routing() == (version, {})
    assert "gates: errors OK, p99 OK, internal-errors OK" in output
    assert release.served(100) == Counter({f"{version}:200": 100})
    code, output = release.modelctl("history", "--json", "--limit", "6")
    actions = [(e["action"], e["outcome"]) for e in json.loads(output)]
    assert actions[:4] == [
        ("shift", "completed"),
        ("shift step 3/3", "ok"),
        ("shift step 2/3", "ok"),
        ("shift step 1/3", "ok"),
    ]


def test_a_version_that_fails_in_production_is_rolled_back_by_its_gate(
    release: Release, poisoned_model: Path
) -> None:
    """The flawed model passes publish and the pre-traffic check; users' rows then make it fail
    with HTTP 500 (not a Lambda error): its InternalErrors gate fires and the release rolls back."""
    version = publish(release, poisoned_model)
    release.bake_with_traffic(POISON, 30)
    code, output = release.modelctl(
        "shift",
        version,
        "--in-process",
        "--steps",
        "50,100",
        "--bake",
        "2m",
        "--poll",
        "5",
        "--gate-p99-ms",
        "10000",  # cold starts on a busy machine are not what these tests are about
        "--gate-period",
        "60",
        "--gate-evaluation-periods",
        "1",
        "--gate-internal-errors",
        "3",
    )
    assert code == 2, output
    assert f"modelctl-{release.function}-{release.alias}-v{version}-internal-errors is ALARM" in output
    assert release.routing() == ("1", {})
    release.clock.on_sleep.clear()
    assert release.served(100, POISON) == Counter({"1:200": 100})
    code, output = release.modelctl("history", "--json", "--limit", "1")
    (last,) = json.loads(output)
    assert (last["action"], last["outcome"]) == ("shift rollback", "rolled back")


def test_rollback_latency_from_the_command_to_the_old_version_serving(
    release: Release, candidate_model: Path
) -> None:
    """Figures, not assertions on time: printed for docs/releases.md."""
    version = publish(release, candidate_model)
    served: list[tuple[float, float, str]] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            response = release.api.predict([release.rows[GOOD]])
            served.append((started, time.perf_counter(), str(response.headers.get("X-Function-Version"))))

    in_process = RollbackTimes()
    as_process = RollbackTimes()
    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    try:
        for run in range(int(os.environ.get("MODELCTL_ROLLBACK_RUNS", "6"))):
            code, output = release.modelctl("bluegreen", version, "--in-process", "--skip-pre-traffic-check")
            assert code == 0, output
            time.sleep(0.3)  # the new version takes all traffic
            begin = time.perf_counter()
            if run % 2 == 0:  # as the operator runs it: a new process (interpreter, imports, clients)
                env = {**release.factory().env}
                done = subprocess.run(
                    [sys.executable, "-m", "modelctl.cli", "rollback"],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                assert done.returncode == 0, done.stderr
                times = as_process
            else:  # in this process: a fresh factory (new boto3 session and clients), no interpreter start
                factory = release.factory()
                factory.session = boto3.session.Session()
                updated: list[float] = []
                factory.session.events.register(
                    "after-call.lambda.UpdateAlias",
                    lambda into=updated, **_: into.append(time.perf_counter()),
                )
                code, output, _ = run_cli(factory, "rollback")
                assert code == 0, output
                times = in_process
            end = time.perf_counter()
            time.sleep(0.3)
            first_old = min(done for start, done, served_by in served if start >= begin and served_by == "1")
            times.to_old.append(first_old - begin)
            times.command.append(end - begin)
            if times is in_process:
                (switched,) = updated
                times.to_switch.append(switched - begin)
                # the first request that reached the gateway after UpdateAlias returned, and its answer
                times.switch_to_old.append(
                    min(done for start, done, served_by in served if start >= switched) - switched
                )
                assert all(v == "1" for start, _, v in served if start >= switched)
            assert all(v == "1" for start, _, v in served if start >= end)
    finally:
        stop.set()
        thread.join(timeout=10)
    print(f"\nrollback, `modelctl rollback` as a new process: {as_process.describe()}")
    print(f"rollback, in-process with a fresh factory: {in_process.describe()}")


@dataclass
class RollbackTimes:
    to_old: list[float] = field(default_factory=list)
    command: list[float] = field(default_factory=list)
    to_switch: list[float] = field(default_factory=list)
    switch_to_old: list[float] = field(default_factory=list)

    def describe(self) -> str:
        def ms(values: list[float]) -> str:
            low, high = min(values) * 1000, max(values) * 1000
            return f"median {statistics.median(values) * 1000:.0f} ms (min {low:.0f}, max {high:.0f})"

        split = (
            f"; UpdateAlias returned {ms(self.to_switch)} after the start, and the next request was "
            f"answered by the old version {ms(self.switch_to_old)} after that"
            if self.to_switch
            else ""
        )
        return (
            f"first request served by the old version {ms(self.to_old)} after the command started; "
            f"the command took {ms(self.command)}{split}; {len(self.to_old)} runs"
        )


def test_names_come_from_the_local_deployment_and_history_from_the_release_table(release: Release) -> None:
    code, output = release.modelctl("status", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["function"] == release.function and report["routing"] == "v1 100%"
    assert report["target_sources"]["release_table"].startswith("local cloud deployment")
    code, output = release.modelctl("history", "--json", "--limit", "50")
    entries = json.loads(output)
    assert code == 0 and all(e["who"].startswith("arn:aws:") for e in entries)
