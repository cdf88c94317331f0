"""The retraining stack: the state machine's definition (states, retries, catches, timeout), the image
function staged without Docker, the schedule, the SageMaker switch, the accuracy alarm, and cfn-lint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cfnlint.api import ManualArgs, lint

from infra.config import ConfigError
from infra.config.retrain import RetrainConfig
from infra.constructs.retraining_image import IMAGE_SOURCES, sagemaker_source_archive
from infra.stacks import RetrainingStack
from localcloud.image_functions import image_asset, task_root_copies
from tests.unit.infra.infra_support import REPO_ROOT, SynthesizedApp, synthesize
from tests.unit.infra.infra_support import state_machine_definition as definition

TASKS = ("Prepare", "Train", "Evaluate", "Gate", "Register", "Release")


@pytest.fixture(scope="module")
def retraining(synthesized: SynthesizedApp) -> Template:
    return Template.from_stack(synthesized.stack(RetrainingStack))


@pytest.fixture(scope="module")
def states(retraining: Template) -> dict[str, Any]:
    return dict(definition(retraining)["States"])


@pytest.fixture(scope="module")
def sagemaker_app(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    return synthesize(
        artifacts_dir,
        tmp_path_factory.mktemp("cdk.out"),
        retrain_compute="sagemaker",
        retrain_schedule="cron(0 3 ? * MON *)",
        retrain_schedule_enabled="true",
        retrain_accuracy_alarm_threshold="0.9",
        retrain_release="shift",
        retrain_shift_steps="25,100",
        retrain_shift_bake_seconds="120",
    )


def test_the_workflow_runs_every_step_then_releases_or_notifies_the_rejection(states: dict[str, Any]) -> None:
    assert states["Prepare"]["Next"] == "Train"
    assert states["Train"]["Next"] == "Evaluate"
    assert states["Evaluate"]["Next"] == "Gate"
    assert states["Gate"]["Next"] == "Releasable?"
    choice = states["Releasable?"]
    assert choice["Type"] == "Choice"
    assert choice["Choices"] == [{"Variable": "$.gate.releasable", "BooleanEquals": True, "Next": "Register"}]
    assert choice["Default"] == "Rejected"
    assert states["Register"]["Next"] == "Release"
    assert states["Release"]["Next"] == "Released"  # the place for one more state after a release
    assert states["Released"]["Next"] == "NotifySuccess"
    assert states["NotifySuccess"]["Next"] == "Succeeded"
    assert states["Rejected"]["Next"] == "NotifyRejected"
    assert states["NotifyRejected"]["Next"] == "CandidateRejected"
    assert states["NotifyFailure"]["Next"] == "Failed"
    assert states["Failed"]["Type"] == "Fail"


def test_every_step_runs_the_image_function_with_its_name_and_the_state(states: dict[str, Any]) -> None:
    for name in TASKS:
        task = states[name]
        assert task["Type"] == "Task"
        assert task["Parameters"]["step"] == name.lower()
        assert task["Parameters"]["state.$"] == "$"
        assert task["Parameters"]["execution.$"] == "$$.Execution.Id"
        assert task["ResultPath"].startswith("$.")


def test_every_task_retries_transient_errors_with_backoff_and_catches_everything(
    states: dict[str, Any],
) -> None:
    tasks = [name for name, state in states.items() if state["Type"] == "Task"]
    assert set(TASKS) | {"NotifyFailure", "NotifySuccess", "NotifyRejected"} == set(tasks)
    for name in TASKS:
        retries = {tuple(rule["ErrorEquals"]): rule for rule in states[name]["Retry"]}
        service = retries[
            (
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
                "Lambda.TooManyRequestsException",
                "Lambda.ClientExecutionTimeoutException",
            )
        ]
        assert service["BackoffRate"] == 2 and service["MaxAttempts"] >= 3
        assert retries[("TransientStepError",)]["BackoffRate"] == 2
        (catch,) = states[name]["Catch"]
        assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}
    assert ("ReleaseBusyError",) in {tuple(r["ErrorEquals"]) for r in states["Release"]["Retry"]}
    for name in ("NotifySuccess", "NotifyRejected", "NotifyFailure"):
        assert states[name]["Catch"][0]["Next"] == "Failed"


def test_one_notification_per_outcome_names_it(states: dict[str, Any]) -> None:
    outcomes = {
        name: states[name]["Parameters"]["Message"]["outcome"]
        for name in ("NotifySuccess", "NotifyRejected", "NotifyFailure")
    }
    assert outcomes == {"NotifySuccess": "released", "NotifyRejected": "rejected", "NotifyFailure": "failed"}
    failure = states["NotifyFailure"]["Parameters"]["Message"]
    assert failure["error.$"] == "$.error.Error" and failure["cause.$"] == "$.error.Cause"
    assert all(states[n]["Resource"].endswith(":states:::sns:publish") for n in outcomes)


def test_the_execution_has_a_timeout(retraining: Template, synthesized: SynthesizedApp) -> None:
    document = definition(retraining)
    assert document["TimeoutSeconds"] == synthesized.config.retrain.workflow_timeout_minutes * 60


def test_the_function_is_a_container_image_staged_without_docker(
    retraining: Template, synthesized: SynthesizedApp
) -> None:
    retraining.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "PackageType": "Image",
            "ImageConfig": {"Command": ["retrain.handler.handler"]},
            "Timeout": synthesized.config.retrain.timeout_seconds,
            "MemorySize": synthesized.config.retrain.memory_mb,
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "MODELCTL_FUNCTION": {"Fn::ImportValue": "ModelServing-Serving-FunctionName"},
                        "RETRAIN_RELEASE": "shadow",
                        "RETRAIN_GATE_METRIC": "accuracy",
                    }
                )
            },
        },
    )
    (function,) = retraining.find_resources("AWS::Lambda::Function").values()
    image = image_asset(
        Path(synthesized.app.outdir),
        synthesized.stack(RetrainingStack).artifact_id,
        function["Properties"]["Code"]["ImageUri"]["Fn::Sub"],
    )
    assert image.dockerfile == "functions/retraining/Dockerfile"
    assert image.build_args == {"PYTHON_VERSION": synthesized.config.runtime.python_version}
    staged = image.directory
    assert (staged / "functions/retraining/Dockerfile").is_file()
    assert sorted(p.name for p in staged.iterdir()) == sorted({s.split("/")[0] for s in IMAGE_SOURCES})
    assert not list(staged.rglob("__pycache__"))


def test_the_dockerfile_copies_exactly_the_staged_sources() -> None:
    copies = task_root_copies((REPO_ROOT / "functions/retraining/Dockerfile").read_text())
    assert {source for source, _ in copies} == set(IMAGE_SOURCES)
    assert ("functions/common", "common") in copies


def test_the_schedule_comes_from_the_config_and_is_off_by_default(retraining: Template) -> None:
    retraining.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(7 days)",
            "State": "DISABLED",
            "Targets": [
                Match.object_like({"Input": json.dumps({"trigger": "schedule"}, separators=(",", ":"))})
            ],
        },
    )
    assert not retraining.find_resources("AWS::CloudWatch::Alarm")


def test_the_topic_is_encrypted_and_tls_only(retraining: Template) -> None:
    retraining.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    retraining.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )


def test_sagemaker_compute_swaps_the_train_step_for_a_training_job(sagemaker_app: SynthesizedApp) -> None:
    template = Template.from_stack(sagemaker_app.stack(RetrainingStack))
    states = definition(template)["States"]
    assert "Train" not in states
    job = states["TrainOnSageMaker"]
    assert job["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
    assert job["Parameters"]["AlgorithmSpecification"]["TrainingImage"] == (
        sagemaker_app.config.retrain.sagemaker_image_uri
    )
    assert job["Parameters"]["HyperParameters"]["sagemaker_program"] == "train_entry.py"
    assert job["Next"] == "Collect" and states["Collect"]["Next"] == "Evaluate"
    assert job["Catch"][0]["Next"] == "NotifyFailure"
    template.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "cron(0 3 ? * MON *)", "State": "ENABLED"}
    )


def test_an_accuracy_threshold_adds_an_alarm_whose_state_change_starts_the_workflow(
    sagemaker_app: SynthesizedApp,
) -> None:
    template = Template.from_stack(sagemaker_app.stack(RetrainingStack))
    config = sagemaker_app.config
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": config.metrics.metrics_namespace,
            "MetricName": "LiveAccuracy",
            "Dimensions": [{"Name": "service", "Value": config.metrics.service_name}],
            "Threshold": 0.9,
            "ComparisonOperator": "LessThanThreshold",
        },
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {"source": ["aws.cloudwatch"], "detail": {"state": {"value": ["ALARM"]}}}
            ),
            "Targets": [
                Match.object_like({"Input": json.dumps({"trigger": "accuracy_alarm"}, separators=(",", ":"))})
            ],
        },
    )


def test_a_shift_release_starts_the_release_controller_it_imports(sagemaker_app: SynthesizedApp) -> None:
    """retrain_release shift: the release step may start the release controller (only it), named by
    the release stack's export, with the steps and bakes from the configuration."""
    template = Template.from_stack(sagemaker_app.stack(RetrainingStack))
    controller = {"Fn::ImportValue": Match.string_like_regexp(".*-Release-ReleaseControllerArn")}
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "RETRAIN_RELEASE": "shift",
                        "RETRAIN_SHIFT_STEPS": "25,100",
                        "RETRAIN_SHIFT_BAKE_SECONDS": "120",
                        "MODELCTL_RELEASE_CONTROLLER": controller,
                    }
                )
            }
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": "states:StartExecution", "Resource": controller})]
                )
            }
        },
    )


def test_the_sagemaker_source_archive_is_deterministic(tmp_path: Path) -> None:
    first = sagemaker_source_archive(tmp_path / "a")
    second = sagemaker_source_archive(tmp_path / "b")
    assert first.name == second.name and first.read_bytes() == second.read_bytes()


def test_cfn_lint_finds_no_errors_in_the_retraining_templates(
    synthesized: SynthesizedApp, sagemaker_app: SynthesizedApp
) -> None:
    problems = []
    for app in (synthesized, sagemaker_app):
        template = Template.from_stack(app.stack(RetrainingStack)).to_json()
        matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"]))
        problems += [f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in ("W3005", "W6001")]
    assert problems == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("retrain_compute", "fargate"),
        ("retrain_schedule", "every monday"),
        ("retrain_release", "bluegreen"),
        ("retrain_gate_metric", "precision"),
        ("retrain_timeout_seconds", 901),
        ("retrain_base_data", "/data/base.csv"),
        ("retrain_canary_bake_seconds", 900),
    ],
)
def test_invalid_retraining_settings_name_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"serving.{key}"):
        RetrainConfig(**{key.removeprefix(RetrainConfig.PREFIX): value})  # type: ignore[arg-type]
