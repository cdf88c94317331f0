"""Faults in the local cloud, one test each: what breaks, what users see, and that nothing is lost.

- the shadow queue is down: live answers are unchanged (the inference function never sends to it);
- S3 fails for the shadow function: its batches are retried, then dead-lettered; sent = logged +
  dead-lettered, counted request by request;
- a canary whose model raises on every request: its gate fires during the bake, the alias rolls
  back, and the only errors users saw came from the canary's version;
- a worker killed in the middle of a request: that request gets a clear error, the next ones are
  served by a replacement;
- two `modelctl canary` processes at once: exactly one proceeds, the other names the lock holder;
- moto (the AWS API) restarted during a release: the CLI stops with a one-line error, and
  `modelctl status` afterwards shows what moto really holds (the state saved at the restart).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.model.metadata import ModelMetadata
from localcloud.cloud import LocalCloud
from localcloud.moto_process import free_port
from reliability.accounting import (
    config_ttl_seconds,
    dead_letter_ids,
    logged_ids,
    queue_depth,
    settle_mirroring,
    wait_until,
)
from reliability.loadtest import LoadSettings, measure, render
from tests.e2e import test_release_local as releases
from tests.e2e import test_shadow_local as shadows
from tests.e2e.conftest import Api, HttpResponse
from tests.e2e.test_local_cloud import set_weights

# Fixtures shared with the release and shadow tests (pytest finds them under these names).
release = releases.release
candidate_model = releases.candidate_model
candidate = shadows.candidate
poisoned_model = releases.poisoned_model
Release = releases.Release

SHADOW_REQUESTS = 12


# -- helpers --------------------------------------------------------------------------------------


def publish_function_variant(cloud: LocalCloud, function: str, changes: dict[str, str]) -> str:
    """Publish a version of `function` whose environment differs by `changes` ($LATEST is restored)."""
    assert cloud.clients is not None
    lam = cloud.clients.lambda_
    original = dict(lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"])
    lam.update_function_configuration(
        FunctionName=function, Environment={"Variables": {**original, **changes}}
    )
    version = str(lam.publish_version(FunctionName=function, Description="fault injection")["Version"])
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": original})
    return version


def shadow_resources(cloud: LocalCloud) -> tuple[str, str, str, str]:
    """(shadow function, queue URL, dead-letter queue URL, log bucket)."""
    assert cloud.event_sources is not None and cloud.deployment is not None
    (poller,) = cloud.event_sources.pollers
    return (
        poller.mapping.function,
        poller.queue_url,
        cloud.deployment.output("DeadLetterQueueUrl"),
        cloud.deployment.output("LogBucketName"),
    )


@pytest.fixture(scope="module")
def shadow_on(
    local_cloud: LocalCloud, candidate: Path, trained_model: tuple[Path, ModelMetadata]
) -> Iterator[None]:
    """A shadow of the candidate on every request, already mirroring, with a quiet queue."""
    api = Api(local_cloud)
    started = shadows.modelctl(
        local_cloud, "start", candidate.name, "--sample", "100", "--artifacts-dir", str(candidate.parent)
    )
    assert started.exit_code == 0, started.output
    _, live = trained_model
    _, queue_url, _, bucket = shadow_resources(local_cloud)
    assert local_cloud.clients is not None

    function, _ = local_cloud.serving_function()
    warm(local_cloud, function, "1")

    def probe() -> None:
        api.predict([list(live.sample_rows[0])])  # a record proves it was answered (200) and mirrored

    settle_mirroring(
        probe,
        s3=local_cloud.clients.s3,
        bucket=bucket,
        sqs=local_cloud.clients.sqs,
        queue_url=queue_url,
        config_ttl_s=config_ttl_seconds(local_cloud.clients.lambda_, function),
        timeout_s=300,  # a cold start on a busy shared machine can take tens of seconds
    )
    yield
    assert shadows.modelctl(local_cloud, "stop").exit_code == 0


def warm(cloud: LocalCloud, function: str, version: str, attempts: int = 3) -> list[int]:
    """Start every worker of a version now, so no cold start (slow on a busy machine, and an init
    timeout answers 502) happens during what a test observes. Returns the workers' pids."""
    from localcloud.functions import WorkerInitError

    assert cloud.router is not None and cloud.runtime is not None
    pool = cloud.runtime.pool(cloud.router.spec(function, version))
    for attempt in range(attempts):
        try:
            pool.warm(pool.max_workers)
            break
        except WorkerInitError:
            if attempt == attempts - 1:
                raise
    return pool.worker_pids()


def publish_with_modelctl(release: Release, artifact: Path) -> str:
    """`modelctl publish`, returning the version it printed (other threads of this process may write
    to the captured stderr meanwhile, so the version is the last line that is a number)."""
    code, output = release.modelctl("publish", str(artifact), "--reason", "faults")
    assert code == 0, output
    return next(line.strip() for line in reversed(output.splitlines()) if line.strip().isdigit())


