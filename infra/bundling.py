"""Build Lambda bundles with pip for the Lambda platform: no Docker, no containers.

A bundle is `functions/<name>/` and `functions/common/` beside the function's third-party
dependencies, installed with `--only-binary=:all:` for the target platform and then slimmed.
Dependencies are cached under `.build/deps/` by (function, platform, Python, requirements hash),
so repeated synths link or copy instead of reinstalling; local clouds share finished bundles under
`.build/bundles/`, one folder per content.

Run `python -m infra.bundling inference --arch arm64 --out build/inference-arm64` to build one
and print its sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from infra.target_requirements import target_requirements

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
DEPS_CACHE = REPO_ROOT / ".build" / "deps"
LOCAL_BUNDLES = REPO_ROOT / ".build" / "bundles"
"""Bundles for this machine that local clouds share (`shared_bundle`)."""
SHARED_PACKAGES = ("common",)
ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}

# Packages the Lambda Python runtime already provides; bundling them only adds weight.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
# What install_runtime_provided puts beside a bundle when it runs here (the local cloud, tests).
RUNTIME_PACKAGES = ("boto3==1.44.5", "awslambdaric==4.2.2")

# Paths (relative to the bundle root, glob patterns) that serving never imports.
SLIM_PATTERNS = (
    "**/__pycache__",
    "**/tests",
    "**/test",
    "**/*.pyi",
    "**/*.pyx",
    "**/*.pxd",
    "**/*.h",
    "simdjson/*.cpp",  # pysimdjson ships its C++ sources beside its extension
    "numpy/f2py",
    "numpy/_pyinstaller",
    "numpy/typing",
    "numpy/doc",
    "numpy/_core/include",
    "numpy/random/lib",
    "numpy/random/_examples",
    "onnxruntime/tools",
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "onnxruntime/datasets",
    "onnxruntime/backend",
    # The Python binding is self-contained: it never loads the C-API library (25 MB).
    "onnxruntime/capi/libonnxruntime.so*",
    "*.dist-info/RECORD",
    "*.dist-info/INSTALLER",
    "*.dist-info/REQUESTED",
    "*.dist-info/licenses",
    "bin",
)

# Extensions whose wheels ship their debug information, most of their size. Only these are
# `strip --strip-debug`ed: never libraries that auditwheel patched, which strip can break.
DEBUG_INFO_SHIPPED = ("csimdjson*.so",)


@dataclass(frozen=True)
class BundleTarget:
    architecture: str = "arm64"
    python_version: str = "3.13"

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}"
            )

    @classmethod
    def host(cls) -> BundleTarget:
        """This machine's platform: a bundle that can be run here, as the local cloud does."""
        machine = platform.machine()
        architecture = "arm64" if machine in ("aarch64", "arm64") else "x86_64"
        return cls(
            architecture=architecture, python_version=f"{sys.version_info.major}.{sys.version_info.minor}"
        )

    @property
    def pip_platforms(self) -> list[str]:
        arch = ARCHITECTURES[self.architecture]
        # onnxruntime >= 1.2x ships manylinux_2_28 wheels only; Lambda's Amazon Linux 2023 has glibc 2.34.
        return [f"manylinux_2_28_{arch}", f"manylinux_2_17_{arch}", f"manylinux2014_{arch}"]

    @property
    def slug(self) -> str:
        return f"{self.architecture}-py{self.python_version}"


@dataclass(frozen=True)
class BundleReport:
    function: str
    target: BundleTarget
    path: Path
    unzipped_bytes: int
    zipped_bytes: int
    files: int
    bytecode: bool = False
    """Whether the bundle ships .pyc files for the target Python (see `compile_bytecode`)."""

    def summary(self) -> str:
        compiled = "with bytecode" if self.bytecode else "sources only: no interpreter of the target Python"
        return (
            f"bundle {self.function} ({self.target.slug}): {self.unzipped_bytes / 1e6:.1f} MB unzipped, "
            f"{self.zipped_bytes / 1e6:.1f} MB zipped, {self.files} files, {compiled} -> {self.path}"
        )


class BundleError(RuntimeError):
    pass


BYTECODE_PYTHON_ENV = "BUNDLE_PYTHON"
"""An interpreter of the target's Python version to compile the bundle's bytecode with, when
neither this interpreter nor `pythonX.Y` on PATH matches the target."""


