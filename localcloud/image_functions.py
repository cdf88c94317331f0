"""Container-image functions, locally: the image's file layout, from the staged build context.

No Docker here. `cdk synth` stages the image's build context in cdk.out (exactly the files the
Dockerfile may copy); this module reads the Dockerfile's `COPY <src> ${LAMBDA_TASK_ROOT}/<dest>`
instructions and lays those files out the same way in a code directory, so the function's handler
imports what it imports in the image. The image's `pip install` line has no local equivalent: its
requirements are pinned like the project's own (requirements.txt), so workers of an image function
get this interpreter's site-packages after the runtime's folders (`SYS_PATH_FILE`, read by
localcloud.functions.pool). The handler is the image's CMD from the template's `ImageConfig.Command`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from infra.bundling import DIGEST_FILE

SYS_PATH_FILE = ".local-sys-path"
_COPY = re.compile(r"^COPY\s+(?P<args>.+)$", re.IGNORECASE)
_TASK_ROOT = re.compile(r"^\$\{?LAMBDA_TASK_ROOT\}?/?")


class ImageLayoutError(ValueError):
    """The Dockerfile copies something this module cannot lay out locally."""


@dataclass(frozen=True)
class ImageAsset:
    directory: Path
    dockerfile: str
    build_args: dict[str, str] = field(default_factory=dict)


def image_asset(cdk_out: Path, stack: str, image_uri: str) -> ImageAsset:
    """The staged build context of the image `image_uri` names: its tag is the asset's hash, and the
    stack's asset manifest (`<stack>.assets.json`) gives the context folder, Dockerfile and build args."""
    tag = image_uri.rsplit(":", 1)[-1]
    if not tag or "/" in tag:
        raise ImageLayoutError(f"image {image_uri!r} has no asset tag: only CDK image assets run locally")
    manifest = cdk_out / f"{stack}.assets.json"
    entry: dict[str, object] = {}
    if manifest.is_file():
        images = json.loads(manifest.read_text(encoding="utf-8")).get("dockerImages", {})
        entry = dict(images.get(tag, {}).get("source", {}))
    directory = cdk_out / str(entry.get("directory") or f"asset.{tag}")
    build_args = entry.get("dockerBuildArgs") or {}
    return ImageAsset(
        directory=directory,
        dockerfile=str(entry.get("dockerFile") or "Dockerfile"),
        build_args={str(k): str(v) for k, v in dict(build_args).items()},  # type: ignore[call-overload]
    )


def task_root_copies(dockerfile: str) -> list[tuple[str, str]]:
    """(source in the build context, destination under the task root) of each COPY into the task root."""
    copies: list[tuple[str, str]] = []
    for line in dockerfile.replace("\\\n", " ").splitlines():
        match = _COPY.match(line.strip())
        if match is None:
            continue
        parts = [p for p in match.group("args").split() if not p.startswith("--")]
        *sources, destination = parts
        if not _TASK_ROOT.match(destination):
            continue  # e.g. requirements copied to /tmp for pip
        relative = _TASK_ROOT.sub("", destination)
        for source in sources:
            copies.append((source.rstrip("/"), relative.rstrip("/")))
    if not copies:
        raise ImageLayoutError("the Dockerfile copies nothing into ${LAMBDA_TASK_ROOT}")
    return copies


def site_packages() -> list[Path]:
    paths = {Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
    return sorted(paths)


def build_image_code(context: Path, dockerfile: str, target_root: Path) -> Path:
    """Lay out the image's task root from its staged build context (cached by the context's name,
    which is the asset's content hash)."""
    if not context.is_dir():
        raise ImageLayoutError(f"image build context {context} is not in cdk.out: run `make synth` again")
    instructions = (context / dockerfile).read_text(encoding="utf-8")
    digest = hashlib.sha256(f"{context.name}\0{instructions}".encode()).hexdigest()
    target = target_root / f"{context.name[-16:]}-{digest[:12]}"
    if target.is_dir():
        return target
    staging = target.with_name(target.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for source, destination in task_root_copies(instructions):
        origin = context / source
        place = staging / destination
        if origin.is_dir():
            shutil.copytree(origin, place, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif origin.is_file():
            place.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, place)
        else:
            raise ImageLayoutError(
                f"the Dockerfile copies {source}, which the staged context {context} lacks"
            )
    (staging / SYS_PATH_FILE).write_text("\n".join(str(p) for p in site_packages()) + "\n", encoding="utf-8")
    (staging / DIGEST_FILE).write_text(digest + "\n", encoding="utf-8")
    staging.replace(target)
    return target


def extra_sys_path(code_dir: Path) -> list[Path]:
    """What an image function's workers add after the runtime's folders (empty for zip functions)."""
    listing = code_dir / SYS_PATH_FILE
    if not listing.is_file():
        return []
    return [Path(line) for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
