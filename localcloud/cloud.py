"""The whole system on one machine: moto for the AWS APIs, our runtime for functions and gateway."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from infra.bundling import BundleTarget, install_runtime_provided, shared_bundle
from localcloud.aws import AwsClients
from localcloud.event_sources import EventSources
from localcloud.functions.runtime import DEFAULT_IDLE_RECLAIM_S, FunctionRuntime
from localcloud.gateway import LocalGateway, api_from_deployment
from localcloud.lambda_api import LambdaFront
from localcloud.metrics import AlarmEvaluator, AlarmVerdict, MetricsPipeline
from localcloud.moto_process import MotoServer, free_port, start_moto_server
from localcloud.provision import ACCOUNT, Deployment
from localcloud.provision.provisioner import Provisioner
from localcloud.router import CodeStore, LambdaRouter
from localcloud.scheduler import Scheduler
from localcloud.snapshot import restore_snapshot, save_snapshot
from localcloud.subscriptions.client import STATUS_PATH
from localcloud.subscriptions.config import subscriptions_from
from localcloud.subscriptions.delivery import WINDOW_S, LogSubscriptions

REPO_ROOT = Path(__file__).resolve().parent.parent
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}


@dataclass
class LocalCloudSettings:
    state_dir: Path = REPO_ROOT / ".local-cloud"
    cdk_out: Path = REPO_ROOT / "cdk.out"
    region: str = "us-east-1"
    gateway_port: int = 0
    moto_port: int | None = None
    max_workers_per_version: int = 4
    resume: bool = True  # restore the snapshot the last stop saved (see localcloud/snapshot.py)
    save_on_stop: bool | None = None  # write a snapshot on stop; None: the same as `resume`
    extra_function_env: dict[str, str] = field(default_factory=dict)
    freeze: bool | None = None  # idle workers frozen as on Lambda; None: LOCALCLOUD_FREEZE (default on)
    idle_reclaim_s: float | None = DEFAULT_IDLE_RECLAIM_S  # idle workers shut down after this; None: never
    log_batch_window_s: float = WINDOW_S  # log subscriptions: a batch goes out this long after its first line


class LocalCloud:
    """Start with `with LocalCloud(settings) as cloud:`; everything it started is stopped on exit."""

    def __init__(self, settings: LocalCloudSettings | None = None) -> None:
        self.settings = settings or LocalCloudSettings()
        self.moto: MotoServer | None = None
        self.runtime: FunctionRuntime | None = None
        self.gateway: LocalGateway | None = None
        self.deployment: Deployment | None = None
        self.clients: AwsClients | None = None
        self.router: LambdaRouter | None = None
        self.metrics: MetricsPipeline | None = None
        self.alarms: AlarmEvaluator | None = None
        self.restored: list[str] = []
        self.lambda_front: LambdaFront | None = None
        self.scheduler: Scheduler | None = None
        self.event_sources: EventSources | None = None
        self.subscriptions: LogSubscriptions | None = None
        self._lambda_port = 0
        self._saved_env: dict[str, str | None] = {}
        # Set once provisioning (and the restore, when resuming) has finished: a stop before that
        # must not replace the last good snapshot with a half-restored state.
        self._state_complete = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> LocalCloud:
        settings = self.settings
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)  # an interpreter exiting past the caller's `finally` still stops it
        try:
            lambda_port = free_port()
            self._lambda_port = lambda_port
            self.moto = self._start_moto(settings.moto_port)
            self._export_endpoint()
            self.clients = AwsClients(region=settings.region, endpoint_url=self.moto.endpoint)
            self.deployment = self.provision()
            if settings.resume:
                self.restored = restore_snapshot(self.clients, self.deployment, self.snapshot_dir)
            self._state_complete = True
            self.metrics = MetricsPipeline(self.clients.cloudwatch.put_metric_data)
            self.metrics.start()
            self.alarms = AlarmEvaluator(self.clients.cloudwatch, self.metrics.store)
            self.alarms.start()
            target = BundleTarget.host()
            base_env = {
                **FAKE_CREDENTIALS,
                "AWS_ENDPOINT_URL": self.moto.endpoint,
                "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{lambda_port}",
                "AWS_CA_BUNDLE": str(self.moto.cafile),
                "AWS_REGION": settings.region,
                "AWS_DEFAULT_REGION": settings.region,
                # No X-Ray daemon runs locally: tracing stays off rather than emitting to nowhere.
                "POWERTOOLS_TRACE_DISABLED": "true",
                **settings.extra_function_env,
            }
            self.runtime = FunctionRuntime(
                runtime_dirs=[install_runtime_provided(target)],
                base_env=base_env,
                max_workers_per_version=settings.max_workers_per_version,
                log_sink=self._log_sink(),
                freeze=settings.freeze,
                idle_reclaim_s=settings.idle_reclaim_s,
            )
            code_store = CodeStore(settings.state_dir / "code", cafile=self.moto.cafile)
            for function in self.deployment.of_type("AWS::Lambda::Function"):
                if "code_sha256" in function.local:
                    code_store.register(function.local["code_sha256"], Path(function.local["code_dir"]))
            self.router = LambdaRouter(
                self.clients, self.runtime, code_store, on_invocation=self.metrics.record_invocation
            )
            # CloudWatch Logs subscription filters: matching function lines to their destination.
            self.subscriptions = LogSubscriptions(
                subscriptions_from(self.deployment),
                invoke=lambda function, qualifier, event: (
                    self._router().invoke(function, qualifier, event).result
                ),
                send_dead_letter=self._send_dead_letter,
                log=self._named_log("log-subscriptions"),
                window_s=settings.log_batch_window_s,
            ).start()
            self.lambda_front = LambdaFront(
                lambda function, qualifier, event: self._router().invoke(function, qualifier, event),
                moto_host=self.moto.host,
                moto_port=self.moto.port,
                cafile=str(self.moto.cafile),
                port=self._lambda_port,
                on_write=self.router.aliases.invalidate,
                local_routes={STATUS_PATH: self._subscription_status},
            )
            self.lambda_front.start()
            # This process's own Lambda calls pass the front too, so its alias writes drop the cache.
            self.clients.route_lambda_through(self.lambda_front.endpoint)
            self.scheduler = Scheduler(
                self.clients.client("events"),
                self.clients.client("stepfunctions"),
                lambda function, qualifier, event: self._router().invoke(function, qualifier, event),
                region=settings.region,
                account=ACCOUNT,
            )
            self.scheduler.start()
            self.gateway = LocalGateway(
                api_from_deployment(self.deployment),
                lambda function, qualifier, event: self._router().invoke(function, qualifier, event),
                port=settings.gateway_port,
            )
            self.gateway.start()
            # SQS event source mappings (the shadow queue -> the shadow function), through the router.
            self.event_sources = EventSources.from_deployment(
                self.deployment,
                sqs=self.clients.sqs,
                invoke=lambda function, qualifier, event: (
                    self._router().invoke(function, qualifier, event).result
                ),
                log=self._named_log("event-sources"),
            ).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_moto(self, port: int | None) -> MotoServer:
        moto = start_moto_server(
            tls_dir=self.settings.state_dir / "tls",
            port=port,
            log_path=self.settings.state_dir / "moto.log",
            # moto's Step Functions interpreter calls AWS at http://localhost:$MOTO_PORT: our front.
            extra_env={"MOTO_PORT": str(self._lambda_port)},
        )
        moto.configure({"stepfunctions": {"execute_state_machine": True}})
        return moto

    def restart_aws(self, *, while_down: Callable[[], None] | None = None) -> list[str]:
        """Restart moto as a crash and recovery would: its memory is lost, and what comes back on the
        same port is the state saved just before (the snapshot `stop` also writes), provisioned and
        restored. `while_down` runs while nothing listens (e.g. until a client has given up).
        Function workers, gateway and pollers keep running and reconnect. Returns what was restored."""
        assert self.moto is not None and self.clients is not None
        self.save()
        port = self.moto.port
        self.moto.stop()
        self.moto = None
        if while_down is not None:
            while_down()
        self._state_complete = False
        self.moto = self._start_moto(port)
        self.deployment = self.provision()
        self.restored = restore_snapshot(self.clients, self.deployment, self.snapshot_dir)
        self._state_complete = True
        return self.restored

    def provision(self) -> Deployment:
        """Create (or find) every resource of the synthesized stacks; idempotent."""
        assert self.clients is not None
        target = BundleTarget.host()

        def build(function: str) -> Path:
            return shared_bundle(function, target)

        provisioner = Provisioner(
            self.clients, cdk_out=self.settings.cdk_out, state_dir=self.settings.state_dir, code_builder=build
        )
        return provisioner.provision()

    @property
    def snapshot_dir(self) -> Path:
        return self.settings.state_dir / "snapshot"

    def save(self) -> None:
        """Write the state a later start restores (S3 objects, versions, aliases, table items)."""
        if self.moto is not None and self.clients is not None and self.deployment is not None:
            save_snapshot(self.clients, self.deployment, self.snapshot_dir)

    def stop(self) -> None:
        """Save the state (when moto still answers), then stop everything this cloud started.
        Idempotent; every step runs even if an earlier one failed, and nothing here writes to
        stdout, which may be a closed pipe by now."""
        atexit.unregister(self.stop)
        save = self.settings.resume if self.settings.save_on_stop is None else self.settings.save_on_stop
        if self.subscriptions is not None and self.runtime is not None:  # their writes go into the snapshot
            _attempt("deliver the logged lines", lambda: self.wait_logs_delivered(10.0))
        if save and self._state_complete:
            _attempt("save a snapshot", self.save)
        if self.event_sources is not None:  # no new batches; one in flight ends with the runtime
            _attempt("stop the event sources", self.event_sources.signal_stop)
        if self.gateway is not None:
            _attempt("stop the gateway", self.gateway.stop)
            self.gateway = None
        if self.scheduler is not None:
            _attempt("stop the scheduler", self.scheduler.stop)
            self.scheduler = None
        if self.lambda_front is not None:
            _attempt("stop the Lambda front", self.lambda_front.stop)
            self.lambda_front = None
        if self.subscriptions is not None:  # what was logged since reaches its destination
            _attempt("deliver the logged lines", lambda: self.wait_logs_delivered(10.0))
        if self.runtime is not None:
            _attempt("stop the function workers", self.runtime.close)
            self.runtime = None
        if self.subscriptions is not None:  # the last lines (to the dead-letter queue: no workers)
            _attempt("stop the log subscriptions", self.subscriptions.stop)
            self.subscriptions = None
        if self.event_sources is not None:
            _attempt("join the event sources", self.event_sources.join)
            self.event_sources = None
        if self.alarms is not None:
            _attempt("stop the alarm evaluator", self.alarms.stop)
            self.alarms = None
        if self.metrics is not None:
            _attempt("stop the metrics pipeline", self.metrics.stop)
            self.metrics = None
        if self.moto is not None:
            _attempt("stop moto", self.moto.stop)
            self.moto = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- what callers need -------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    @property
    def endpoint(self) -> str:
        assert self.moto is not None
        return self.moto.endpoint

    @property
    def api_key(self) -> str | None:
        assert self.gateway is not None
        return next(iter(sorted(self.gateway.api.api_keys)), None)

    def environment(self) -> dict[str, str]:
        """What a shell needs to point boto3 and `modelctl` at this local cloud."""
        assert self.moto is not None
        return {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{self._lambda_port}",
            "AWS_CA_BUNDLE": str(self.moto.cafile),
            "AWS_DEFAULT_REGION": self.settings.region,
        }

    def serving_function(self) -> tuple[str, str]:
        """(function name, alias name) behind the API's routes."""
        assert self.gateway is not None
        routes = self.gateway.api.routes
        # The inference routes invoke an alias; GET /predictions/{id} invokes its lookup function.
        route = next((r for r in routes if r.qualifier != "$LATEST" and not r.qualifier.isdigit()), routes[0])
        return route.function, route.qualifier

    def evaluate_alarms(self) -> list[AlarmVerdict]:
        """Ship pending metrics and evaluate every alarm now (it also runs every few seconds)."""
        assert self.metrics is not None and self.alarms is not None
        self.metrics.flush()
        return self.alarms.evaluate()

    def wait_logs_delivered(self, timeout_s: float = 30.0) -> bool:
        """Wait until every line the functions have written so far has been read from their workers
        and delivered by the log subscriptions (or dead-lettered); False if `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        if self.runtime is not None and not self.runtime.wait_logs_drained(timeout_s):
            return False
        if self.subscriptions is None:
            return True
        return self.subscriptions.wait_delivered(max(0.0, deadline - time.monotonic()))

    def _subscription_status(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """GET /_localcloud/log-subscriptions[?wait=seconds] on the local Lambda API."""
        wait_s = min(600.0, float(query.get("wait", ["0"])[0] or 0))
        delivered = self.wait_logs_delivered(wait_s)
        report = self.subscriptions.report() if self.subscriptions is not None else {}
        return {"delivered": delivered, **report}

    def _send_dead_letter(self, queue_arn: str, body: str, attributes: dict[str, str]) -> None:
        """A failed asynchronous event to its dead-letter queue, with Lambda's message attributes."""
        assert self.clients is not None
        url = self.clients.sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
        self.clients.sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={
                name: {"DataType": "Number" if name == "ErrorCode" else "String", "StringValue": value}
                for name, value in attributes.items()
            },
        )

    def _router(self) -> LambdaRouter:
        assert self.router is not None
        return self.router

    def _export_endpoint(self) -> None:
        """boto3 in this process (and in `modelctl` run from it) talks to moto, never to AWS."""
        values = self.environment()
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _named_log(self, name: str) -> Callable[[str], None]:
        sink = self._log_sink()
        return lambda line: sink(name, line)

    def _log_sink(self) -> Callable[[str, str], None]:
        """Function output goes to .local-cloud/logs/<function>:<version>.log, its EMF lines
        become metrics, as CloudWatch Logs turns them into metrics on AWS, and the log
        subscriptions take every line (queued, so the worker's pipe never waits on a delivery)."""
        logs = self.settings.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        handles: dict[str, TextIO] = {}
        lock = threading.Lock()
        metrics = self.metrics

        def sink(label: str, line: str) -> None:
            if metrics is not None:
                metrics.record_log_line(line)
            subscriptions = self.subscriptions
            if subscriptions is not None:
                subscriptions.offer(label, line)
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
            with lock:
                handle = handles.get(safe)
                if handle is None:
                    handle = handles[safe] = (logs / f"{safe}.log").open("a", encoding="utf-8", buffering=1)
                handle.write(line.rstrip("\n") + "\n")

        return sink


def _attempt(what: str, step: Callable[[], object]) -> None:
    """Run one shutdown step; a failure is reported on stderr (if it still takes writes) and the
    shutdown goes on."""
    try:
        step()
    except Exception as exc:
        with contextlib.suppress(OSError, ValueError):
            print(f"local cloud: could not {what}: {exc}", file=sys.stderr, flush=True)