@functools.cache
def _cache_tag(interpreter: str) -> str | None:
    try:
        result = subprocess.run(
            [interpreter, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def pyenv_interpreters(python_version: str) -> list[Path]:
    """`$PYENV_ROOT/versions/X.Y.*/bin/pythonX.Y`, newest patch release first (pyenv's shims only
    answer for the versions `pyenv global` names, so the installs are looked up directly)."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = root.glob(f"{python_version}.*/bin/python{python_version}")
    return sorted(found, key=lambda path: _patch_number(path.parent.parent.name), reverse=True)


def _patch_number(release: str) -> int:
    patch = release.split(".")[2] if release.count(".") >= 2 else ""
    return int(patch) if patch.isdigit() else -1


def bytecode_interpreter(target: BundleTarget) -> str | None:
    """An interpreter whose bytecode the target runtime loads, or None when there is none here.

    A .pyc is only valid for the CPython minor version that wrote it (its magic number), so the
    compile must run under the target's version: this interpreter when it matches (bundles for
    this machine: the local cloud, tests, benchmarks), else $BUNDLE_PYTHON, `pythonX.Y` on PATH,
    or a pyenv-installed X.Y (the machines this template is built on carry pyenv's interpreters).
    """
    wanted = "cpython-" + target.python_version.replace(".", "")
    candidates = [sys.executable, os.environ.get(BYTECODE_PYTHON_ENV, ""), f"python{target.python_version}"]
    candidates += [str(path) for path in pyenv_interpreters(target.python_version)]
    for candidate in candidates:
        found = shutil.which(candidate) if candidate else None
        if found and _cache_tag(found) == wanted:
            return found
    return None


def bytecode_choice(target: BundleTarget) -> str:
    """What goes into the bundle-cache keys: the cache tag compiled for, or that none is."""
    return target.python_version if bytecode_interpreter(target) else "none"


def compile_bytecode(root: Path, target: BundleTarget) -> bool:
    """Compile every module under `root` in place (`__pycache__/*.pyc`) for the target Python.

    Lambda's task root is read-only, so a bundle without bytecode compiles every module it imports
    from source on every cold start (docs/performance.md has the cost). `unchecked-hash` pycs are used
    without looking at the source: zip packaging does not keep the source mtimes that the default
    timestamp check compares, and a bundle never changes after it is built. Returns False (and
    the bundle ships sources only) when no interpreter of the target version is available.
    """
    interpreter = bytecode_interpreter(target)
    if interpreter is None:
        return False
    command = [interpreter, "-I", "-m", "compileall", "-q", "-j", "2"]
    command += ["--invalidation-mode", "unchecked-hash", str(root)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:  # a module that does not compile under the target is a broken bundle
        detail = (result.stdout + result.stderr).strip()[-2000:]
        raise BundleError(f"compileall failed for {target.slug} in {root}:\n{detail}")
    return True


def _requirements_file(function: str) -> Path | None:
    path = FUNCTIONS_DIR / function / "requirements.txt"
    return path if path.is_file() else None


def _deps_key(function: str, target: BundleTarget) -> str:
    digest = hashlib.sha256()
    requirements = _requirements_file(function)
    if requirements is not None:
        digest.update(requirements.read_bytes())
    stripped = (DEBUG_INFO_SHIPPED, shutil.which("strip") is not None)
    digest.update(repr((SLIM_PATTERNS, RUNTIME_PROVIDED, bytecode_choice(target), stripped)).encode())
    return f"{function}-{target.slug}-{digest.hexdigest()[:12]}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def slim(root: Path, patterns: Iterable[str] = SLIM_PATTERNS) -> None:
    for pattern in patterns:
        for match in sorted(root.glob(pattern), key=lambda p: len(p.parts), reverse=True):
            _remove(match)
    for name in RUNTIME_PROVIDED:
        for match in list(root.glob(name)) + list(root.glob(f"{name}-*.dist-info")):
            _remove(match)


def strip_debug_info(root: Path, patterns: Iterable[str] = DEBUG_INFO_SHIPPED) -> None:
    """Removes the debug sections of the extensions matching `patterns` with this machine's
    `strip`, where it reads the target's machine code (a bundle built on its own architecture);
    elsewhere, or without binutils, they stay as the wheel has them (larger, the same code)."""
    strip = shutil.which("strip")
    if strip is None:
        return
    for pattern in patterns:
        for path in root.glob(pattern):
            subprocess.run([strip, "--strip-debug", str(path)], capture_output=True, check=False)


def pip_command(target: BundleTarget, destination: Path, requirements: list[str]) -> list[str]:
    """pip install, wheels only, for the target platform and Python, into `destination`."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        target.python_version,
        "--target",
        str(destination),
        *[arg for p in target.pip_platforms for arg in ("--platform", p)],
        *requirements,
    ]


def install_dependencies(function: str, target: BundleTarget) -> Path:
    """pip-install the function's requirements for the target platform, slimmed; cached."""
    cached = DEPS_CACHE / _deps_key(function, target)
    if cached.is_dir():
        return cached
    requirements = _requirements_file(function)
    wanted = (
        target_requirements(
            requirements, python_version=target.python_version, machine=ARCHITECTURES[target.architecture]
        )
        if requirements is not None
        else []
    )
    with _published(cached, prefix=".staging-", finished=Path.is_dir) as staging:
        if wanted:
            _pip_install(target, staging, wanted, what=f"{requirements} for {target.slug}")
        slim(staging)
        strip_debug_info(staging)
        compile_bytecode(staging, target)
    return cached


@contextlib.contextmanager
def _published(final: Path, *, prefix: str, finished: Callable[[Path], bool]) -> Iterator[Path]:
    """A new folder beside `final` to build into, moved to `final` when the block ends. Processes
    building the same `final` at once (parallel test workers) each build their own; when another
    one's is already in place (`finished(final)`), it is kept and this one removed. A block that
    raises leaves nothing behind."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    try:
        yield staging
        try:
            os.replace(staging, final)
        except OSError:
            if not finished(final):
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _pip_install(target: BundleTarget, destination: Path, packages: list[str], *, what: str) -> None:
    """pip-install `packages` for the target platform into `destination`; BundleError naming
    `what` and carrying pip's message when it fails."""
    result = subprocess.run(
        pip_command(target, destination, packages), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BundleError(f"pip could not install {what}:\n{result.stderr.strip()}")


def install_runtime_provided(target: BundleTarget) -> Path:
    """What the Lambda Python runtime itself provides in /var/runtime: boto3 and the Runtime
    Interface Client that runs handlers.

    The local runtime and the bundle tests put this folder on sys.path after the bundle, as
    Lambda does, so a bundle is proven self-contained against the real runtime's contents.
    """
    packages = list(RUNTIME_PACKAGES)
    key = hashlib.sha256(" ".join(packages).encode()).hexdigest()[:8]
    cached = DEPS_CACHE.parent / "runtime" / f"{target.slug}-{key}"
    if cached.is_dir():
        return cached
    with _published(cached, prefix=".staging-", finished=Path.is_dir) as staging:
        _pip_install(target, staging, packages, what="the runtime-provided packages")
    return cached


def _copy_source(source: Path, destination: Path) -> None:
    shutil.copytree(
        source,
        destination,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt"),
        dirs_exist_ok=True,
    )


def measure(root: Path) -> tuple[int, int, int]:
    """Unzipped bytes, deflated zip bytes and file count of a directory, as Lambda would see it."""
    unzipped = 0
    files = 0
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    unzipped += path.stat().st_size
                    files += 1
                    archive.write(path, path.relative_to(root).as_posix())
        zipped = handle.tell()
    return unzipped, zipped, files


DIGEST_FILE = ".bundle-digest"


def source_digest(function: str, target: BundleTarget) -> str:
    """A hash of everything that goes into a bundle: its code, the shared code and its dependencies."""
    digest = hashlib.sha256(_deps_key(function, target).encode())
    for root in (FUNCTIONS_DIR / function, *(FUNCTIONS_DIR / p for p in SHARED_PACKAGES)):
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(path.relative_to(FUNCTIONS_DIR).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def build_bundle_cached(function: str, out_dir: Path, *, target: BundleTarget) -> Path:
    """Build only when the sources changed since the bundle in `out_dir` was built."""
    marker = out_dir / DIGEST_FILE
    wanted = source_digest(function, target)
    if marker.is_file() and marker.read_text().strip() == wanted:
        return out_dir
    _assemble(function, out_dir, target=target, digest=wanted)
    return out_dir


def shared_bundle(function: str, target: BundleTarget, *, cache_dir: Path = LOCAL_BUNDLES) -> Path:
    """The bundle of `function` for `target` in `cache_dir`, one folder per content
    (`<function>-<target>-<digest>`), built once and then used by every local cloud on this machine.

    A folder is never changed once in place, so a running local cloud's code does not change under
    it when the sources do. Processes that need the same content at once each build into a staging
    folder of their own; the first to finish is kept. The older contents of the same function and
    target beyond the newest `KEEP_SHARED_BUNDLES` are removed."""
    digest = source_digest(function, target)
    out_dir = cache_dir / f"{function}-{target.slug}-{digest[:16]}"
    if _finished_bundle(out_dir):
        return out_dir
    with _published(out_dir, prefix=f".staging-{function}-", finished=_finished_bundle) as staging:
        _assemble(function, staging, target=target, digest=digest)
    _prune_shared(cache_dir, f"{function}-{target.slug}-", keep=out_dir)
    return out_dir


KEEP_SHARED_BUNDLES = 3


def _finished_bundle(path: Path) -> bool:
    """Whether `path` is a bundle laid out to the end (its digest is written last)."""
    return (path / DIGEST_FILE).is_file()


def _prune_shared(cache_dir: Path, prefix: str, *, keep: Path) -> None:
    """Remove all but the newest `KEEP_SHARED_BUNDLES` finished bundles named `prefix<digest>`."""
    finished = [
        path
        for path in cache_dir.glob(f"{prefix}*")
        if len(path.name) == len(prefix) + 16 and _finished_bundle(path)
    ]
    finished.sort(key=lambda path: (path / DIGEST_FILE).stat().st_mtime, reverse=True)
    for stale in finished[KEEP_SHARED_BUNDLES:]:
        if stale != keep:
            shutil.rmtree(stale, ignore_errors=True)


def build_bundle(function: str, out_dir: Path, *, target: BundleTarget) -> BundleReport:
    """Build the bundle into `out_dir` and measure it as Lambda would see it (unzipped and zipped)."""
    bytecode = _assemble(function, out_dir, target=target, digest=source_digest(function, target))
    unzipped, zipped, files = measure(out_dir)
    return BundleReport(function, target, out_dir, unzipped, zipped, files, bytecode)


def _assemble(function: str, out_dir: Path, *, target: BundleTarget, digest: str) -> bool:
    """Lay out the bundle in `out_dir` (replaced if it exists), its digest written last; answers
    whether it ships bytecode. Dependencies are hard-linked from the cache where the file system
    allows (nothing writes to them), else copied."""
    source = FUNCTIONS_DIR / function
    if not (source / "handler.py").is_file():
        raise BundleError(f"{source} has no handler.py: is {function!r} a function under functions/?")
    dependencies = install_dependencies(function, target)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(dependencies, out_dir, symlinks=True, copy_function=_link_or_copy)
    for package in SHARED_PACKAGES:
        _copy_source(FUNCTIONS_DIR / package, out_dir / package)
    _copy_source(source, out_dir / function)
    bytecode = False
    if bytecode_choice(target) != "none":
        for package in (*SHARED_PACKAGES, function):
            bytecode = compile_bytecode(out_dir / package, target)
    (out_dir / DIGEST_FILE).write_text(digest + "\n")
    return bytecode


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a Lambda bundle without Docker and print its size.")
    parser.add_argument("function", help="a folder under functions/, e.g. inference")
    parser.add_argument("--arch", default="arm64", choices=[*sorted(ARCHITECTURES), "host"])
    parser.add_argument("--python", default="3.13", help="Lambda Python version, e.g. 3.13")
    parser.add_argument("--out", type=Path, help="output folder (default build/<function>-<arch>-py<ver>)")
    args = parser.parse_args(argv)
    target = BundleTarget.host() if args.arch == "host" else BundleTarget(args.arch, args.python)
    out = args.out or REPO_ROOT / "build" / f"{args.function}-{target.slug}"
    try:
        report = build_bundle(args.function, out, target=target)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
