"""A whole local cloud per test session: synthesized stacks, moto, function workers, gateway."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

import app as cdk_app
from common.model.metadata import ModelMetadata
from localcloud.cloud import LocalCloud, LocalCloudSettings
from tests.unit.infra.infra_support import SKIP_BUNDLING, cdk_json_context


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    url: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
    timeout: float = 30,
) -> HttpResponse:
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResponse(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, dict(error.headers), error.read())


def serving_model_context(trained_model: tuple[Path, ModelMetadata]) -> dict[str, str]:
    """The context that deploys exactly the session's model. Its folder is named, and so is its
    version: other tests train more models into the same folder, and without a version the stacks
    would serve the newest of them."""
    artifact_dir, metadata = trained_model
    return {
        "serving.model_artifacts_dir": str(artifact_dir.parent),
        "serving.model_version": metadata.version,
    }


@pytest.fixture(scope="session")
def cloud_assembly(
    trained_model: tuple[Path, ModelMetadata], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """`cdk synth` of the real app (cdk.json context), function bundling skipped: the local cloud
    builds its own bundles for this machine from the same sources."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    context = {**cdk_json_context(), **SKIP_BUNDLING, **serving_model_context(trained_model)}
    cdk_app.build_app(cdk.App(context=context, outdir=str(outdir))).synth()
    return outdir


@pytest.fixture(scope="session")
def local_cloud(cloud_assembly: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    settings = LocalCloudSettings(
        state_dir=tmp_path_factory.mktemp("local-cloud"), cdk_out=cloud_assembly, gateway_port=0
    )
    with LocalCloud(settings) as cloud:
        yield cloud


class Api:
    """POST/GET against the local API with its key, as a client of the deployed API would."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.url = cloud.api_url
        self.key = cloud.api_key or ""

    def predict(self, rows: list[list[float]], **kwargs: Any) -> HttpResponse:
        headers = {"Content-Type": "application/json", "x-api-key": self.key}
        return http(f"{self.url}/predict", body={"instances": rows}, headers=headers, **kwargs)

    def get(self, path: str) -> HttpResponse:
        return http(f"{self.url}{path}", headers={"x-api-key": self.key})


@pytest.fixture()
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)
