"""`python -m localcloud up`: run the whole system locally until told to stop (what `make local` runs).

However it is told to stop, it stops the same orderly way: Ctrl-C (SIGINT), SIGTERM, SIGHUP (the
terminal closed), or its stdout closing (the reader of a pipe such as `| tee local.log` has gone).
The snapshot is saved, then the gateway, the function workers, the pollers and moto are stopped,
and nothing is left listening. A failure while starting stops whatever had started. Nothing on the
way out may fail because stdout or stderr no longer take writes: with `make local 2>&1 | tee`,
Ctrl-C reaches tee too, and a print to its dead pipe must not abort the shutdown. Should this
process die without any of that (SIGKILL), its guardian (localcloud/guardian.py) kills the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any

from rich.console import Console
from rich.panel import Panel

from common.layout import METADATA_FILE
from localcloud.cloud import LocalCloud, LocalCloudSettings
from localcloud.subscriptions.client import STATUS_PATH
from localcloud.template import TemplateError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
ENDPOINTS_FILE = "endpoints.json"  # in the state dir while the cloud is up: where to reach it
STDOUT_CHECK_INTERVAL_S = 0.5


def _examples(cloud: LocalCloud, sample: list[float] | None) -> str:
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in cloud.environment().items())
    key_header = f" -H 'x-api-key: {cloud.api_key}'" if cloud.api_key else ""
    body = json.dumps({"instances": [sample or []]})
    function, alias = cloud.serving_function()
    return "\n".join(
        [
            f"API:        {cloud.api_url}",
            f"AWS API:    {cloud.endpoint}   (moto; boto3 and modelctl use it via AWS_ENDPOINT_URL)",
            f"function:   {function}   alias: {alias}",
            "",
            "Predict:",
            f"  curl -s {cloud.api_url}/predict -H 'Content-Type: application/json'{key_header} \\",
            f"       -d '{body}'",
            "Health:",
            f"  curl -s {cloud.api_url}/health{key_header}",
            "In another shell, point the AWS SDK and modelctl here:",
            f"  export {env}",
            f"  aws lambda get-alias --function-name {function} --name {alias}   # or modelctl status",
        ]
    )


def _sample_row(cloud: LocalCloud) -> list[float] | None:
    models = sorted(Path("model_artifacts").glob(f"*/{METADATA_FILE}"))
    if not models:
        return None
    rows = json.loads(models[-1].read_text()).get("sample_rows") or [None]
    return rows[0] if isinstance(rows[0], list) else None


class StopRequested(BaseException):
    """Raised in the main thread by the first stop signal, wherever it is (starting or serving)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP all become one `StopRequested`; once stopping, they are ignored,
    so a second Ctrl-C cannot cut the shutdown (and the snapshot) short."""

    def __init__(self) -> None:
        self.stopping = False
        for number in STOP_SIGNALS:
            signal.signal(number, self._handle)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.stopping:
            return
        self.stopping = True
        raise StopRequested(signal.Signals(number).name)


def stream_closed(fd: int) -> bool:
    """Whether writes to `fd` can no longer arrive: a pipe whose reader has gone (POLLERR), a
    terminal that hung up (POLLHUP), or a descriptor that is not open (POLLNVAL)."""
    poller = select.poll()
    poller.register(fd, 0)  # no events asked for: only the error conditions are reported
    return any(events & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, events in poller.poll(0))


def silence_closed_streams() -> None:
    """Point a closed stdout or stderr at /dev/null, so that later writes (ours, a library's, the
    interpreter's final flush) succeed instead of raising BrokenPipeError."""
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            if stream_closed(fd):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, fd)
                os.close(devnull)


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Rich's own answer is `SystemExit(1)`, which would skip the shutdown: report it instead."""
        self.quiet = True
        raise BrokenPipeError


