"""The dependency cache when two processes (parallel test workers) fill the same entry at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra import bundling


@pytest.fixture()
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "deps"
    monkeypatch.setattr(bundling, "DEPS_CACHE", cache)
    monkeypatch.setattr(bundling, "_requirements_file", lambda function: None)  # nothing to pip-install
    return cache


def test_the_entry_another_process_finished_first_is_used_and_the_staging_removed(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def other_process_wins(source: str | Path, destination: str | Path) -> None:
        Path(destination).mkdir(parents=True)
        (Path(destination) / "theirs").write_text("built by the other worker")
        real_replace(source, destination)  # a non-empty destination: OSError, as on Linux

    monkeypatch.setattr(os, "replace", other_process_wins)
    cached = bundling.install_dependencies("inference", bundling.BundleTarget.host())

    assert (cached / "theirs").read_text() == "built by the other worker"
    assert [p.name for p in empty_cache.iterdir()] == [cached.name]  # no staging folder left behind


def test_any_other_failure_to_move_the_entry_in_is_raised(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(source: str | Path, destination: str | Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        bundling.install_dependencies("inference", bundling.BundleTarget.host())
    assert list(empty_cache.iterdir()) == []
