"""A local cloud for the benchmarks that need one: synthesized stacks, moto, workers, gateway.

As tests/e2e/conftest.py does: the real app is synthesized (cdk.json's context, function bundling
skipped: the local cloud builds its own bundles for this machine) into a temporary cdk.out, in a
child process so the jsii/node runtime does not stay in the benchmark process. The state folder
is `.build/bench/local-cloud/` (bundles are rebuilt only when the sources change), and nothing is
resumed from a previous run.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.core import REPO_ROOT, log

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

STATE_DIR = REPO_ROOT / ".build" / "bench" / "local-cloud"

SYNTH = r"""
import json, sys
import aws_cdk as cdk
import app as cdk_app
context = json.loads(open("cdk.json").read())["context"]
context.update({"aws:cdk:bundling-stacks": [], "serving.model_artifacts_dir": sys.argv[2]})
cdk_app.build_app(cdk.App(context=context, outdir=sys.argv[1])).synth()
"""


def synthesize(outdir: Path, artifacts_dir: Path) -> Path:
    result = subprocess.run(
        [sys.executable, "-c", SYNTH, str(outdir), str(artifacts_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cdk synth failed: {result.stderr.strip()[-2000:]}")
    return outdir


class BenchCloud:
    """Start lazily with `get()`; `close()` stops everything it started."""

    def __init__(self) -> None:
        self._cloud: LocalCloud | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def get(self) -> LocalCloud:
        if self._cloud is None:
            from bench.model import served_artifact_dir
            from localcloud.cloud import LocalCloud, LocalCloudSettings

            self._tmp = tempfile.TemporaryDirectory(prefix="bench-cdk-out-")
            log("local cloud: synthesizing the app")
            cdk_out = synthesize(Path(self._tmp.name), served_artifact_dir().parent)
            wanted: dict[str, Any] = {"state_dir": STATE_DIR, "cdk_out": cdk_out, "gateway_port": 0}
            known = {f.name for f in dataclasses.fields(LocalCloudSettings)}
            if "resume" in known:
                wanted["resume"] = False
            log("local cloud: starting moto, provisioning, gateway")
            self._cloud = LocalCloud(LocalCloudSettings(**wanted)).start()
        return self._cloud

    @property
    def started(self) -> bool:
        return self._cloud is not None

    def close(self) -> None:
        if self._cloud is not None:
            self._cloud.stop()
            self._cloud = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
