"""The bundling caches when several processes (parallel test workers, local clouds) share them."""

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


@pytest.fixture()
def other_process_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process puts its own folder in place just before this one moves its staging in."""
    real_replace = os.replace

    def replace_after_theirs(source: str | Path, destination: str | Path) -> None:
        Path(destination).mkdir(parents=True)
        (Path(destination) / "theirs").write_text("built by the other worker")
        real_replace(source, destination)  # a non-empty destination: OSError, as on Linux

    monkeypatch.setattr(os, "replace", replace_after_theirs)


@pytest.mark.usefixtures("other_process_wins")
def test_the_entry_another_process_finished_first_is_used_and_the_staging_removed(empty_cache: Path) -> None:
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


@pytest.fixture()
def sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A functions/ folder with one function `fn` and the shared package, its dependencies a
    one-file folder: a bundle builds in milliseconds without pip."""
    functions = tmp_path / "functions"
    (functions / "fn").mkdir(parents=True)
    (functions / "fn" / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    (functions / "common").mkdir()
    (functions / "common" / "__init__.py").write_text("")
    dependencies = tmp_path / "deps"
    dependencies.mkdir()
    (dependencies / "lib.py").write_text("VALUE = 1\n")
    monkeypatch.setattr(bundling, "FUNCTIONS_DIR", functions)
    monkeypatch.setattr(bundling, "install_dependencies", lambda function, target: dependencies)
    monkeypatch.setattr(bundling, "bytecode_interpreter", lambda target: None)
    return functions


def test_a_shared_bundle_is_built_once_per_content_and_named_by_it(sources: Path, tmp_path: Path) -> None:
    cache, target = tmp_path / "bundles", bundling.BundleTarget.host()
    first = bundling.shared_bundle("fn", target, cache_dir=cache)
    built_at = (first / bundling.DIGEST_FILE).stat().st_mtime_ns
    assert bundling.shared_bundle("fn", target, cache_dir=cache) == first
    assert (first / bundling.DIGEST_FILE).stat().st_mtime_ns == built_at  # reused, not rebuilt
    assert (first / "fn" / "handler.py").is_file() and (first / "lib.py").is_file()

    (sources / "fn" / "handler.py").write_text("def handler(event, context):\n    return 2\n")
    second = bundling.shared_bundle("fn", target, cache_dir=cache)
    assert second != first
    assert "return 1" in (first / "fn" / "handler.py").read_text()  # a running cloud's code is untouched
    assert "return 2" in (second / "fn" / "handler.py").read_text()
    assert not [p for p in cache.iterdir() if p.name.startswith(".staging-")]


def test_only_the_newest_contents_are_kept(sources: Path, tmp_path: Path) -> None:
    cache, target = tmp_path / "bundles", bundling.BundleTarget.host()
    built = []
    for n in range(bundling.KEEP_SHARED_BUNDLES + 2):
        (sources / "fn" / "handler.py").write_text(f"def handler(event, context):\n    return {n}\n")
        built.append(bundling.shared_bundle("fn", target, cache_dir=cache))
        os.utime(built[-1] / bundling.DIGEST_FILE, (n, n))  # build order, whatever the clock's resolution
    kept = sorted(p for p in cache.iterdir() if p.name.startswith("fn-"))
    assert kept == sorted(built[-bundling.KEEP_SHARED_BUNDLES :])


def test_the_bundle_another_process_finished_first_is_kept(
    sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, target = tmp_path / "bundles", bundling.BundleTarget.host()
    theirs = cache / f"fn-{target.slug}-{bundling.source_digest('fn', target)[:16]}"
    real_replace = os.replace

    def other_process_wins(source: str | Path, destination: str | Path) -> None:
        if Path(destination) == theirs:
            theirs.mkdir(parents=True)
            (theirs / "theirs").write_text("")
            (theirs / bundling.DIGEST_FILE).write_text("the same content\n")
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", other_process_wins)
    assert bundling.shared_bundle("fn", target, cache_dir=cache) == theirs
    assert (theirs / "theirs").is_file()
    assert [p.name for p in cache.iterdir()] == [theirs.name]


@pytest.mark.usefixtures("other_process_wins")
def test_the_runtime_provided_folder_another_process_finished_first_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundling, "DEPS_CACHE", tmp_path / "deps")
    monkeypatch.setattr(bundling, "pip_command", lambda target, destination, packages: ["true"])
    cached = bundling.install_runtime_provided(bundling.BundleTarget.host())

    assert (cached / "theirs").read_text() == "built by the other worker"
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]
