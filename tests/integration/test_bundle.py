"""The built bundle runs on its own: a fresh interpreter with only the bundle (and what the Lambda
Python runtime itself provides, boto3) on sys.path answers predictions equal to scikit-learn's."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.model.metadata import ModelMetadata
from infra.bundling import BundleReport, BundleTarget, build_bundle, install_runtime_provided
from localcloud.events import rest_proxy_event

RUNNER = r"""
import json, sys
sys.path[:] = [p for p in sys.argv[1:3]] + [p for p in sys.path if "site-packages" not in p and p]
from types import SimpleNamespace
import inference.handler as module
context = SimpleNamespace(
    function_version="1", aws_request_id="bundle-test", function_name="inference", memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f:live",
    get_remaining_time_in_millis=lambda: 3000,
)
events = json.load(sys.stdin)
answers = [module.handler(event, context) for event in events]
bad = [m for m in sys.modules.values() if getattr(m, "__file__", None) and "site-packages" in m.__file__]
training_only = {"sklearn", "scipy", "skl2onnx", "onnx"}
forbidden = sorted({n.split(".")[0] for n in sys.modules} & training_only)
print(json.dumps({"answers": answers, "site_packages_modules": len(bad), "forbidden": forbidden}))
"""


@pytest.fixture(scope="module")
def host_bundle(tmp_path_factory: pytest.TempPathFactory) -> BundleReport:
    return build_bundle(
        "inference", tmp_path_factory.mktemp("bundle") / "inference", target=BundleTarget.host()
    )


def run_in_bundle(bundle: Path, model_dir: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
    runtime = install_runtime_provided(BundleTarget.host())
    env = {
        "PATH": os.environ["PATH"],
        "MODEL_URI": str(model_dir),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "inference",
        "POWERTOOLS_METRICS_NAMESPACE": "BundleTest",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", RUNNER, str(bundle), str(runtime)],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        env=env,
        cwd=bundle,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    last = [line for line in result.stdout.splitlines() if line.startswith('{"answers"')][-1]
    return dict(json.loads(last))


def test_bundle_has_no_training_libraries_and_reports_its_size(host_bundle: BundleReport) -> None:
    names = {p.name for p in host_bundle.path.iterdir()}
    assert {"inference", "common", "onnxruntime", "numpy", "aws_lambda_powertools"} <= names
    assert not names & {"sklearn", "scipy", "skl2onnx", "onnx", "boto3", "botocore"}
    assert 0 < host_bundle.zipped_bytes < host_bundle.unzipped_bytes
    assert "MB unzipped" in host_bundle.summary()


def test_bundle_ships_unchecked_hash_bytecode_for_its_python(host_bundle: BundleReport) -> None:
    """Lambda's task root is read-only: without bytecode in the bundle every cold start compiles
    every module. The host bundle is compiled by this (matching) interpreter; hash-based pycs with
    source checking off, since zip packaging does not keep the mtimes a timestamp pyc is checked by."""
    assert host_bundle.bytecode
    tag = sys.implementation.cache_tag
    for module in ("inference/handler.py", "common/http/validation.py", "numpy/__init__.py"):
        source = host_bundle.path / module
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        header = pyc.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, unchecked


def test_handler_from_bundle_matches_scikit_learn(
    host_bundle: BundleReport, trained_model: tuple[Path, ModelMetadata], holdout: Any
) -> None:
    artifact_dir, metadata = trained_model
    X, estimator, _ = holdout
    events = [
        rest_proxy_event(
            "POST",
            "/predict",
            body=json.dumps({"instances": X.tolist()}),
            headers={"Content-Type": "application/json"},
        ),
        rest_proxy_event("GET", "/health"),
        rest_proxy_event("POST", "/predict", body="{broken", headers={"Content-Type": "application/json"}),
    ]
    compiled_before = set(host_bundle.path.rglob("*.pyc"))
    output = run_in_bundle(host_bundle.path, artifact_dir, events)
    # Nothing was compiled at run time: every module the handler imported had its bytecode.
    assert set(host_bundle.path.rglob("*.pyc")) == compiled_before
    predict, health, broken = output["answers"]
    assert output["site_packages_modules"] == 0
    assert output["forbidden"] == []
    assert predict["statusCode"] == 200
    body = json.loads(predict["body"])
    assert body["predictions"] == estimator.predict(X.astype(np.float64)).tolist()
    np.testing.assert_allclose(
        body["probabilities"], estimator.predict_proba(X.astype(np.float64)), atol=1e-5
    )
    assert json.loads(health["body"])["model_version"] == metadata.version
    assert broken["statusCode"] == 400
