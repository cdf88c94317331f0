"""Which interpreter compiles a bundle's bytecode, and that the default runtime gets one here."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from infra import bundling
from infra.bundling import REPO_ROOT, BundleTarget, bytecode_choice, bytecode_interpreter, pyenv_interpreters


def fake_python(root: Path, release: str, cache_tag: str) -> Path:
    minor = ".".join(release.split(".")[:2])
    path = root / "versions" / release / "bin" / f"python{minor}"
    path.parent.mkdir(parents=True)
    path.write_text(f"#!/bin/sh\necho {cache_tag}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_pyenv_installs_are_found_newest_patch_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    old = fake_python(tmp_path, "3.14.0", "cpython-314")
    new = fake_python(tmp_path, "3.14.2", "cpython-314")
    fake_python(tmp_path, "3.13.1", "cpython-313")
    assert pyenv_interpreters("3.14") == [new, old]


def test_a_pyenv_interpreter_of_the_target_version_compiles_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.delenv(bundling.BYTECODE_PYTHON_ENV, raising=False)
    monkeypatch.setattr("infra.bundling.shutil.which", lambda name: name if Path(name).is_file() else None)
    bundling._cache_tag.cache_clear()
    wanted = fake_python(tmp_path, "3.19.4", "cpython-319")
    fake_python(tmp_path, "3.19.5", "cpython-999")  # claims the version, answers another tag
    try:
        assert bytecode_interpreter(BundleTarget("arm64", "3.19")) == str(wanted)
    finally:
        bundling._cache_tag.cache_clear()


def test_the_default_deploy_ships_bytecode_on_this_machine() -> None:
    """The default runtime (cdk.json) is one the build has an interpreter of: `make deploy`'s bundle
    is compiled, not sources only (docs/performance.md, cold start as shipped)."""
    default = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["serving"]["python_version"]
    assert bytecode_choice(BundleTarget("arm64", default)) == default
