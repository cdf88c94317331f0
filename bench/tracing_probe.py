"""The warm handler with the opt-in Powertools Tracer (`TRACER_SDK_SUBSEGMENTS=true`) and X-Ray
tracing active (`Tracing.ACTIVE`), vs the same with the SDK disabled. (By default the handler loads
no SDK: Lambda records the invocation's segment itself, so tracing adds nothing in the process.)

Run as a child process by bench.warm_handler (`python -m bench.tracing_probe`), because the X-Ray
SDK decides at import whether it runs in Lambda: here it sees Lambda's variables
(`LAMBDA_TASK_ROOT`, a per-request `_X_AMZN_TRACE_ID` with `Sampled=1`) and sends its segments by
UDP to `AWS_XRAY_DAEMON_ADDRESS`, a loopback socket this process drains, as the X-Ray daemon would.
Traced and untraced calls are interleaved in the same process by switching the SDK's global
enabled flag, which is what `POWERTOOLS_TRACE_DISABLED=true` does at init.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import time
import uuid
from typing import Any

from common.layout import METADATA_FILE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--block", type=int, default=100)
    args = parser.parse_args(argv)

    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.setblocking(False)
    os.environ.update(
        {
            "LAMBDA_TASK_ROOT": os.getcwd(),
            "AWS_LAMBDA_FUNCTION_NAME": "inference",
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
            "_X_AMZN_TRACE_ID": _trace_header(),
        }
    )
    os.environ.pop("POWERTOOLS_TRACE_DISABLED", None)
    os.environ.pop("AWS_XRAY_SDK_ENABLED", None)

    import aws_xray_sdk

    from bench.core import Candidate, time_interleaved
    from bench.inprocess import BenchContext, devnull, load_handler, predict_event
    from bench.model import served_artifact_dir

    artifact = served_artifact_dir()
    row = json.loads((artifact / METADATA_FILE).read_text())["sample_rows"][0]
    sink = devnull()
    module = load_handler(
        artifact, sink, tracing_disabled=False, extra_env={"TRACER_SDK_SUBSEGMENTS": "true"}
    )
    event, context = predict_event([row]), BenchContext()
    received = [0]

    def drain() -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                daemon.recv(65536)
                received[0] += 1

    def call() -> object:
        os.environ["_X_AMZN_TRACE_ID"] = _trace_header()  # Lambda sets a new one per invocation
        answer = module.handler(event, context)
        drain()
        return answer

    def tracing_on() -> None:
        aws_xray_sdk.global_sdk_config.set_sdk_enabled(True)

    def tracing_off() -> None:
        aws_xray_sdk.global_sdk_config.set_sdk_enabled(False)

    candidates = [
        Candidate("handler_traced", call, enter=tracing_on, exit=tracing_off),
        Candidate("handler_untraced", call, enter=tracing_off),
    ]
    with contextlib.redirect_stdout(sink):
        tracing_on()
        status = call()
        timings = time_interleaved(candidates, rounds=args.rounds, block=args.block, warmup=100)
    summary: dict[str, Any] = {"received_segments": received[0], "first_answer_ok": _ok(status)}
    for name, timing in timings.items():
        s = timing.summary()
        summary[name] = {"samples": s.samples, "median": s.median, "p99": s.p99, "cpu": timing.cpu_median()}
    print(json.dumps(summary))
    return 0


def _ok(answer: object) -> bool:
    return isinstance(answer, dict) and answer.get("statusCode") == 200


def _trace_header() -> str:
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=1"


if __name__ == "__main__":
    sys.exit(main())
