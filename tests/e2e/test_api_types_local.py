"""serving.api_type=http on the local cloud: the same /predict and Open Inference answers through an
HTTP API (payload 1.0, IAM), and a request without the `Authorization` header refused (the local
gateway checks its presence only). The function URL type (payload 2.0) is served by the same gateway
code and tested without a cloud of its own (tests/unit/localcloud/test_gateway_api_types.py), which
keeps the e2e tier to one extra local cloud."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aws_cdk as cdk
import pytest

import app as cdk_app
from common.model.metadata import ModelMetadata
from localcloud.cloud import LocalCloud, LocalCloudSettings
from tests.e2e.conftest import http, serving_model_context
from tests.unit.infra.infra_support import SKIP_BUNDLING, cdk_json_context

SIGNED = {"Authorization": "AWS4-HMAC-SHA256 Credential=local/20261207/us-east-1/execute-api/aws4_request"}


@pytest.fixture(scope="module", params=["http"])
def typed_cloud(
    request: pytest.FixtureRequest,
    trained_model: tuple[Path, ModelMetadata],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalCloud]:
    outdir = tmp_path_factory.mktemp(f"{request.param}-cdk.out")
    context = {
        **cdk_json_context(),
        **SKIP_BUNDLING,
        **serving_model_context(trained_model),
        "serving.api_type": request.param,
        "serving.api_auth": "iam",
        "serving.precompute_enabled": "false",
    }
    cdk_app.build_app(cdk.App(context=context, outdir=str(outdir))).synth()
    settings = LocalCloudSettings(
        state_dir=tmp_path_factory.mktemp(f"{request.param}-local-cloud"), cdk_out=outdir, gateway_port=0
    )
    with LocalCloud(settings) as cloud:
        yield cloud


def test_predict_and_open_inference_through_the_api_type(
    typed_cloud: LocalCloud, trained_model: tuple[Path, ModelMetadata]
) -> None:
    _, metadata = trained_model
    url = typed_cloud.api_url
    rows = [list(map(float, row)) for row in metadata.sample_rows[:2]]
    headers = {"Content-Type": "application/json", **SIGNED}
    predicted = http(f"{url}/predict", body={"instances": rows}, headers=headers)
    assert predicted.status == 200, predicted.body
    tensor = {
        "name": metadata.input_name,
        "datatype": "FP32",
        "shape": [2, len(rows[0])],
        "data": [v for row in rows for v in row],
    }
    answer = http(f"{url}/v2/models/inference/infer", body={"inputs": [tensor]}, headers=headers)
    assert answer.status == 200, answer.body
    outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
    assert outputs["label"] == predicted.json()["predictions"]
    assert answer.headers["X-Function-Version"] == predicted.headers["X-Function-Version"]
    assert http(f"{url}/v2/health/ready", headers=SIGNED).status == 200
    unsigned = http(f"{url}/predict", body={"instances": rows}, headers={"Content-Type": "application/json"})
    assert unsigned.status == 403