def predict_many(api: Api, rows: list[list[float]]) -> list[HttpResponse]:
    return [api.predict([row]) for row in rows]


# -- the shadow queue is down -----------------------------------------------------------------------


def test_live_answers_are_unchanged_when_the_shadow_queue_is_down(
    local_cloud: LocalCloud, api: Api, shadow_on: None, trained_model: tuple[Path, ModelMetadata]
) -> None:
    """GIVEN a shadow on every request and a function version whose SQS endpoint refuses connections
    WHEN requests arrive THEN each answer is the one the live model gives with a working queue: the
    inference function sends nothing to SQS (its records leave in its log lines; the recorder
    forwards the shadow's sample, docs/prediction-log.md)."""
    _, live = trained_model
    rows = [list(row) for row in live.sample_rows[:5]] * 4
    baseline = predict_many(api, rows)
    function, _ = local_cloud.serving_function()
    down = publish_function_variant(
        local_cloud, function, {"AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{free_port()}"}
    )
    set_weights(local_cloud, down, {})
    try:
        answers = predict_many(api, rows)
    finally:
        set_weights(local_cloud, "1", {})
    assert [a.status for a in answers] == [200] * len(rows)
    assert {a.headers["X-Function-Version"] for a in answers} == {down}
    assert [a.json() for a in answers] == [b.json() for b in baseline]


# -- S3 fails for the shadow function ---------------------------------------------------------------


@pytest.fixture()
def fast_redelivery(local_cloud: LocalCloud) -> Iterator[None]:
    """The shadow queue's visibility timeout (6 x the function timeout: minutes) down to 10 s, so the
    three receives before the DLQ take a minute, not twenty; restored afterwards. (It must stay above
    the batching window plus an invocation, as on AWS: a message must not become visible again while
    its batch is still being gathered or scored, or it is received twice.)

    The queue must be empty first: a message mirrored by an earlier test and received before the
    change keeps the old timeout, and if its batch is delivered after the test broke the function it
    fails and stays in flight for minutes, which the test's wait for an empty queue then sits out."""
    assert local_cloud.clients is not None
    _, queue_url, _, _ = shadow_resources(local_cloud)
    sqs = local_cloud.clients.sqs
    wait_until(lambda: queue_depth(sqs, queue_url) == 0, timeout_s=120, what="the shadow queue draining")
    before = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "10"})
    yield
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes=before)


