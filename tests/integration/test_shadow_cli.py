"""`modelctl shadow start|stop|status|report` through the CLI runner, against moto.

The stacks' outputs come from a local-cloud deployment record (the factory's environment points
`AWS_ENDPOINT_URL` at loopback only for that lookup; boto3 itself talks to moto's mock)."""

from __future__ import annotations

import io
import json
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws
from rich.console import Console
from typer.testing import CliRunner, Result

from common.mirror.message import LiveResult, encode_messages, format_timestamp, parse_message
from common.mirror.record import ShadowRecord, ShadowResult
from common.model.metadata import ModelMetadata, read_metadata, write_metadata
from common.model.onnx_model import OnnxModel
from modelctl.cli import app
from modelctl.factory import Factory
from release.errors import ShadowError
from shadow.writer import RecordWriter
from tests.unit.modelctl.world import lambda_role

REGION = "us-east-1"
NOW = datetime(2026, 1, 2, 13, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _moto_mock_not_the_local_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's mock only intercepts AWS's own endpoints: a local cloud started earlier in the session
    (tests/e2e) leaves AWS_ENDPOINT_URL* in the environment, which would send these calls to it."""
    import os

    for name in [key for key in os.environ if key.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def candidate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.data import load_builtin
    from training.pipelines import build_pipeline
    from training.train import train_model

    root = tmp_path_factory.mktemp("candidate")
    return train_model(load_builtin(), build_pipeline("random_forest"), output_root=root).artifact_dir


def zipped_code() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@dataclass
class Stacks:
    factory: Factory
    output: io.StringIO
    function: str
    model_bucket: str
    log_bucket: str
    live: str
    candidate: str
    queue_url: str

    def run(self, *args: str) -> Result:
        self.output.truncate(0)
        self.output.seek(0)
        return CliRunner().invoke(app, ["shadow", *args], obj=self.factory)

    @property
    def printed(self) -> str:
        return self.output.getvalue()


@pytest.fixture()
def stacks(
    trained_model: tuple[Path, ModelMetadata],
    candidate_dir: Path,
    tmp_path: Path,
) -> Iterator[Stacks]:
    live_dir = trained_model[0]
    with mock_aws():
        suffix = uuid.uuid4().hex[:8]
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        lam = boto3.client("lambda", region_name=REGION)
        model_bucket, log_bucket = f"models-{suffix}", f"shadow-records-{suffix}"
        for bucket in (model_bucket, log_bucket):
            s3.create_bucket(Bucket=bucket)
        for folder in (live_dir, candidate_dir):
            for name in ("model.onnx", "metadata.json"):
                s3.upload_file(str(folder / name), model_bucket, f"models/{folder.name}/{name}")
        role = lambda_role(boto3.client("iam"), f"fn-{suffix}")
        function = f"inference-{suffix}"

        def publish(model: Path) -> str:
            variables = {"MODEL_URI": f"s3://{model_bucket}/models/{model.name}/"}
            lam.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
            return str(lam.publish_version(FunctionName=function)["Version"])

        lam.create_function(
            FunctionName=function,
            Runtime="python3.13",
            Role=role,
            Handler="index.handler",
            Code={"ZipFile": zipped_code()},
        )
        assert publish(live_dir) == "1"
        assert publish(candidate_dir) == "2"
        lam.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
        queue_url = sqs.create_queue(QueueName=f"shadow-{suffix}")["QueueUrl"]
        dlq_url = sqs.create_queue(QueueName=f"shadow-dlq-{suffix}")["QueueUrl"]
        deployment = tmp_path / "deployment.json"
        deployment.write_text(
            json.dumps(
                {
                    "stacks": [
                        {
                            "name": "ModelServing-Serving",
                            "outputs": {
                                "FunctionName": function,
                                "AliasName": "live",
                                "ModelBucketName": model_bucket,
                            },
                        },
                        {
                            "name": "ModelServing-Shadow",
                            "outputs": {
                                "LogBucketName": log_bucket,
                                "ConfigUri": f"s3://{log_bucket}/control/shadow.json",
                                "QueueUrl": queue_url,
                                "DeadLetterQueueUrl": dlq_url,
                                "FunctionName": f"shadow-{suffix}",
                                "DeadLetterAlarmName": f"dlq-alarm-{suffix}",
                            },
                        },
                    ]
                }
            )
        )
        output = io.StringIO()
        factory = Factory(
            env={"AWS_ENDPOINT_URL": "https://127.0.0.1:1", "MODELCTL_LOCAL_DEPLOYMENT": str(deployment)},
            now=lambda: NOW,
            console=Console(file=output, width=200),
        )
        yield Stacks(
            factory, output, function, model_bucket, log_bucket, live_dir.name, candidate_dir.name, queue_url
        )


def without_metadata(response: Any) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def config(stacks: Stacks) -> dict[str, Any]:
    body = boto3.client("s3").get_object(Bucket=stacks.log_bucket, Key="control/shadow.json")["Body"].read()
    document: dict[str, Any] = json.loads(body)
    return document


def test_start_by_function_version_writes_only_the_configuration(stacks: Stacks) -> None:
    lam = boto3.client("lambda", region_name=REGION)
    alias_before = without_metadata(lam.get_alias(FunctionName=stacks.function, Name="live"))
    versions_before = lam.list_versions_by_function(FunctionName=stacks.function)["Versions"]
    result = stacks.run("start", "2", "--sample", "25")
    assert result.exit_code == 0, result.output
    assert f"candidate {stacks.candidate} (function version 2) gets 25% of live requests" in stacks.printed
    document = config(stacks)
    assert (document["active"], document["sample_percent"]) == (True, 25.0)
    assert document["candidate_model_version"] == stacks.candidate
    assert document["live_model_version"] == stacks.live
    assert document["started_at"] == format_timestamp(NOW.timestamp())
    # What users receive is decided by the alias and the versions: untouched.
    assert without_metadata(lam.get_alias(FunctionName=stacks.function, Name="live")) == alias_before
    assert lam.list_versions_by_function(FunctionName=stacks.function)["Versions"] == versions_before


def test_start_by_model_version_and_replace(stacks: Stacks) -> None:
    assert stacks.run("start", stacks.candidate).exit_code == 0
    assert config(stacks)["sample_percent"] == 100.0
    result = stacks.run("start", stacks.live, "--sample", "5")
    assert result.exit_code == 0
    assert f"replacing the shadow of {stacks.candidate}" in stacks.printed
    assert "the report will compare it with itself" in stacks.printed


def test_a_model_only_on_disk_is_uploaded_first(stacks: Stacks, tmp_path: Path, candidate_dir: Path) -> None:
    copy = tmp_path / "artifacts" / "m-copy000001"
    shutil.copytree(candidate_dir, copy)
    metadata = read_metadata(copy)
    write_metadata(copy, ModelMetadata.from_dict({**metadata.to_dict(), "version": "m-copy000001"}))
    result = stacks.run("start", "m-copy000001", "--artifacts-dir", str(tmp_path / "artifacts"))
    assert result.exit_code == 0, result.output
    assert "uploaded m-copy000001 to the model store" in stacks.printed
    boto3.client("s3").head_object(Bucket=stacks.model_bucket, Key="models/m-copy000001/model.onnx")


@pytest.mark.parametrize(
    ("candidate", "message"),
    [
        ("m-nowhere0001", "model m-nowhere0001 is not in the model store"),
        ("9", "reading inference-"),
        ("not a version!", "is neither a function version"),
    ],
)
def test_bad_candidates_are_one_line_errors(stacks: Stacks, candidate: str, message: str) -> None:
    result = stacks.run("start", candidate)
    assert result.exit_code == 1
    assert isinstance(result.exception, ShadowError) and message in str(result.exception)


def test_a_candidate_with_other_features_is_refused(
    stacks: Stacks, tmp_path: Path, candidate_dir: Path
) -> None:
    other = tmp_path / "artifacts" / "m-otherfeat01"
    shutil.copytree(candidate_dir, other)
    metadata = read_metadata(other).to_dict()
    metadata.update(version="m-otherfeat01", feature_names=[f"x{i}" for i in range(30)])
    write_metadata(other, ModelMetadata.from_dict(metadata))
    result = stacks.run("start", "m-otherfeat01", "--artifacts-dir", str(tmp_path / "artifacts"))
    assert result.exit_code == 1 and "mirrored rows would not fit it" in str(result.exception)
    assert boto3.client("s3").list_objects_v2(Bucket=stacks.log_bucket).get("KeyCount", 0) == 0


def test_sample_must_be_a_percentage(stacks: Stacks) -> None:
    assert stacks.run("start", "2", "--sample", "150").exit_code == 2


def test_stop_and_status(stacks: Stacks) -> None:
    assert stacks.run("status").exit_code == 0
    assert "no shadow is running" in stacks.printed
    assert stacks.run("stop").exit_code == 0 and "no shadow is running" in stacks.printed
    stacks.run("start", "2", "--sample", "50")
    boto3.client("sqs").send_message(QueueUrl=stacks.queue_url, MessageBody="{}")
    assert stacks.run("status").exit_code == 0
    assert (
        f"shadow active: candidate {stacks.candidate} (function version 2), 50% of requests" in stacks.printed
    )
    assert "shadow queue: 1 waiting, 0 in flight" in stacks.printed
    assert stacks.run("stop").exit_code == 0 and f"shadow of {stacks.candidate} stopped" in stacks.printed
    assert config(stacks)["active"] is False
    result = stacks.run("status", "--json")
    status = json.loads(result.stdout)
    assert status["config"]["active"] is False and status["config"]["stopped_at"]
    assert status["live_model_version"] == stacks.live
    assert status["queue"] == {"visible": 1, "in_flight": 0}


def write_records(stacks: Stacks, live_dir: Path, candidate_dir: Path, count: int) -> int:
    live, candidate = OnnxModel.load(live_dir), OnnxModel.load(candidate_dir)
    base = np.asarray(live.metadata.sample_rows, dtype=np.float32)
    records, rows = [], 0
    for index in range(count):
        inputs = base[: 1 + index % 3] * np.float32(1 + index / 10)
        rows += len(inputs)
        served, shadowed = live.predict(inputs), candidate.predict(inputs)
        moment = NOW - timedelta(minutes=5 + 17 * index)
        (body,) = encode_messages(
            request_id=f"req-{index}",
            timestamp=format_timestamp(moment.timestamp()),
            candidate_model_version=candidate.version,
            inputs=inputs,
            live=LiveResult(
                live.version, "1", served.labels, served.probabilities.tolist(), 0.05 + index / 100
            ),
        )
        result = ShadowResult(
            candidate.version, "$LATEST", shadowed.labels, shadowed.probabilities.tolist(), 2.0
        )
        records.append(
            ShadowRecord(parse_message(body), result, f"msg-{index}", format_timestamp(NOW.timestamp()))
        )
    writer = RecordWriter(boto3.client("s3"), stacks.log_bucket)
    for start in range(0, count, 4):  # batches of four, like the shadow function's
        writer.write(records[start : start + 4])
    writer.write(records[:4])  # a redelivered batch
    return rows


def test_report_counts_what_was_recorded_and_writes_html_and_json(
    stacks: Stacks,
    trained_model: tuple[Path, ModelMetadata],
    candidate_dir: Path,
    tmp_path: Path,
) -> None:
    # 12 requests 17 min apart from 13:25 back to 10:18, written in batches of 4 (plus one redelivered):
    # each batch spans two request hours, so it is two objects; hours 10, 11, 12 and 13.
    rows = write_records(stacks, trained_model[0], candidate_dir, 12)
    html, json_path = tmp_path / "report.html", tmp_path / "report.json"
    result = stacks.run(
        "report", "--since", "4h", "--html", str(html), "--json", str(json_path), "--top", "3"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(json_path.read_text())
    assert report["counts"] == {"requests": 12, "messages": 12, "rows": rows}
    assert report["source"]["objects"] == 6 and report["source"]["duplicates_dropped"] == 0
    assert report["models"]["shadow"] == {stacks.candidate: rows}
    assert len(report["top_disagreements"]) == 3 and len(report["hourly"]) == 4
    assert "Confusion" in stacks.printed and "label agreement" in stacks.printed
    assert html.read_text().count("<svg") == 4
    narrower = json.loads(stacks.run("report", "--since", "1h", "--json", "-", "--html", "").stdout)
    assert narrower["counts"]["requests"] == 4  # 5, 22, 39 and 56 minutes ago


def test_report_on_an_empty_window(stacks: Stacks, tmp_path: Path) -> None:
    result = stacks.run(
        "report", "--since", "2h", "--html", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")
    )
    assert result.exit_code == 0, result.output
    assert "No shadow records in this window" in stacks.printed
    assert json.loads((tmp_path / "r.json").read_text())["counts"]["requests"] == 0


def write_regression_records(stacks: Stacks, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Records of a regression pair as the report reads them (numbers as predictions, no
    probabilities), one object per request hour; returns the live and shadow values written."""
    import gzip

    from common.mirror.record import object_key

    lives, shadows = [], []
    by_hour: dict[datetime, list[str]] = {}
    for index in range(count):
        moment = NOW - timedelta(minutes=5 + 17 * index)
        live = [100.0 + index, 50.0 - index]
        shadow = [value + (0.5 if index % 3 else 9.0) for value in live]
        lives += live
        shadows += shadow
        record = {
            "schema_version": 1,
            "record_id": f"reg-{index}#0",
            "request_id": f"reg-{index}",
            "part": 0,
            "parts": 1,
            "row_offset": 0,
            "timestamp": format_timestamp(moment.timestamp()),
            "inputs": [[1.0, 2.0], [3.0, 4.0]],
            "live": {
                "model_version": "m-live",
                "function_version": "1",
                "predictions": live,
                "probabilities": [],
                "inference_ms": 0.05,
            },
            "shadow": {
                "model_version": "m-reg",
                "function_version": "$LATEST",
                "predictions": shadow,
                "probabilities": [[], []],
                "inference_ms": 0.07,
            },
            "message_id": f"msg-{index}",
            "processed_at": format_timestamp(NOW.timestamp()),
        }
        hour = moment.replace(minute=0, second=0, microsecond=0)
        by_hour.setdefault(hour, []).append(json.dumps(record))
    s3 = boto3.client("s3")
    for hour, lines in by_hour.items():
        key = object_key(hour, [json.loads(line)["record_id"] for line in lines])
        s3.put_object(
            Bucket=stacks.log_bucket, Key=key, Body=gzip.compress("\n".join(lines).encode() + b"\n")
        )
    return np.asarray(lives), np.asarray(shadows)


def test_report_of_a_regression_pair_with_a_tolerance(stacks: Stacks, tmp_path: Path) -> None:
    live, shadow = write_regression_records(stacks, 12)
    html = tmp_path / "report.html"
    result = stacks.run(
        "report",
        "--since",
        "4h",
        "--json",
        "-",
        "--html",
        str(html),
        "--tolerance",
        "1",
        "--relative-tolerance",
        "0",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["task"] == "regression"
    assert report["counts"] == {"requests": 12, "messages": 12, "rows": 24}
    assert report["tolerance"]["within"] == int(np.isclose(shadow, live, rtol=0.0, atol=1.0).sum()) == 16
    assert report["tolerance"]["rule"] == "|shadow - live| <= 1 + 0 x |live|"
    assert report["difference"]["summary"]["max"] == 9.0
    assert report["models"]["shadow"] == {"m-reg": 24}
    assert "Rows that differ most" in html.read_text()
    terminal = stacks.run("report", "--since", "4h", "--json", "", "--html", "")
    assert terminal.exit_code == 0 and "Shadow report (regression)" in stacks.printed
    for bad in (["--tolerance", "-1"], ["--relative-tolerance", "inf"]):
        refused = stacks.run("report", "--since", "4h", *bad)
        assert refused.exit_code == 2, refused.output
