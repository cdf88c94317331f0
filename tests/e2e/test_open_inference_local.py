"""The Open Inference Protocol on the local cloud: unmodified tritonclient.http and kserve's
InferenceRESTClient (run from their own environment, .venv-clients) get /predict's answers, and a
/versions/{version}/ path is answered by that Lambda version whatever the alias weights say."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from common.model.metadata import ModelMetadata
from localcloud.cloud import LocalCloud
from tests.e2e.conftest import Api, http
from tests.e2e.test_local_cloud import publish_model_version

ROOT = Path(__file__).resolve().parents[2]
CLIENTS_PYTHON = Path(os.environ.get("OIP_CLIENTS_PYTHON", ROOT / ".venv-clients" / "bin" / "python"))
MODEL = "inference"


def _tensor(metadata: ModelMetadata, rows: list[list[float]]) -> dict[str, object]:
    return {
        "inputs": [
            {
                "name": metadata.input_name,
                "datatype": "FP32",
                "shape": [len(rows), len(rows[0])],
                "data": [v for row in rows for v in row],
            }
        ]
    }


def _headers(api: Api) -> dict[str, str]:
    return {"Content-Type": "application/json", "x-api-key": api.key}


@pytest.fixture(scope="module")
def pinned_version(local_cloud: LocalCloud, trained_model: tuple[Path, ModelMetadata]) -> str:
    """A second published version of the same artifact, which the alias gives no weight."""
    artifact_dir, _ = trained_model
    return publish_model_version(local_cloud, artifact_dir)


def test_clients_get_the_answers_of_predict(api: Api, trained_model: tuple[Path, ModelMetadata]) -> None:
    if not CLIENTS_PYTHON.exists():
        pytest.skip(f"no clients environment at {CLIENTS_PYTHON}: `make test` creates it (.venv-clients)")
    _, metadata = trained_model
    rows = [list(map(float, row)) for row in metadata.sample_rows[:3]]
    predicted = api.predict(rows)
    assert predicted.status == 200
    expected = predicted.json()
    run = subprocess.run(
        [
            str(CLIENTS_PYTHON),
            str(Path(__file__).with_name("oip_clients.py")),
            api.url,
            api.key,
            MODEL,
            json.dumps(rows),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    answers = json.loads(run.stdout)
    triton, kserve = answers["triton"], answers["kserve"]
    assert triton["live"] and triton["ready"] and kserve["ready"]
    assert triton["metadata"]["inputs"][0]["shape"] == [-1, len(metadata.feature_names)]
    for answer in (triton, kserve):
        assert answer["outputs"]["label"] == expected["predictions"]
        assert answer["outputs"]["probabilities"] == expected["probabilities"]
        assert answer["model_version"] == predicted.headers["X-Function-Version"]
    assert kserve["id"] == "kserve-client" and kserve["model_name"] == MODEL


def test_a_pinned_version_answers_outside_the_alias_weights(
    api: Api, pinned_version: str, trained_model: tuple[Path, ModelMetadata]
) -> None:
    _, metadata = trained_model
    rows = [list(map(float, metadata.sample_rows[0]))]
    live = api.predict(rows)
    assert live.headers["X-Function-Version"] != pinned_version
    for _ in range(5):
        pinned = http(
            f"{api.url}/v2/models/{MODEL}/versions/{pinned_version}/infer",
            body=_tensor(metadata, rows),
            headers=_headers(api),
        )
        assert pinned.status == 200, pinned.body
        assert pinned.headers["X-Function-Version"] == pinned_version
        assert pinned.json()["model_version"] == pinned_version
    unpinned = http(f"{api.url}/v2/models/{MODEL}/infer", body=_tensor(metadata, rows), headers=_headers(api))
    assert unpinned.json()["outputs"][0]["data"] == live.json()["predictions"]
    missing = http(
        f"{api.url}/v2/models/{MODEL}/versions/999/infer", body=_tensor(metadata, rows), headers=_headers(api)
    )
    assert missing.status == 500


def test_bad_tensors_and_missing_keys_are_refused(
    api: Api, trained_model: tuple[Path, ModelMetadata]
) -> None:
    _, metadata = trained_model
    body = _tensor(metadata, [list(map(float, metadata.sample_rows[0]))])
    body["inputs"][0]["shape"] = [1, 3]  # type: ignore[index]
    bad = http(f"{api.url}/v2/models/{MODEL}/infer", body=body, headers=_headers(api))
    assert bad.status == 400 and "shape" in bad.json()["error"]
    no_key = http(f"{api.url}/v2/models/{MODEL}", headers={})
    assert no_key.status == 403
