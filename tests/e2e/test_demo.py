"""`make demo` end to end: the tour as its own process, on its own fresh local cloud, exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.model.metadata import ModelMetadata
from localcloud.cloud import REPO_ROOT


@pytest.mark.slow
@pytest.mark.timeout(1260)  # the tour's own limit (1200 s) decides, with its output, not pytest's default
def test_the_tour_passes_every_step(
    cloud_assembly: Path, trained_model: tuple[Path, ModelMetadata], tmp_path: Path
) -> None:
    artifact_dir, _ = trained_model
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "demo",
            "--state-dir",
            str(tmp_path / "demo"),
            "--cdk-out",
            str(cloud_assembly),
            "--artifacts",
            str(artifact_dir.parent),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-5000:]
    assert "make demo: every step passed" in output
    for step in (
        "1. live traffic",
        "2. shadow",
        "3. canary",
        "4. a flawed model",
        "5. feedback",
        "6. a healthy",
    ):
        assert step in output
