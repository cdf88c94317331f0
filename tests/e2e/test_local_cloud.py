"""End to end through the local cloud: HTTP -> gateway -> alias weights -> warm workers -> model."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from common.model.metadata import ModelMetadata
from localcloud.cloud import LocalCloud
from localcloud.events import rest_proxy_event
from tests.e2e.conftest import Api, http
from tests.helpers import FakeLambdaContext


def publish_model_version(cloud: LocalCloud, artifact_dir: Path) -> str:
    """Upload an artifact to the model store and publish a function version that pins it
    (what `modelctl publish` does), returning the new version number."""
    assert cloud.clients is not None and cloud.deployment is not None
    function, _ = cloud.serving_function()
    bucket = cloud.deployment.output("ModelBucketName")
    lam = cloud.clients.lambda_
    for name in ("model.onnx", "metadata.json"):
        cloud.clients.s3.upload_file(str(artifact_dir / name), bucket, f"models/{artifact_dir.name}/{name}")
    current = lam.get_function_configuration(FunctionName=function)
    variables = dict(current["Environment"]["Variables"])
    variables["MODEL_URI"] = f"s3://{bucket}/models/{artifact_dir.name}/"
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
    return str(lam.publish_version(FunctionName=function)["Version"])


@pytest.fixture(scope="module")
def second_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    root = tmp_path_factory.mktemp("second_model")
    return train_model(load_builtin(), build_pipeline("random_forest"), output_root=root).artifact_dir


@pytest.fixture(scope="module")
def canary_version(local_cloud: LocalCloud, second_model: Path) -> str:
    return publish_model_version(local_cloud, second_model)


def set_weights(cloud: LocalCloud, primary: str, extra: dict[str, float]) -> None:
    assert cloud.clients is not None
    function, alias = cloud.serving_function()
    routing: Any = {"AdditionalVersionWeights": extra}
    cloud.clients.lambda_.update_alias(
        FunctionName=function, Name=alias, FunctionVersion=primary, RoutingConfig=routing
    )


def served_versions(api: Any, row: list[float], count: int, workers: int = 8) -> Counter[str]:
    def one(_: int) -> str:
        response = api.predict([row])
        assert response.status == 200, response.body
        return str(response.headers["X-Function-Version"])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return Counter(pool.map(one, range(count)))


def test_predictions_over_http_equal_the_handler_in_process(
    api: Any, holdout: Any, trained_model: tuple[Path, ModelMetadata], monkeypatch: pytest.MonkeyPatch
) -> None:
    X, _, metadata = holdout
    response = api.predict(X[:25].tolist())
    assert response.status == 200
    assert response.headers["X-Model-Version"] == metadata.version

    artifact_dir, _ = trained_model
    import importlib
    import sys

    monkeypatch.setenv("MODEL_URI", str(artifact_dir))
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "E2E")
    sys.modules.pop("inference.handler", None)
    handler = importlib.import_module("inference.handler")
    event = rest_proxy_event(
        "POST",
        "/predict",
        body=json.dumps({"instances": X[:25].tolist()}),
        headers={"Content-Type": "application/json"},
    )
    in_process = json.loads(handler.handler(event, FakeLambdaContext())["body"])
    sys.modules.pop("inference.handler", None)
    assert response.json() == in_process


def test_api_key_is_required_and_unknown_paths_are_403(local_cloud: LocalCloud, api: Any) -> None:
    no_key = http(
        f"{api.url}/predict", body={"instances": [[1.0] * 30]}, headers={"Content-Type": "application/json"}
    )
    assert no_key.status == 403 and no_key.json() == {"message": "Forbidden"}
    assert api.get("/nope").status == 403
    health = api.get("/health")
    assert health.status == 200 and health.json()["function_version"] == health.headers["X-Function-Version"]


def test_bad_input_reaches_the_client_as_the_handler_shapes_it(api: Any) -> None:
    response = api.predict([[1.0] * 3])
    assert response.status == 400
    assert response.json()["error"]["code"] == "wrong_row_length"


def test_weighted_alias_splits_traffic_per_request(
    local_cloud: LocalCloud, api: Any, canary_version: str, trained_model: tuple[Path, ModelMetadata]
) -> None:
    """GIVEN the alias at 90/10 WHEN 2,000 requests arrive THEN ~10% are served by the canary."""
    _, metadata = trained_model
    primary = "1"
    set_weights(local_cloud, primary, {canary_version: 0.1})
    try:
        counts = served_versions(api, metadata.sample_rows[0], 2000)
    finally:
        set_weights(local_cloud, primary, {})
    assert set(counts) == {primary, canary_version}
    share = counts[canary_version] / 2000
    assert abs(share - 0.10) <= 0.03, counts


def test_rollback_takes_effect_on_the_next_request(
    local_cloud: LocalCloud, api: Any, canary_version: str, trained_model: tuple[Path, ModelMetadata]
) -> None:
    _, metadata = trained_model
    set_weights(local_cloud, "1", {canary_version: 0.5})
    assert canary_version in served_versions(api, metadata.sample_rows[0], 100)
    set_weights(local_cloud, "1", {})  # the rollback: one UpdateAlias call
    after = served_versions(api, metadata.sample_rows[0], 300)
    assert after == Counter({"1": 300})


def test_canary_version_serves_its_own_pinned_model(
    local_cloud: LocalCloud, api: Any, canary_version: str, second_model: Path
) -> None:
    set_weights(local_cloud, canary_version, {})
    try:
        response = api.predict([[1.0] * 30])
    finally:
        set_weights(local_cloud, "1", {})
    assert response.headers["X-Function-Version"] == canary_version
    assert response.json()["model_version"] == second_model.name


def test_killed_worker_is_replaced_and_traffic_continues(
    local_cloud: LocalCloud, api: Any, trained_model: tuple[Path, ModelMetadata]
) -> None:
    _, metadata = trained_model
    assert api.predict([metadata.sample_rows[0]]).status == 200
    assert local_cloud.router is not None and local_cloud.runtime is not None
    function, _ = local_cloud.serving_function()
    pool = local_cloud.runtime.pool(local_cloud.router.spec(function, "1"))
    victims = pool.worker_pids()
    assert victims
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while set(pool.worker_pids()) & set(victims):
        assert time.monotonic() < deadline, "the pool did not notice its workers died"
        time.sleep(0.01)
    statuses = [api.predict([metadata.sample_rows[0]]).status for _ in range(20)]
    assert statuses == [200] * 20
    assert not set(pool.worker_pids()) & set(victims)


def test_provisioning_twice_changes_nothing(local_cloud: LocalCloud) -> None:
    local_cloud.provision()
    assert local_cloud.provision().changes == 0


def test_nothing_is_left_listening_after_shutdown(cloud_assembly: Path, tmp_path: Path) -> None:
    from localcloud.cloud import LocalCloudSettings

    cloud = LocalCloud(LocalCloudSettings(state_dir=tmp_path / "lc", cdk_out=cloud_assembly)).start()
    assert cloud.moto is not None and cloud.gateway is not None
    ports = [cloud.moto.port, cloud.gateway.port]
    assert http(f"{cloud.api_url}/health", headers={"x-api-key": cloud.api_key or ""}).status == 200
    assert cloud.runtime is not None
    pids = [pid for pool in cloud.runtime.pools() for pid in pool.worker_pids()]
    moto_pid = cloud.moto.process.pid
    cloud.stop()
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listening"
    for pid in [*pids, moto_pid]:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        )


def test_invocations_become_cloudwatch_metrics_and_alarms_are_evaluated(
    local_cloud: LocalCloud, api: Any, trained_model: tuple[Path, ModelMetadata]
) -> None:
    import datetime

    _, metadata = trained_model
    for _ in range(5):
        assert api.predict([metadata.sample_rows[0]]).status == 200
    verdicts = {v.name: v for v in local_cloud.evaluate_alarms()}
    assert local_cloud.deployment is not None and local_cloud.clients is not None
    for output in ("ErrorsAlarmName", "ErrorRateAlarmName", "P99DurationAlarmName"):
        name = local_cloud.deployment.output(output)
        assert verdicts[name].state == "OK", verdicts[name].reason
    function, alias = local_cloud.serving_function()
    now = datetime.datetime.now(datetime.UTC)
    stats = local_cloud.clients.cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Invocations",
        Statistics=["Sum"],
        Period=3600,
        Dimensions=[
            {"Name": "FunctionName", "Value": function},
            {"Name": "Resource", "Value": f"{function}:{alias}"},
            {"Name": "ExecutedVersion", "Value": "1"},
        ],
        StartTime=now - datetime.timedelta(hours=1),
        EndTime=now + datetime.timedelta(minutes=1),
    )
    assert sum(point["Sum"] for point in stats["Datapoints"]) >= 5
    model_metrics = local_cloud.clients.cloudwatch.list_metrics(
        Namespace="ModelServing", MetricName="Predictions"
    )
    assert model_metrics["Metrics"], "the function's EMF lines did not become metrics"


def test_a_second_start_resumes_published_versions_aliases_and_objects(
    cloud_assembly: Path, tmp_path: Path, second_model: Path
) -> None:
    """GIVEN a local cloud where a model was published and the alias moved WHEN it stops and starts
    again THEN the version, its pinned model and the alias weights are back."""
    from localcloud.cloud import LocalCloudSettings

    settings = LocalCloudSettings(state_dir=tmp_path / "lc", cdk_out=cloud_assembly)
    with LocalCloud(settings) as first:
        version = publish_model_version(first, second_model)
        set_weights(first, "1", {version: 0.25})
    with LocalCloud(settings) as second:
        assert second.clients is not None
        function, alias = second.serving_function()
        restored = second.clients.lambda_.get_alias(FunctionName=function, Name=alias)
        assert restored["RoutingConfig"]["AdditionalVersionWeights"] == {version: 0.25}
        second_api = Api(second)
        set_weights(second, version, {})
        response = second_api.predict([[1.0] * 30])
        assert response.headers["X-Function-Version"] == version
        assert response.json()["model_version"] == second_model.name
    fresh = LocalCloudSettings(state_dir=tmp_path / "lc", cdk_out=cloud_assembly, resume=False)
    with LocalCloud(fresh) as third:
        assert third.clients is not None
        function, alias = third.serving_function()
        assert third.clients.lambda_.get_alias(FunctionName=function, Name=alias)["FunctionVersion"] == "1"


def test_lambda_invoke_api_runs_the_version_the_alias_chooses(local_cloud: LocalCloud) -> None:
    """boto3's Invoke (AWS_ENDPOINT_URL_LAMBDA) runs our workers; other Lambda calls reach moto."""
    import boto3

    function, alias = local_cloud.serving_function()
    client = boto3.client("lambda", region_name="us-east-1")
    event = rest_proxy_event("GET", "/health")
    response = client.invoke(FunctionName=function, Qualifier=alias, Payload=json.dumps(event).encode())
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "1"
    body = json.loads(json.loads(response["Payload"].read())["body"])
    assert body["function_version"] == "1"
    assert client.get_alias(FunctionName=function, Name=alias)["FunctionVersion"] == "1"
    broken = client.invoke(FunctionName=f"{function}:1", Payload=b'{"not": "an api event"}')
    assert (
        broken.get("FunctionError") == "Unhandled"
        or json.loads(broken["Payload"].read())["statusCode"] >= 400
    )


