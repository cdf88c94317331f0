"""Bundle size: the inference bundle as deployed, for arm64 and x86_64, against a naive pip install.

"As deployed" is what `cdk synth` stages: `infra.bundling.build_bundle` for the Lambda platform and
the Python version of cdk.json's `context.serving.python_version`. The baseline is the same
requirements installed by pip for the same platform with nothing removed (`--no-compile`, since
pip here would compile bytecode for this interpreter, not Lambda's). Sizes are measured by
`infra.bundling.measure` (file bytes, and a deflate-6 zip as uploaded); MB = 10^6 bytes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.core import REPO_ROOT, BenchResult, Measurement, baseline, judge, log, now_iso
from bench.model import serving_context
from bench.suite import Suite

NAME = "bundle_size"
TITLE = "inference bundle size, as deployed"
TARGET_UNZIPPED_MB = 100.0
TARGET_ZIPPED_MB = 40.0
WORK_DIR = REPO_ROOT / ".build" / "bench"
MB = 1e6


def naive_install(architecture: str, python_version: str) -> Path:
    """pip install of the function's requirements for the platform, unslimmed; cached by inputs."""
    from infra.bundling import FUNCTIONS_DIR, BundleTarget, pip_command

    target = BundleTarget(architecture, python_version)
    requirements = FUNCTIONS_DIR / "inference" / "requirements.txt"
    key = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    destination = WORK_DIR / f"naive-{target.slug}-{key}"
    if destination.is_dir():
        return destination
    staging = destination.with_name(destination.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    command = pip_command(target, staging, ["-r", str(requirements)])
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"naive pip install failed for {target.slug}: {result.stderr.strip()[-1500:]}")
    staging.replace(destination)
    return destination


def largest_entries(root: Path, limit: int = 8) -> list[dict[str, Any]]:
    sizes: dict[str, int] = {}
    for path in root.rglob("*"):
        if path.is_file():
            top = path.relative_to(root).parts[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    ordered = sorted(sizes.items(), key=lambda item: item[1], reverse=True)[:limit]
    return [{"path": name, "mb": round(size / MB, 1)} for name, size in ordered]


def run(suite: Suite) -> BenchResult:
    from infra.bundling import BundleTarget, build_bundle, measure

    started = time.monotonic()
    python_version = str(serving_context()["python_version"])
    measurements: list[Measurement] = []
    details: dict[str, Any] = {"python_version": python_version, "mb": "10^6 bytes"}
    for architecture in ("arm64", "x86_64"):
        target = BundleTarget(architecture, python_version)
        log(f"{NAME}: building the {target.slug} bundle and a naive install")
        report = build_bundle("inference", WORK_DIR / f"bundle-{target.slug}", target=target)
        naive_dir = naive_install(architecture, python_version)
        naive_unzipped, naive_zipped, naive_files = measure(naive_dir)
        ours_unzipped, ours_zipped = report.unzipped_bytes / MB, report.zipped_bytes / MB
        measurements += [
            Measurement(
                key=f"{architecture}_unzipped",
                what=f"bundle {target.slug}, unzipped",
                unit="MB",
                samples=1,
                median=ours_unzipped,
                baselines=(baseline("naive pip install", naive_unzipped / MB, ours_unzipped, "MB"),),
                target=judge(
                    f"<= {TARGET_UNZIPPED_MB:g} MB", [("unzipped", ours_unzipped <= TARGET_UNZIPPED_MB)]
                ),
                extra={"files": report.files, "naive_files": naive_files},
            ),
            Measurement(
                key=f"{architecture}_zipped",
                what=f"bundle {target.slug}, zipped",
                unit="MB",
                samples=1,
                median=ours_zipped,
                baselines=(baseline("naive pip install", naive_zipped / MB, ours_zipped, "MB"),),
                target=judge(f"<= {TARGET_ZIPPED_MB:g} MB", [("zipped", ours_zipped <= TARGET_ZIPPED_MB)]),
            ),
        ]
        details[target.slug] = {
            "largest_entries": largest_entries(report.path),
            "naive_largest_entries": largest_entries(naive_dir),
        }
    return BenchResult(
        name=NAME,
        title=TITLE,
        status="ok",
        measurements=tuple(measurements),
        details=details,
        wall_s=time.monotonic() - started,
        measured_at=now_iso(),
    )
