"""The retraining workflow's code: the container image of its function, and the source archive of
the SageMaker training job. Both are staged at synth time without Docker."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_

from infra.config.runtime import RuntimeConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "functions/retraining/Dockerfile"
HANDLER = "retrain.handler.handler"
# The image's build context is the repository, narrowed to what its Dockerfile copies (docker
# ignore rules: last match wins). `cdk synth` stages exactly these files; it never runs Docker.
IMAGE_SOURCES = ("training", "retrain", "release", "functions/common")
IMAGE_CONTEXT = (*IMAGE_SOURCES, "functions/retraining")  # and the Dockerfile with its requirements
IMAGE_EXCLUDE = ["*", *(f"!{path}" for path in IMAGE_CONTEXT), "**/__pycache__", "**/*.pyc"]
# Source packages of the SageMaker training job's entry script (sagemaker_submit_directory).
SAGEMAKER_SOURCES = {"training": "training", "retrain": "retrain", "common": "functions/common"}
SAGEMAKER_REQUIREMENTS = "skl2onnx==1.20.0\nonnx==1.23.2\nonnxruntime==1.31.1\n"
SAGEMAKER_ENTRY = "train_entry.py"


def image_code(runtime: RuntimeConfig, handler: str = HANDLER) -> lambda_.DockerImageCode:
    """The training image, staged at synth (no Docker), built and pushed by `cdk deploy`, started
    with `handler` (the retraining steps' unless given)."""
    return lambda_.DockerImageCode.from_image_asset(
        str(REPO_ROOT),
        file=DOCKERFILE,
        exclude=IMAGE_EXCLUDE,
        ignore_mode=cdk.IgnoreMode.DOCKER,
        build_args={"PYTHON_VERSION": runtime.python_version},
        platform=ecr_assets.Platform.LINUX_ARM64
        if runtime.architecture == "arm64"
        else ecr_assets.Platform.LINUX_AMD64,
        cmd=[handler],
    )


def sagemaker_source_archive(output_dir: Path) -> Path:
    """A deterministic `sourcedir.tar.gz` of the entry script and the training code (no Docker)."""
    members: dict[str, bytes] = {
        SAGEMAKER_ENTRY: b"from retrain.sagemaker import main\n\nif __name__ == '__main__':\n    main()\n",
        "requirements.txt": SAGEMAKER_REQUIREMENTS.encode(),
    }
    for name, relative in SAGEMAKER_SOURCES.items():
        root = REPO_ROOT / relative
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" not in path.parts:
                members[f"{name}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    digest = hashlib.sha256()
    for key in sorted(members):
        digest.update(key.encode() + b"\0" + members[key] + b"\0")
    target = output_dir / f"sourcedir-{digest.hexdigest()[:16]}.tar.gz"
    if not target.is_file():
        output_dir.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        # mtime=0 in the gzip header too: the same sources give the same bytes at any time.
        with (
            gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
        ):
            for key in sorted(members):
                info = tarfile.TarInfo(key)
                info.size, info.mtime, info.mode = len(members[key]), 0, 0o644
                archive.addfile(info, io.BytesIO(members[key]))
        # Written aside and moved in: a parallel synth never reads a half-written archive.
        handle, staging_name = tempfile.mkstemp(prefix=".staging-", dir=output_dir)
        staging = Path(staging_name)
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(buffer.getvalue())
            staging.chmod(0o644)
            staging.replace(target)
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
    return target
