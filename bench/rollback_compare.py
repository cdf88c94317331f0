"""`modelctl rollback` of two commits side by side, against one local cloud, under the rollback
bench's traffic (bench/rollback.py): which one reaches the first old-version response sooner.

    python -m bench.rollback_compare --base 0b5c574 --rounds 8

`--base`'s `modelctl/` and `release/` are extracted (git archive) to a temporary folder and put first on
PYTHONPATH; the working tree's is the other. Each round rolls back once with each, in alternating
order (the machine's load drifts; alternating spreads it over both), each run timed as the bench
times it: from the command's start to the first response served by the old version, and to its
exit. Prints the medians and every run; writes nothing.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from bench.cloud import BenchCloud
from bench.core import REPO_ROOT, log
from bench.model import served_artifact_dir
from bench.rollback import CLIENTS, Traffic, move_traffic_to, publish_second_version
from common.layout import METADATA_FILE

PACKAGES = ("modelctl", "release")


def extract(ref: str, into: Path) -> Path:
    """`ref`'s CLI packages (modelctl/, and release/ where `ref` has it) under `into`, compiled as an
    install leaves them."""
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", ref, *PACKAGES],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, *listed], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    for package in listed:
        compileall.compile_dir(into / package, quiet=1)
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rollback_compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--base", default="HEAD", help="the commit to compare the working tree with")
    parser.add_argument("--rounds", type=int, default=8, help="rollbacks with each (default 8)")
    args = parser.parse_args(argv)

    for package in PACKAGES:
        compileall.compile_dir(REPO_ROOT / package, quiet=1)
    script = Path(sys.executable).with_name("modelctl")
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "modelctl.cli"]
    bench_cloud = BenchCloud()
    with tempfile.TemporaryDirectory(prefix="rollback-base-") as tmp:
        base_dir = extract(args.base, Path(tmp))
        cloud = bench_cloud.get()
        try:
            assert cloud.clients is not None
            function, alias = cloud.serving_function()
            old, new = publish_second_version(cloud)
            env = {
                **os.environ,
                **cloud.environment(),
                "MODELCTL_LOCAL_DEPLOYMENT": str(cloud.settings.state_dir / "deployment.json"),
            }
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            variants = {
                args.base: {**env, "PYTHONPATH": str(base_dir)},
                "working tree": {k: v for k, v in env.items() if k != "PYTHONPATH"},
            }
            row = json.loads((served_artifact_dir() / METADATA_FILE).read_text())["sample_rows"][0]
            traffic = Traffic(
                f"{cloud.api_url}/predict", cloud.api_key or "", json.dumps({"instances": [row]}).encode()
            )
            traffic.start(CLIENTS)
            command = [*entry, "rollback", "--to", old, "--function", function, "--alias", alias]
            command += ["--reason", "bench: rollback comparison"]

            def trial(variant_env: dict[str, str]) -> tuple[float, float]:
                move_traffic_to(cloud, traffic, new)
                started = time.monotonic()
                done = subprocess.run(command, cwd=REPO_ROOT, env=variant_env, capture_output=True, text=True)
                ended = time.monotonic()
                if done.returncode != 0:
                    raise RuntimeError(done.stderr.strip()[-500:])
                first_old = traffic.wait_for(old, started)
                time.sleep(0.2)
                return first_old - started, ended - started

            results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
            order: list[tuple[str, dict[str, str]]] = list(variants.items())
            try:
                for round_ in range(args.rounds):
                    for name, variant_env in order if round_ % 2 == 0 else order[::-1]:
                        results[name].append(trial(variant_env))
                    log(f"round {round_ + 1}/{args.rounds}, load {os.getloadavg()[0]:.1f}")
            finally:
                traffic.stop()
        finally:
            bench_cloud.close()
    report(results, lost=len(traffic.errors))
    return 0


def report(results: dict[str, list[tuple[float, float]]], *, lost: int) -> None:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:,.0f}"

    for name, runs in results.items():
        to_old = statistics.median(r[0] for r in runs)
        whole = statistics.median(r[1] for r in runs)
        print(f"{name}: to the first old-version response {ms(to_old)} ms median, whole run {ms(whole)} ms")
        print(
            "   runs (to first old response / whole run, ms):", ", ".join(f"{ms(a)}/{ms(b)}" for a, b in runs)
        )
    print(f"requests lost: {lost}; load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
