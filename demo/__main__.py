"""`python -m demo` (what `make demo` runs): start a fresh local cloud, take the tour, stop, exit 0."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import urllib.request
from pathlib import Path

from rich.console import Console

from common.layout import METADATA_FILE
from demo.tour import TourFailedError, main_panel, run_tour
from localcloud.cloud import REPO_ROOT, LocalCloud, LocalCloudSettings
from localcloud.template import TemplateError

DEMO_STATE = REPO_ROOT / ".local-cloud" / "demo"


def _served_model(cloud: LocalCloud, artifacts_root: Path) -> Path:
    """The artifact folder of the model the stack serves, as the API itself reports it."""
    headers = {"x-api-key": cloud.api_key} if cloud.api_key else {}
    request = urllib.request.Request(f"{cloud.api_url}/health", headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        version = str(json.loads(response.read())["model_version"])
    folder = artifacts_root / version
    if not (folder / METADATA_FILE).is_file():
        raise TourFailedError(f"the API serves {version}, but {folder} has no metadata.json")
    return folder


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`, which stops the local cloud


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument(
        "--state-dir", type=Path, default=DEMO_STATE, help="wiped at start (default %(default)s)"
    )
    parser.add_argument("--artifacts", type=Path, default=REPO_ROOT / "model_artifacts")
    parser.add_argument("--cdk-out", type=Path, default=REPO_ROOT / "cdk.out", help="synthesized stacks")
    args = parser.parse_args(argv)
    console = Console()
    state_dir: Path = args.state_dir
    settings = LocalCloudSettings(state_dir=state_dir / "cloud", cdk_out=args.cdk_out, resume=False)
    try:
        with console.status("starting a fresh local cloud (moto, bundles, provisioning, gateway)"):
            cloud = LocalCloud(settings).start()
    except TemplateError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    try:
        console.print(main_panel(cloud))
        run_tour(
            cloud, artifacts=_served_model(cloud, args.artifacts), workdir=state_dir / "work", console=console
        )
    except TourFailedError as exc:
        console.print(f"[red]demo failed:[/red] {exc}", highlight=False)
        return 1
    finally:
        console.print("stopping the local cloud")
        cloud.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