def test_step_functions_executions_run_lambda_tasks_on_the_local_runtime(local_cloud: LocalCloud) -> None:
    """moto's own ASL interpreter runs the definition; its Lambda tasks reach our workers."""
    import boto3

    function, alias = local_cloud.serving_function()
    assert local_cloud.clients is not None
    role = local_cloud.clients.iam.create_role(RoleName="sfn-e2e", AssumeRolePolicyDocument="{}")["Role"][
        "Arn"
    ]
    definition = {
        "StartAt": "Health",
        "States": {
            "Health": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": f"{function}:{alias}",
                    "Payload": rest_proxy_event("GET", "/health"),
                },
                "ResultSelector": {"status.$": "$.Payload.statusCode"},
                "Next": "Healthy?",
            },
            "Healthy?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.status", "NumericEquals": 200, "Next": "Done"}],
                "Default": "Broken",
            },
            "Done": {"Type": "Succeed"},
            "Broken": {"Type": "Fail", "Error": "Unhealthy"},
        },
    }
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(name="e2e-health", definition=json.dumps(definition), roleArn=role)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")
    deadline = time.monotonic() + 60
    while (status := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.1)
    assert status["status"] == "SUCCEEDED", status


def test_log_subscription_delivery_can_be_awaited_through_the_lambda_api(
    local_cloud: LocalCloud, api: Any, trained_model: tuple[Path, ModelMetadata]
) -> None:
    """What a test driving `python -m localcloud up` in another process uses: wait until every line
    logged so far is delivered, with the counters. With a subscription on the serving function's log
    group, the answered request's line is among the delivered events."""
    from localcloud.subscriptions.client import wait_for_log_delivery

    _, metadata = trained_model
    endpoint = local_cloud.environment()["AWS_ENDPOINT_URL_LAMBDA"]
    before = wait_for_log_delivery(endpoint, timeout_s=30)
    assert api.predict([metadata.sample_rows[0]]).status == 200
    after = wait_for_log_delivery(endpoint, timeout_s=30)
    assert after["delivered"] and after["events_pending"] == 0
    assert after["lines_offered"] > before["lines_offered"]
    assert local_cloud.subscriptions is not None
    function, _ = local_cloud.serving_function()
    if any(function in s.sources for s in local_cloud.subscriptions.subscriptions):
        assert after["events_matched"] > before["events_matched"]
        assert after["events_delivered"] + after["events_dead_lettered"] >= after["events_matched"]
