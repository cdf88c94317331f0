"""Local image functions: the task root laid out from the Dockerfile's COPY lines and the staged context."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcloud.image_functions import (
    SYS_PATH_FILE,
    ImageLayoutError,
    build_image_code,
    extra_sys_path,
    task_root_copies,
)

DOCKERFILE = """\
FROM public.ecr.aws/lambda/python:3.14
COPY functions/retraining/requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt --target "${LAMBDA_TASK_ROOT}"
COPY training/ ${LAMBDA_TASK_ROOT}/training/
COPY --chown=1000 functions/common/ ${LAMBDA_TASK_ROOT}/common/
COPY retrain/ \\
     ${LAMBDA_TASK_ROOT}/retrain/
CMD ["retrain.handler.handler"]
"""


def test_only_copies_into_the_task_root_count() -> None:
    assert task_root_copies(DOCKERFILE) == [
        ("training", "training"),
        ("functions/common", "common"),
        ("retrain", "retrain"),
    ]


def test_the_code_directory_mirrors_the_image(tmp_path: Path) -> None:
    context = tmp_path / "asset.0123456789abcdef0123"
    for path in ("training/train.py", "functions/common/model.py", "retrain/handler.py"):
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        (context / path).write_text("# code\n")
    (context / "functions/retraining").mkdir(parents=True)
    (context / "functions/retraining/Dockerfile").write_text(DOCKERFILE)
    code = build_image_code(context, "functions/retraining/Dockerfile", tmp_path / "images")
    assert (code / "training/train.py").is_file()
    assert (code / "common/model.py").is_file()
    assert (code / "retrain/handler.py").is_file()
    assert extra_sys_path(code) and all(p.is_dir() for p in extra_sys_path(code))
    assert build_image_code(context, "functions/retraining/Dockerfile", tmp_path / "images") == code
    assert extra_sys_path(tmp_path) == []  # a zip function's bundle adds nothing
    assert (code / SYS_PATH_FILE).is_file()


def test_a_copy_the_context_lacks_is_refused(tmp_path: Path) -> None:
    context = tmp_path / "asset.x"
    (context / "functions/retraining").mkdir(parents=True)
    (context / "functions/retraining/Dockerfile").write_text(DOCKERFILE)
    with pytest.raises(ImageLayoutError, match="training"):
        build_image_code(context, "functions/retraining/Dockerfile", tmp_path / "images")
