"""`python -m localcloud up`: run the whole system locally until Ctrl-C (what `make local` runs)."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import shutil
import signal
import sys
import threading
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from common.layout import METADATA_FILE
from localcloud.cloud import LocalCloud, LocalCloudSettings
from localcloud.template import TemplateError


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


def up(args: argparse.Namespace) -> int:
    console = Console()
    settings = LocalCloudSettings(gateway_port=args.port, resume=not args.fresh)
    if args.fresh and (settings.state_dir / "snapshot").exists():
        shutil.rmtree(settings.state_dir / "snapshot")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with console.status("starting moto, building bundles, provisioning the synthesized stacks"):
            cloud = LocalCloud(settings).start()
    except TemplateError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    try:
        deployment = cloud.deployment
        assert deployment is not None
        console.print(
            Panel(_examples(cloud, _sample_row(cloud)), title="local cloud is up (Ctrl-C stops it)")
        )
        for line in cloud.restored:
            console.print(f"restored from the last run: {line}")
        console.print(f"state and function logs: {settings.state_dir}/ (saved on stop; --fresh starts clean)")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        console.print("stopping: gateway, function workers, moto")
        cloud.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start, provision and serve until Ctrl-C")
    up_parser.add_argument("--port", type=int, default=8080, help="gateway port on 127.0.0.1 (default 8080)")
    up_parser.add_argument("--fresh", action="store_true", help="ignore the state the last run saved")
    up_parser.set_defaults(run=up)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
