"""Lambda code assets built by `infra.bundling` during synth: pip for the Lambda platform, no Docker.

The asset's hash is a fingerprint of everything that decides the bundle's content (the function's
source and requirements, `functions/common`, the bundling code itself and the target platform).
CDK names the staged asset after that hash and skips bundling when `cdk.out` already holds it, so
an unchanged function is not rebuilt on every synth, and any change to its inputs gives a new asset
(and, through the function's code hash, a new Lambda version).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

from infra.bundling import (
    FUNCTIONS_DIR,
    SHARED_PACKAGES,
    BundleReport,
    BundleTarget,
    build_bundle,
    bytecode_choice,
)

BUNDLING_MODULE = Path(__file__).resolve().parent.parent / "bundling.py"
_IGNORED_PARTS = ("__pycache__", ".pytest_cache", ".mypy_cache")
_IGNORED_SUFFIXES = (".pyc", ".pyo")

Builder = Callable[..., BundleReport]


def _source_files(function: str) -> list[Path]:
    files: list[Path] = []
    for package in (function, *SHARED_PACKAGES):
        root = FUNCTIONS_DIR / package
        if not root.is_dir():
            raise FileNotFoundError(f"{root} does not exist: is {package!r} a folder under functions/?")
        files.extend(
            path
            for path in root.rglob("*")
            if path.is_file()
            and not any(part in _IGNORED_PARTS for part in path.parts)
            and path.suffix not in _IGNORED_SUFFIXES
        )
    return sorted(files)


def source_fingerprint(function: str, target: BundleTarget) -> str:
    """A hash of every input of the bundle: same inputs, same asset; any change, a new one."""
    digest = hashlib.sha256()
    digest.update(f"{function}\0{target.slug}\0bytecode={bytecode_choice(target)}\0".encode())
    digest.update(BUNDLING_MODULE.read_bytes())
    for path in _source_files(function):
        digest.update(path.relative_to(FUNCTIONS_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


@jsii.implements(cdk.ILocalBundling)
class PipLocalBundling:
    """CDK's local bundling hook: builds the bundle with `infra.bundling` straight into the asset dir."""

    def __init__(self, *, function: str, target: BundleTarget, build: Builder = build_bundle) -> None:
        self.function = function
        self.target = target
        self._build = build
        self.report: BundleReport | None = None

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_options: Any) -> bool:
        report = self._build(self.function, Path(output_dir), target=self.target)
        self.report = report
        print(report.summary(), file=sys.stderr, flush=True)
        return True


def bundled_function_code(
    function: str, *, target: BundleTarget, build: Builder = build_bundle
) -> lambda_.Code:
    """`Code.from_asset(functions/)` bundled locally for `target`; Docker is never needed.

    The Docker image is only CDK's required fallback (used if local bundling declined, which it
    never does: a failing pip raises and fails the synth with pip's message).
    """
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        asset_hash=source_fingerprint(function, target),
        bundling=cdk.BundlingOptions(
            image=cdk.DockerImage.from_registry(f"public.ecr.aws/sam/build-python{target.python_version}"),
            local=PipLocalBundling(function=function, target=target, build=build),
        ),
    )