class Output:
    """The console, turned silent (never raising) once stdout stops taking writes."""

    def __init__(self, file: IO[str] | None = None) -> None:
        self.console = _Console(file=file)
        self.closed = False

    def print(self, *objects: Any) -> None:
        if self.closed:
            return
        try:
            self.console.print(*objects)
            self.console.file.flush()
        except (OSError, ValueError):
            self.closed = True
            silence_closed_streams()

    @contextlib.contextmanager
    def status(self, message: str) -> Iterator[None]:
        if self.closed or not self.console.is_terminal:
            self.print(message)
            yield
            return
        try:
            with self.console.status(message):
                yield
        except (OSError, ValueError) as exc:
            if not isinstance(exc, OSError) or stream_closed(1):
                self.closed = True
                silence_closed_streams()
                return
            raise

    def gone(self) -> bool:
        return self.closed or stream_closed(1)


def write_endpoints(cloud: LocalCloud, path: Path) -> None:
    """Where this cloud listens, for tools and tests (removed on stop)."""
    assert cloud.moto is not None and cloud.gateway is not None
    environment = cloud.environment()
    lambda_endpoint = environment["AWS_ENDPOINT_URL_LAMBDA"]
    document = {
        "pid": os.getpid(),
        "api_url": cloud.api_url,
        "api_key": cloud.api_key,
        "environment": environment,
        "ports": {
            "gateway": cloud.gateway.port,
            "aws": cloud.moto.port,
            "lambda": int(lambda_endpoint.rsplit(":", 1)[1]),
        },
        "moto_pid": cloud.moto.process.pid,
        # GET it with ?wait=<seconds>: everything logged so far delivered (localcloud/subscriptions/)
        "log_subscriptions": f"{lambda_endpoint}{STATUS_PATH}",
    }
    path.write_text(json.dumps(document, indent=1))


def serve_until_stopped(out: Output) -> str:
    """Block until a stop signal (raised as StopRequested) or until stdout closes."""
    while not out.gone():
        time.sleep(STDOUT_CHECK_INTERVAL_S)
    return "stdout closed"


def up(args: argparse.Namespace) -> int:
    signals = StopSignals()  # before anything starts, so no signal can leave a child behind
    out = Output()
    defaults = LocalCloudSettings()
    settings = LocalCloudSettings(
        gateway_port=args.port,
        resume=not args.fresh,
        save_on_stop=True,
        state_dir=args.state_dir or defaults.state_dir,
        cdk_out=args.cdk_out or defaults.cdk_out,
    )
    if args.fresh and (settings.state_dir / "snapshot").exists():
        shutil.rmtree(settings.state_dir / "snapshot")
    endpoints = settings.state_dir / ENDPOINTS_FILE
    cloud = LocalCloud(settings)
    code = 0
    reason = "an error while starting"
    try:
        with out.status("starting moto, building bundles, provisioning the synthesized stacks"):
            cloud.start()
        write_endpoints(cloud, endpoints)
        out.print(Panel(_examples(cloud, _sample_row(cloud)), title="local cloud is up (Ctrl-C stops it)"))
        for line in cloud.restored:
            out.print(f"restored from the last run: {line}")
        out.print(f"state and function logs: {settings.state_dir}/ (saved on stop; --fresh starts clean)")
        reason = serve_until_stopped(out)
    except StopRequested as stop:
        reason = stop.reason
    except TemplateError as exc:
        out.print(f"[red]error:[/red] {exc}")
        code = 1
    finally:
        signals.stopping = True
        silence_closed_streams()
        out.print(f"stopping ({reason}): saving the state, then gateway, function workers, moto")
        cloud.stop()
        endpoints.unlink(missing_ok=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start, provision and serve until Ctrl-C")
    up_parser.add_argument("--port", type=int, default=8080, help="gateway port on 127.0.0.1 (default 8080)")
    up_parser.add_argument("--fresh", action="store_true", help="ignore the state the last run saved")
    up_parser.add_argument("--state-dir", type=Path, help="state, logs and snapshot (default .local-cloud/)")
    up_parser.add_argument("--cdk-out", type=Path, help="the synthesized cloud assembly (default cdk.out/)")
    up_parser.set_defaults(run=up)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    finally:
        silence_closed_streams()  # the interpreter's last flush must not fail on a dead pipe


if __name__ == "__main__":
    sys.exit(main())
