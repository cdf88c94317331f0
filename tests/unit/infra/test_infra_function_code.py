"""The function asset: local bundling through infra.bundling (faked here), and its fingerprint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from infra.bundling import BundleError, BundleReport, BundleTarget
from infra.constructs import function_code
from infra.constructs.function_code import PipLocalBundling, bundled_function_code, source_fingerprint
from infra.stacks import ServingStack
from tests.unit.infra.infra_support import SynthesizedApp, cdk_json_context

ARM = BundleTarget(architecture="arm64", python_version="3.14")


class FakeBuilder:
    """Stands in for infra.bundling.build_bundle: no pip, no network."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, Path, BundleTarget]] = []
        self.error = error

    def __call__(self, function: str, out_dir: Path, *, target: BundleTarget) -> BundleReport:
        self.calls.append((function, out_dir, target))
        if self.error is not None:
            raise self.error
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / function).mkdir(exist_ok=True)
        (out_dir / function / "handler.py").write_text("def handler(event, context):\n    return {}\n")
        return BundleReport(
            function, target, out_dir, unzipped_bytes=1_000_000, zipped_bytes=400_000, files=1
        )


def function_stack(outdir: Path, builder: FakeBuilder) -> tuple[cdk.App, cdk.Stack]:
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Probe")
    lambda_.Function(
        stack,
        "Function",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="inference.handler.handler",
        code=bundled_function_code("inference", target=ARM, build=builder),
    )
    return app, stack


def test_local_bundling_builds_into_the_asset_folder_without_docker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    builder = FakeBuilder()
    app, stack = function_stack(tmp_path / "cdk.out", builder)
    template = Template.from_stack(stack)

    ((function, out_dir, target),) = builder.calls
    assert (function, target) == ("inference", ARM)
    (resource,) = template.find_resources("AWS::Lambda::Function").values()
    asset_hash = resource["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    assert out_dir.name == f"asset.{asset_hash}-building"  # CDK's staging folder, renamed when done
    assert (tmp_path / "cdk.out" / f"asset.{asset_hash}" / "inference" / "handler.py").is_file()
    assert "bundle inference (arm64-py3.14): 1.0 MB unzipped, 0.4 MB zipped" in capsys.readouterr().err
    del app


def test_an_unchanged_asset_is_not_rebuilt(tmp_path: Path) -> None:
    first, second = FakeBuilder(), FakeBuilder()
    Template.from_stack(function_stack(tmp_path / "cdk.out", first)[1])
    Template.from_stack(function_stack(tmp_path / "cdk.out", second)[1])
    assert len(first.calls) == 1
    assert second.calls == []


def test_a_failing_build_fails_the_synth_with_its_message(tmp_path: Path) -> None:
    builder = FakeBuilder(BundleError("pip could not install onnxruntime for arm64-py3.14"))
    with pytest.raises(RuntimeError, match=r"pip could not install onnxruntime for arm64-py3\.14"):
        function_stack(tmp_path / "cdk.out", builder)


def test_the_hook_returns_true_so_docker_is_never_used(tmp_path: Path) -> None:
    hook = PipLocalBundling(function="inference", target=ARM, build=FakeBuilder())
    assert hook.try_bundle(str(tmp_path / "out"), image=cdk.DockerImage.from_registry("unused")) is True
    assert hook.report is not None and hook.report.files == 1


# -- the fingerprint ------------------------------------------------------------------------------


@pytest.fixture
def functions_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "functions"
    for name, files in {
        "inference": {"handler.py": "x = 1\n", "requirements.txt": "onnxruntime==1.31.1\n"},
        "common": {"__init__.py": "", "model.py": "y = 2\n"},
        "shadow": {"handler.py": "z = 3\n"},
    }.items():
        (root / name).mkdir(parents=True)
        for filename, text in files.items():
            (root / name / filename).write_text(text)
    monkeypatch.setattr(function_code, "FUNCTIONS_DIR", root)
    return root


def test_fingerprint_is_stable(functions_tree: Path) -> None:
    assert source_fingerprint("inference", ARM) == source_fingerprint("inference", ARM)


@pytest.mark.parametrize(
    "change",
    [
        ("inference/handler.py", "x = 2\n"),
        ("inference/requirements.txt", "onnxruntime==1.32.0\n"),
        ("common/model.py", "y = 3\n"),
        ("common/new.py", "w = 0\n"),
    ],
)
def test_fingerprint_changes_with_the_function_common_code_and_requirements(
    functions_tree: Path, change: tuple[str, str]
) -> None:
    before = source_fingerprint("inference", ARM)
    path, text = change
    (functions_tree / path).write_text(text)
    assert source_fingerprint("inference", ARM) != before


def test_fingerprint_changes_with_the_target(functions_tree: Path) -> None:
    others = {BundleTarget("x86_64", "3.14"), BundleTarget("arm64", "3.13")}
    assert source_fingerprint("inference", ARM) not in {source_fingerprint("inference", t) for t in others}


def test_fingerprint_ignores_other_functions_and_caches(functions_tree: Path) -> None:
    before = source_fingerprint("inference", ARM)
    (functions_tree / "shadow" / "handler.py").write_text("z = 4\n")
    cache = functions_tree / "inference" / "__pycache__"
    cache.mkdir()
    (cache / "handler.cpython-314.pyc").write_bytes(os.urandom(16))
    assert source_fingerprint("inference", ARM) == before


def test_missing_function_folder_is_a_clear_error(functions_tree: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is 'nope' a folder under functions/"):
        source_fingerprint("nope", ARM)


# -- the serving stack's asset ---------------------------------------------------------------------


def test_each_target_gets_its_own_asset(synthesized: SynthesizedApp, iam_cors_app: SynthesizedApp) -> None:
    def asset_key(app: SynthesizedApp) -> str:
        (function,) = app.serving_template.find_resources(
            "AWS::Lambda::Function", {"Properties": {"Handler": "inference.handler.handler"}}
        ).values()
        key: str = function["Properties"]["Code"]["S3Key"]
        return key

    assert (synthesized.config.runtime.architecture, iam_cors_app.config.runtime.architecture) == (
        "arm64",
        "x86_64",
    )
    assert asset_key(synthesized) != asset_key(iam_cors_app)


def test_serving_stack_accepts_injected_code(synthesized: SynthesizedApp, tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path), context=cdk_json_context())  # the project's feature flags
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.py").write_text("")
    store = synthesized.model_store
    probe_app_store: Any = type(store)(app, "Store", config=synthesized.config)
    stack = ServingStack(
        app,
        "Serving",
        config=synthesized.config,
        model_store=probe_app_store,
        code=lambda_.Code.from_asset(str(source)),
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function", {"Handler": "inference.handler.handler"}
    )
