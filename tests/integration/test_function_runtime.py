"""The local Lambda runtime: function versions run in warm worker processes under the real Runtime
Interface Client, against our per-worker Runtime API, and fail the way Lambda fails."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from common.model.metadata import ModelMetadata
from infra.bundling import BundleTarget, build_bundle, install_runtime_provided
from localcloud.functions import FunctionSpec, InvocationResult, PoolClosedError, WorkerInitError
from localcloud.functions.pool import WorkerPool
from localcloud.functions.runtime import FunctionRuntime
from localcloud.worker import Worker
from tests.integration.runtime_support import predict_with_bundle, process_alive, wait_until

FIXTURE = Path(__file__).parent / "fixtures" / "runtime_probe"
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:probe"
BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:5999",
    "SHARED": "from-base",
}
# Modules that awslambdaric brings: Lambda's /var/runtime has them beside boto3.
RIC_MODULES = ("awslambdaric", "runtime_client", "simplejson", "snapshot_restore_py")


# -- helpers -------------------------------------------------------------------------------------


def listening_ports() -> set[int]:
    """TCP ports in LISTEN state on any IPv4 address, read from /proc/net/tcp."""
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A":
            ports.add(int(fields[1].split(":")[1], 16))
    return ports


def body(result: InvocationResult) -> dict[str, Any]:
    return dict(json.loads(result.payload))


def event(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def runtime_dirs() -> list[Path]:
    """What Lambda's /var/runtime provides: boto3 and the Runtime Interface Client."""
    provided = install_runtime_provided(BundleTarget.host())
    missing = [name for name in RIC_MODULES if not list(provided.glob(f"{name}*"))]
    assert not missing, f"{provided} lacks {missing}: see RUNTIME_PACKAGES in infra/bundling.py"
    return [provided]


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("probe") / "task"
    shutil.copytree(FIXTURE, target)
    return target


@pytest.fixture
def make_pool(runtime_dirs: list[Path], code_dir: Path) -> Iterator[Callable[..., WorkerPool]]:
    pools: list[WorkerPool] = []

    def make(
        *,
        version: str = "1",
        handler: str = "probe.handler",
        environment: dict[str, str] | None = None,
        timeout_s: float = 30.0,
        max_workers: int = 4,
        log_sink: Callable[[str, str], None] | None = None,
        init_timeout_s: float = 10.0,
    ) -> WorkerPool:
        spec = FunctionSpec(
            function_name="probe",
            version=version,
            handler=handler,
            code_dir=code_dir,
            environment=environment or {},
            timeout_s=timeout_s,
            memory_mb=256,
            function_arn=ARN,
        )
        pool = WorkerPool(
            spec,
            runtime_dirs=runtime_dirs,
            base_env=BASE_ENV,
            max_workers=max_workers,
            log_sink=log_sink,
            init_timeout_s=init_timeout_s,
        )
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


# -- behaviour -----------------------------------------------------------------------------------