def test_s3_failing_for_the_shadow_function_dead_letters_and_loses_nothing(
    local_cloud: LocalCloud,
    api: Api,
    shadow_on: None,
    fast_redelivery: None,
    trained_model: tuple[Path, ModelMetadata],
) -> None:
    """GIVEN the shadow function's log bucket gone WHEN requests are mirrored THEN each batch fails,
    is retried maxReceiveCount times and is dead-lettered; once the bucket is back, requests become
    records again; and sent = logged + dead-lettered, request by request."""
    assert local_cloud.clients is not None and local_cloud.event_sources is not None
    _, live = trained_model
    rows = [list(row) for row in live.sample_rows[:4]] * (SHADOW_REQUESTS // 4)
    shadow_function, queue_url, dlq_url, bucket = shadow_resources(local_cloud)
    sqs, s3, lam = local_cloud.clients.sqs, local_cloud.clients.s3, local_cloud.clients.lambda_
    sqs.purge_queue(QueueUrl=dlq_url)
    (poller,) = local_cloud.event_sources.pollers
    errors_before = poller.stats.invocation_errors
    environment = dict(
        lam.get_function_configuration(FunctionName=shadow_function)["Environment"]["Variables"]
    )

    # WHEN S3 fails for the shadow function (its $LATEST, which the event source invokes)
    lam.update_function_configuration(
        FunctionName=shadow_function,
        Environment={"Variables": {**environment, "LOG_BUCKET": f"{bucket}-gone"}},
    )
    broken_since = datetime.now(UTC)
    try:
        broken = predict_many(api, rows)
        wait_until(
            lambda: queue_depth(sqs, dlq_url) >= len(rows) and queue_depth(sqs, queue_url) == 0,
            timeout_s=400,
            what="every message of the broken period reaching the DLQ",
        )
    finally:
        lam.update_function_configuration(
            FunctionName=shadow_function, Environment={"Variables": environment}
        )
    healed_since = datetime.now(UTC)
    healed = predict_many(api, rows)
    wait_until(
        lambda: (
            queue_depth(sqs, queue_url) == 0
            and len(logged_ids(s3, bucket, healed_since, datetime.now(UTC))) + queue_depth(sqs, dlq_url)
            >= 2 * len(rows)
        ),
        timeout_s=400,
        what="every message after the repair becoming a record or a dead letter",
    )
    until = datetime.now(UTC)

    sent = [r for r in [*broken, *healed] if r.status == 200]
    assert len(sent) == 2 * len(rows)
    logged = logged_ids(s3, bucket, broken_since, until)
    dead = dead_letter_ids(sqs, dlq_url, broken_since, until)
    assert not any(i.startswith("unparsable") for i in dead)
    # While S3 failed nothing could be logged: that period's messages are all dead letters.
    assert not logged_ids(s3, bucket, broken_since, healed_since)
    assert len(dead_letter_ids(sqs, dlq_url, broken_since, healed_since)) == len(rows)
    # After the repair, requests are logged again. On a busy machine a batch can outlive the short
    # visibility timeout (a slow cold start) and be received again: SQS is at-least-once, so such a
    # message may be both logged and dead-lettered. Nothing is lost either way: every request sent
    # is logged or dead-lettered (sent = logged + dead-lettered, counting each request once).
    assert logged_ids(s3, bucket, healed_since, until)
    assert len(sent) == len(logged | dead)
    assert poller.stats.invocation_errors - errors_before >= 3  # retried before dead-lettering


# -- bounded load, shadow on ------------------------------------------------------------------------


def test_bounded_load_loses_no_request_and_accounts_for_every_mirrored_one(
    local_cloud: LocalCloud, shadow_on: None, trained_model: tuple[Path, ModelMetadata]
) -> None:
    """The short variant of `make loadtest`: 12 s at 10 requests/s from 8 clients. Counts only:
    every request answered (lost == 0), each in the prediction log (or the recorder's DLQ), and
    every request the shadow drew (ShadowSampled, all of them) scored or dead-lettered."""
    _, live = trained_model
    settings = LoadSettings(seconds=12, rate=10, clients=8, drain_timeout_s=180)
    figures = measure(local_cloud, [list(row) for row in live.sample_rows], settings)
    print(f"\n{render(figures)}")
    assert figures["sent"] == settings.requests
    assert figures["lost"] == 0, figures
    assert figures["statuses"] == {"200": settings.requests}, figures
    assert figures["recorded"]["answered"] == settings.requests
    assert figures["recorded"]["unaccounted"] == 0, figures
    assert figures["shadow"]["sampled"] == settings.requests, figures
    assert figures["shadow"]["unaccounted"] == 0, figures


# -- a canary whose model raises on every request ---------------------------------------------------


def test_a_canary_whose_model_always_fails_is_rolled_back_and_only_its_share_saw_errors(
    release: Release, poisoned_model: Path
) -> None:
    """The poisoned model (tests/e2e/test_release_local.py) raises for every row users send during
    the bake (rows whose first feature is negative), while the primary answers them: every request
    the canary takes fails."""
    version = publish_with_modelctl(release, poisoned_model)
    warm(release.cloud, release.function, "1")
    warm(release.cloud, release.function, version)
    seen: Counter[str] = Counter()

    def bake_hook(_: float) -> None:
        seen.update(release.served(40, releases.POISON))
        release.cloud.evaluate_alarms()

    release.clock.on_sleep[:] = [bake_hook]
    code, output = release.modelctl(
        "canary",
        version,
        "--in-process",
        "--weight",
        "25",
        "--bake",
        "2m",
        "--poll",
        "5",
        "--skip-pre-traffic-check",
        "--gate-internal-errors",
        "3",
        "--gate-p99-ms",
        "60000",  # latency on a busy shared machine is not what this test is about
        "--gate-period",
        "60",
        "--gate-evaluation-periods",
        "1",
    )
    release.clock.on_sleep.clear()
    assert code == 2, output
    assert f"v{version}-internal-errors is ALARM" in output
    assert release.routing() == ("1", {})
    # During the bake: errors, and only from the canary; the primary answered every request it took.
    assert seen[f"{version}:500"] > 0 and seen["1:200"] > 0
    assert set(seen) == {"1:200", f"{version}:500"}, seen
    # After the rollback nobody sees an error.
    assert release.served(100, releases.POISON) == Counter({"1:200": 100})


# -- a worker killed mid-request --------------------------------------------------------------------


def test_a_worker_killed_mid_request_fails_that_request_only_and_is_replaced(
    local_cloud: LocalCloud, api: Api, trained_model: tuple[Path, ModelMetadata]
) -> None:
    """Every warm worker of v1 is stopped (SIGSTOP) and held so (the runtime's thaw disabled, as if
    the environment hung); a request is handed to one of them (its START line is logged); then they
    are killed. That request gets a clear 5xx JSON error; once the pool
    has seen the kills (a kill from outside is asynchronous), the next ones are served by new
    workers. (A worker frozen in the middle of a TLS handshake with moto once stalled every other
    moto client, this test's alias read included: localcloud/moto_main.py.)"""
    _, metadata = trained_model
    row = list(metadata.sample_rows[0])
    assert api.predict([row]).status == 200
    assert local_cloud.router is not None and local_cloud.runtime is not None
    function, _ = local_cloud.serving_function()
    set_weights(local_cloud, "1", {})
    pool = local_cloud.runtime.pool(local_cloud.router.spec(function, "1"))
    victims = warm(local_cloud, function, "1")
    log = local_cloud.settings.state_dir / "logs" / f"{function}_1.log"

    def started() -> int:
        return log.read_text(encoding="utf-8").count("START RequestId") if log.exists() else 0

    before = started()
    for worker in pool.idle_workers():  # hold them stopped: the runtime may not continue them
        worker.freezer.thaw = lambda: None  # type: ignore[method-assign]
    for pid in victims:
        os.kill(pid, signal.SIGSTOP)
    answer: list[HttpResponse] = []
    thread = threading.Thread(target=lambda: answer.append(api.predict([row])), daemon=True)
    try:
        thread.start()
        wait_until(lambda: started() > before, timeout_s=120, what="the request reaching a frozen worker")
    finally:
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
    thread.join(timeout=60)
    wait_until(
        lambda: not set(pool.worker_pids()) & set(victims), timeout_s=30, what="the pool seeing the kills"
    )
    (killed,) = answer
    assert 500 <= killed.status < 600, killed
    assert "message" in killed.json()  # a JSON error as API Gateway gives it, no stack trace
    assert b"Traceback" not in killed.body
    statuses = [api.predict([row]).status for _ in range(20)]
    assert statuses == [200] * 20
    assert pool.worker_pids() and not set(pool.worker_pids()) & set(victims)


# -- two releases at once ---------------------------------------------------------------------------


def modelctl_process(release: Release, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modelctl.cli", *args],
        env=dict(release.factory().env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_releases_at_once_exactly_one_proceeds(release: Release, candidate_model: Path) -> None:
    version = publish_with_modelctl(release, candidate_model)
    command = (
        "canary",
        version,
        "--in-process",
        "--weight",
        "10",
        "--bake",
        "20s",
        "--poll",
        "2",
        "--skip-pre-traffic-check",
    )
    processes = [modelctl_process(release, *command) for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    codes = [process.returncode for process in processes]
    assert sorted(codes) == [0, 1], outputs
    _, loser_err = outputs[codes.index(1)]
    assert "Traceback" not in loser_err
    line = loser_err.strip().splitlines()[-1]
    assert line.startswith("error: another release command is running on this alias: 'canary")
    assert " by arn:aws:" in line  # who holds the lock
    assert release.routing() == ("1", {version: 0.1})


# -- moto restarted during a release ----------------------------------------------------------------


def test_moto_restarted_during_a_release_fails_the_cli_clearly_and_status_tells_the_truth(
    release: Release, candidate_model: Path
) -> None:
    """GIVEN `modelctl shift` baking its first step WHEN moto goes down (its state saved first, as a
    stop saves it) and comes back only after the CLI gave up THEN the CLI exited with one line and no
    traceback, and `modelctl status` shows exactly what moto holds: the saved state."""
    version = publish_with_modelctl(release, candidate_model)
    process = modelctl_process(
        release,
        "shift",
        version,
        "--in-process",
        "--steps",
        "30,100",
        "--bake",
        "10m",
        "--poll",
        "1",
        "--skip-pre-traffic-check",
    )

    def until_the_cli_gives_up() -> None:
        process.wait(timeout=300)

    try:
        wait_until(lambda: release.routing() == ("1", {version: 0.3}), timeout_s=120, what="the first step")
        release.cloud.restart_aws(while_down=until_the_cli_gives_up)
    finally:
        if process.poll() is None:
            process.kill()
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "127.0.0.1" in line

    snapshot = json.loads((release.cloud.snapshot_dir / "snapshot.json").read_text())
    (saved_alias,) = [
        a for a in snapshot["functions"][release.function]["aliases"] if a["Name"] == release.alias
    ]
    code, output = release.modelctl("status", "--json")
    assert code == 0, output
    status = json.loads(output)
    percents = {v["version"]: v["percent"] for v in status["versions"]}
    assert release.routing() == (
        saved_alias["FunctionVersion"],
        saved_alias["RoutingConfig"]["AdditionalVersionWeights"],
    )
    assert percents == {"1": pytest.approx(70), version: pytest.approx(30)}
    assert status["release"]["candidate"] == version and status["release"]["status"] == "running"
    assert status["lock"] is not None and status["lock"]["operation"].startswith("shift")
    # The release that lost its CLI is ended by an operator: abort takes the lock over and rolls back.
    code, output = release.modelctl("abort", "--reason", "the CLI died with moto")
    assert code == 0, output
    assert release.routing() == ("1", {})
