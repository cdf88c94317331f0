"""The zip moto stores as a function's code: once per finished bundle, shared, the same bytes."""

from __future__ import annotations

import zipfile
from pathlib import Path

from localcloud.provision.lambda_ import BUNDLE_ZIP, _zip_dir


def a_bundle(root: Path, digest: str | None) -> Path:
    (root / "fn").mkdir(parents=True)
    (root / "fn" / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    if digest is not None:
        (root / ".bundle-digest").write_text(digest + "\n")
    return root


def test_a_finished_bundle_keeps_its_zip_inside_it_and_every_cloud_reuses_it(tmp_path: Path) -> None:
    bundle = a_bundle(tmp_path / "bundle", "ab" * 32)
    first = _zip_dir(bundle, tmp_path / "cloud-1" / "zips")
    assert first == bundle / BUNDLE_ZIP
    written = first.stat().st_mtime_ns
    assert _zip_dir(bundle, tmp_path / "cloud-2" / "zips") == first
    assert first.stat().st_mtime_ns == written
    with zipfile.ZipFile(first) as archive:
        assert archive.namelist() == ["fn/handler.py"]  # neither the digest nor a zip is code
    assert not (tmp_path / "cloud-1").exists() and not (tmp_path / "cloud-2").exists()


def test_the_same_content_zips_to_the_same_bytes(tmp_path: Path) -> None:
    one = _zip_dir(a_bundle(tmp_path / "one", "cd" * 32), tmp_path / "zips")
    two = _zip_dir(a_bundle(tmp_path / "two", "cd" * 32), tmp_path / "zips")
    assert one.read_bytes() == two.read_bytes()


def test_a_folder_without_a_digest_is_zipped_into_the_clouds_own_folder(tmp_path: Path) -> None:
    code = a_bundle(tmp_path / "image-code", None)
    zipped = _zip_dir(code, tmp_path / "zips")
    assert zipped.parent == tmp_path / "zips"
    assert not (code / BUNDLE_ZIP).exists()