def test_worker_initialises_once_and_serves_later_invocations_warm(
    make_pool: Callable[..., WorkerPool], code_dir: Path
) -> None:
    pool = make_pool(timeout_s=12.0)

    first = pool.invoke(event(), invoked_qualifier="live", client_context='{"custom": {"app": "probe"}}')
    second = pool.invoke(event())

    assert (first.status, second.status) == ("ok", "ok")
    one, two = body(first), body(second)
    assert one["pid"] == two["pid"]
    assert (one["invocations"], two["invocations"]) == (1, 2)
    assert first.init_duration_ms is not None and second.init_duration_ms is None
    assert one["aws_request_id"] == first.request_id and first.executed_version == "1"
    assert one["function_version"] == "1" and one["memory_limit_in_mb"] == "256"
    assert one["invoked_function_arn"] == f"{ARN}:live" and two["invoked_function_arn"] == ARN
    assert 0 < one["remaining_ms"] <= 12_000
    assert one["client_custom"] == {"app": "probe"} and two["client_custom"] is None
    assert one["sys_path"][0] == str(code_dir)
    assert not [p for p in one["sys_path"] if "site-packages" in p]
    assert one["site_packages_modules"] == []
    env = one["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "probe" and env["AWS_LAMBDA_FUNCTION_VERSION"] == "1"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/probe"
    assert "[1]" in env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["LAMBDA_TASK_ROOT"] == str(code_dir) and env["_HANDLER"] == "probe.handler"
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["AWS_ENDPOINT_URL"] == BASE_ENV["AWS_ENDPOINT_URL"]
    assert first.function_error is None


def test_each_version_runs_with_its_own_environment(runtime_dirs: list[Path], code_dir: Path) -> None:
    def spec(version: str, environment: dict[str, str]) -> FunctionSpec:
        return FunctionSpec("probe", version, "probe.handler", code_dir, environment, 30.0, 128, ARN)

    v1 = spec("1", {"GREETING": "hello"})
    # A version's variables win over the base environment, but never over Lambda's reserved ones.
    v2 = spec("2", {"GREETING": "bonjour", "SHARED": "from-v2", "AWS_LAMBDA_FUNCTION_NAME": "spoofed"})
    runtime = FunctionRuntime(runtime_dirs=runtime_dirs, base_env=BASE_ENV)
    try:
        one = body(runtime.invoke(v1, event()))
        two = body(runtime.invoke(v2, event()))
        again = body(runtime.invoke(v1, event()))
    finally:
        runtime.close()

    assert (one["env"]["GREETING"], two["env"]["GREETING"]) == ("hello", "bonjour")
    assert (one["env"]["SHARED"], two["env"]["SHARED"]) == ("from-base", "from-v2")
    assert two["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "probe"
    assert (one["function_version"], two["function_version"]) == ("1", "2")
    assert one["pid"] != two["pid"]
    assert again["pid"] == one["pid"] and again["invocations"] == 2


def test_handler_exception_is_a_function_error_with_lambdas_error_document(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool()

    failed = pool.invoke(event(action="raise"))
    after = pool.invoke(event())

    assert failed.status == "function_error" and failed.function_error == "Unhandled"
    error = body(failed)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "probe was asked to fail"
    assert any("probe.py" in frame for frame in error["stackTrace"])
    assert after.status == "ok" and body(after)["invocations"] == 2  # the worker survives


def test_init_error_is_reported_and_retried_only_by_the_next_invocation(
    make_pool: Callable[..., WorkerPool], tmp_path: Path
) -> None:
    attempts = tmp_path / "init-attempts.log"
    pool = make_pool(handler="broken_init.handler", environment={"PROBE_INIT_LOG": str(attempts)})

    first = pool.invoke(event())

    assert first.status == "init_error" and first.function_error == "Unhandled"
    error = body(first)
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "probe cannot initialise"
    assert error["stackTrace"]
    assert pool.worker_pids() == []
    assert len(attempts.read_text().splitlines()) == 1  # no respawning in the background
    second = pool.invoke(event())
    assert second.status == "init_error"
    assert len(attempts.read_text().splitlines()) == 2
    with pytest.raises(WorkerInitError, match="probe cannot initialise"):
        pool.warm(1)


def test_an_init_over_its_limit_gets_the_functions_timeout_as_on_lambda(
    make_pool: Callable[..., WorkerPool],
) -> None:
    lines: list[str] = []
    pool = make_pool(
        handler="slow_init.handler",
        environment={"PROBE_INIT_SECONDS": "1.0"},
        init_timeout_s=0.2,
        timeout_s=20.0,
        log_sink=lambda _label, line: lines.append(line),
    )

    result = pool.invoke(event())

    assert result.status == "ok" and body(result) == {"served": True}
    assert any("Phase: init Status: timeout" in line for line in lines)


def test_an_init_over_both_limits_fails_its_request_with_init_timeout(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(
        handler="slow_init.handler",
        environment={"PROBE_INIT_SECONDS": "30"},
        init_timeout_s=0.2,
        timeout_s=0.5,
    )

    result = pool.invoke(event())

    assert result.status == "init_error"
    assert body(result)["errorType"] == "Runtime.InitTimeout"
    assert pool.worker_pids() == []


def test_timeout_returns_lambdas_message_and_replaces_the_worker(
    make_pool: Callable[..., WorkerPool], tmp_path: Path
) -> None:
    pool = make_pool(timeout_s=0.5)
    pid = body(pool.invoke(event()))["pid"]

    timed_out = pool.invoke(event(action="block", marker=str(tmp_path / "marker")))

    assert timed_out.status == "timeout" and timed_out.function_error == "Unhandled"
    error = body(timed_out)
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 0.50 seconds" in error["errorMessage"]
    assert timed_out.request_id in error["errorMessage"]
    wait_until(lambda: not process_alive(pid), what="the timed-out worker to die")
    after = pool.invoke(event())
    assert after.status == "ok" and body(after)["pid"] != pid and body(after)["invocations"] == 1


def test_worker_exiting_mid_request_is_a_crash_and_the_next_invocation_succeeds(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(timeout_s=30.0)
    pid = body(pool.invoke(event()))["pid"]

    crashed = pool.invoke(event(action="exit", code=3))

    assert crashed.status == "crashed" and crashed.function_error == "Unhandled"
    error = body(crashed)
    assert error["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 3" in error["errorMessage"]
    assert crashed.duration_ms < 10_000  # reported when the process died, not at the deadline
    after = pool.invoke(event())
    assert after.status == "ok" and body(after)["pid"] != pid


def test_worker_killed_from_outside_fails_its_request_at_once(
    make_pool: Callable[..., WorkerPool], tmp_path: Path
) -> None:
    pool = make_pool(timeout_s=60.0)
    marker = tmp_path / "in-flight"
    results: list[InvocationResult] = []
    caller = threading.Thread(
        target=lambda: results.append(pool.invoke(event(action="block", marker=str(marker))))
    )
    caller.start()
    wait_until(lambda: marker.exists() and marker.read_text() != "", what="the request to be in flight")
    pid = int(marker.read_text())

    os.kill(pid, signal.SIGKILL)
    caller.join(timeout=10)

    assert not caller.is_alive(), "the caller waited for the timeout instead of seeing the crash"
    (crashed,) = results
    assert crashed.status == "crashed"
    error = body(crashed)
    assert error["errorType"] == "Runtime.ExitError"
    assert "signal: killed" in error["errorMessage"]
    after = pool.invoke(event())
    assert after.status == "ok" and body(after)["pid"] != pid


def test_a_request_handed_to_a_worker_that_died_idle_is_run_by_another(
    make_pool: Callable[..., WorkerPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The moment between an idle worker's death and the pool noticing it, made permanent: the
    pool believes every worker alive. The runtime never took the request, so it is not failed:
    another worker runs it (as Lambda never sends a request to a dead environment)."""
    pool = make_pool()
    first = body(pool.invoke(event()))
    os.kill(first["pid"], signal.SIGKILL)
    wait_until(lambda: first["pid"] not in pool.worker_pids(), what="the Runtime API seeing the exit")
    monkeypatch.setattr(Worker, "alive", property(lambda self: not self._closed))

    after = pool.invoke(event())

    assert after.status == "ok", after.payload
    assert body(after)["pid"] != first["pid"]


def test_worker_killed_while_idle_is_replaced_and_its_api_closed(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool()
    first = body(pool.invoke(event()))
    port = int(first["env"]["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)[1])

    os.kill(first["pid"], signal.SIGKILL)
    wait_until(lambda: first["pid"] not in pool.worker_pids(), what="the pool to notice the exit")
    after = pool.invoke(event())

    assert after.status == "ok" and body(after)["pid"] != first["pid"]
    wait_until(lambda: port not in listening_ports(), what="the dead worker's Runtime API to close")


def test_concurrent_invocations_run_in_parallel_on_distinct_workers(
    make_pool: Callable[..., WorkerPool], tmp_path: Path
) -> None:
    parties = 3
    pool = make_pool(max_workers=parties)
    meeting = tmp_path / "meeting"
    meeting.mkdir()

    with ThreadPoolExecutor(parties) as executor:
        results = list(
            executor.map(
                lambda _: pool.invoke(event(action="meet", dir=str(meeting), parties=parties)), range(parties)
            )
        )

    assert [r.status for r in results] == ["ok"] * parties, [r.payload for r in results]
    assert len({body(r)["pid"] for r in results}) == parties
    assert sorted(pool.worker_pids()) == sorted(body(r)["pid"] for r in results)


def test_pool_never_exceeds_max_workers_and_callers_wait_for_an_idle_one(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(max_workers=2)

    with ThreadPoolExecutor(6) as executor:
        results = list(executor.map(lambda _: pool.invoke(event()), range(12)))

    assert {r.status for r in results} == {"ok"}
    assert 1 <= len({body(r)["pid"] for r in results}) <= 2
    assert len(pool.worker_pids()) <= 2


def test_warm_starts_workers_ahead_of_traffic(make_pool: Callable[..., WorkerPool]) -> None:
    pool = make_pool(max_workers=3)

    pool.warm(2)

    pids = pool.worker_pids()
    assert len(pids) == 2
    served = pool.invoke(event())
    assert served.init_duration_ms is None and body(served)["pid"] in pids


def test_close_leaves_no_process_and_no_listening_socket(make_pool: Callable[..., WorkerPool]) -> None:
    pool = make_pool(max_workers=2)
    pool.warm(2)
    pids = pool.worker_pids()
    with ThreadPoolExecutor(2) as executor:
        answers = [body(r) for r in executor.map(lambda _: pool.invoke(event()), range(2))]
    ports = {int(a["env"]["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)[1]) for a in answers}
    assert ports and ports <= listening_ports()

    pool.close()
    pool.close()  # idempotent

    wait_until(lambda: not any(process_alive(pid) for pid in pids), what="every worker to exit")
    wait_until(lambda: not ports & listening_ports(), what="every Runtime API port to close")
    assert pool.worker_pids() == []
    with pytest.raises(PoolClosedError):
        pool.invoke(event())


def test_worker_output_goes_to_the_log_sink(make_pool: Callable[..., WorkerPool]) -> None:
    lines: list[tuple[str, str]] = []
    pool = make_pool(version="4", log_sink=lambda label, line: lines.append((label, line)))

    result = pool.invoke(event())

    wait_until(
        lambda: ("probe:4", f"probe says hello to {result.request_id}") in lines,
        what="the handler's print in the log sink",
    )
    own = [line for label, line in lines if label == "probe:4"]
    assert any(line.startswith(f"REPORT RequestId: {result.request_id}") for line in own)


@pytest.mark.slow
def test_inference_bundle_answers_through_the_runtime_interface_client(
    runtime_dirs: list[Path], trained_model: tuple[Path, ModelMetadata], tmp_path: Path
) -> None:
    artifact_dir, metadata = trained_model
    bundle = build_bundle("inference", tmp_path / "inference", target=BundleTarget.host())
    compiled = set(bundle.path.rglob("*.pyc"))
    result, _ = predict_with_bundle(
        bundle.path,
        artifact_dir,
        metadata.sample_rows[0],
        runtime_dirs=runtime_dirs,
        base_env=BASE_ENV,
        qualifier="live",
        environment={"POWERTOOLS_TRACE_DISABLED": "true"},
    )

    assert result.status == "ok", result.payload
    response = body(result)
    assert response["statusCode"] == 200
    headers = response.get("headers") or {k: v[0] for k, v in response["multiValueHeaders"].items()}
    assert headers["X-Function-Version"] == "7"
    assert len(json.loads(response["body"])["predictions"]) == 1
    # The task root stays as built: the worker reads the bundled bytecode and writes none.
    assert set(bundle.path.rglob("*.pyc")) == compiled
