"""The serving stack's template: function, version + alias, REST API, usage plan, alarms, logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra.constructs import ALIAS_NAME, HANDLER, predict_request_schema
from tests.unit.infra.infra_support import SynthesizedApp, synthesize

MODEL_BUCKET_EXPORT = "ModelServing-ModelStore-ModelBucketName"

ALIAS_DIMENSION = {
    "Name": "Resource",
    "Value": {"Fn::Join": ["", [{"Ref": Match.any_value()}, f":{ALIAS_NAME}"]]},
}


def only_logical_id(template: Template, resource_type: str, props: Any = None) -> str:
    found = template.find_resources(resource_type, {"Properties": props} if props is not None else None)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found))


@pytest.fixture(scope="module")
def alias_id(template: Template) -> str:
    return only_logical_id(template, "AWS::Lambda::Alias")


@pytest.fixture(scope="module")
def function_id(template: Template) -> str:
    # The inference function (the stack also holds the feedback function: test_infra_monitoring.py).
    return only_logical_id(template, "AWS::Lambda::Function", {"Handler": "inference.handler.handler"})


# -- function -------------------------------------------------------------------------------------


def test_function_runtime_architecture_handler_memory_timeout_tracing(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "Handler": HANDLER,
            "MemorySize": 1024,
            "Timeout": 15,
            "TracingConfig": {"Mode": "Active"},
        },
    )


def test_function_environment_pins_the_model_and_limits(template: Template, model_version: str) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": {
                    "MODEL_URI": {
                        "Fn::Join": [
                            "",
                            [
                                "s3://",
                                {"Fn::ImportValue": "ModelServing-ModelStore-ModelBucketName"},
                                f"/models/{model_version}/",
                            ],
                        ]
                    },
                    "MAX_ROWS": "1000",
                    "MAX_BODY_BYTES": "262144",
                    "POWERTOOLS_SERVICE_NAME": "inference",
                    "POWERTOOLS_METRICS_NAMESPACE": "ModelServing",
                    "LOG_LEVEL": "INFO",
                }
            },
        },
    )


def test_function_logs_to_its_own_log_group_with_retention(template: Template) -> None:
    functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "inference.handler.handler"}}
    )
    (function,) = functions.values()
    group_ref = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    group = template.to_json()["Resources"][group_ref]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == 30
    assert group["DeletionPolicy"] == "Retain"


def test_function_role_has_no_managed_policies_and_reads_only_models(template: Template) -> None:
    lambda_principal = Match.object_like({"Principal": {"Service": "lambda.amazonaws.com"}})
    roles = template.find_resources(
        "AWS::IAM::Role",
        {
            "Properties": {
                "AssumeRolePolicyDocument": {"Statement": [lambda_principal]},
                "Description": Match.string_like_regexp("^Inference function"),
            }
        },
    )
    (role,) = roles.values()
    assert "ManagedPolicyArns" not in role["Properties"]
    models_prefix = {
        "Fn::Join": ["", Match.array_with([{"Fn::ImportValue": MODEL_BUCKET_EXPORT}, "/models/*"])]
    }
    read_models = Match.object_like(
        {
            "Action": ["s3:GetBucket*", "s3:GetObject*", "s3:List*"],
            "Resource": Match.array_with([models_prefix]),
        }
    )
    template.has_resource_properties(
        "AWS::IAM::Policy", {"PolicyDocument": {"Statement": Match.array_with([read_models])}}
    )
    (role_id,) = roles
    policies = json.dumps(
        [
            policy
            for policy in template.find_resources("AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
        ]
    )
    assert "s3:PutObject" not in policies and "s3:DeleteObject" not in policies


# -- version and alias -------------------------------------------------------------------------------


def test_alias_live_points_at_the_published_version(template: Template, function_id: str) -> None:
    version_id = only_logical_id(template, "AWS::Lambda::Version")
    template.has_resource_properties("AWS::Lambda::Version", {"FunctionName": {"Ref": function_id}})
    template.has_resource_properties(
        "AWS::Lambda::Alias",
        {
            "Name": ALIAS_NAME,
            "FunctionName": {"Ref": function_id},
            "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]},
        },
    )


def test_published_versions_are_retained_for_rollback_and_canaries(template: Template) -> None:
    template.has_resource(
        "AWS::Lambda::Version", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )


def test_no_provisioned_concurrency_by_default(template: Template) -> None:
    template.has_resource_properties("AWS::Lambda::Alias", {"ProvisionedConcurrencyConfig": Match.absent()})


# -- REST API -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("POST", "predict"), ("GET", "health")])
def test_methods_integrate_with_the_alias_not_the_function(
    template: Template, alias_id: str, method: str, path: str
) -> None:
    api_id = only_logical_id(template, "AWS::ApiGateway::RestApi", {})
    root = {"Fn::GetAtt": [api_id, "RootResourceId"]}
    resource_id = only_logical_id(template, "AWS::ApiGateway::Resource", {"PathPart": path, "ParentId": root})
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": method,
            "ResourceId": {"Ref": resource_id},
            "ApiKeyRequired": True,
            "AuthorizationType": "NONE",
            "Integration": {
                "Type": "AWS_PROXY",
                "IntegrationHttpMethod": "POST",
                "Uri": {"Fn::Join": ["", Match.array_with([{"Ref": alias_id}, "/invocations"])]},
            },
        },
    )


def test_no_integration_or_permission_targets_the_unqualified_function(
    template: Template, function_id: str, alias_id: str
) -> None:
    for method in template.find_resources("AWS::ApiGateway::Method").values():
        integration = json.dumps(method["Properties"].get("Integration", {}))
        if ":{version}/invocations" in integration:  # pinned Open Inference routes: a qualified ARN
            assert "Credentials" in integration
            continue
        assert function_id not in integration
    permissions = {  # the feedback function's own permission is tested in test_infra_monitoring.py
        k: v
        for k, v in template.find_resources("AWS::Lambda::Permission").items()
        if "FeedbackFunction" not in json.dumps(v)
    }
    assert len(permissions) == 8  # /predict, /health and the six Open Inference routes on the alias
    for permission in permissions.values():
        assert permission["Properties"]["FunctionName"] == {"Ref": alias_id}
        assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"


def test_api_is_regional_and_named_after_the_project(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ApiGateway::RestApi",
        {
            "Name": "ModelServing-inference",
            "EndpointConfiguration": {"Types": ["REGIONAL"]},
            "ApiKeySourceType": "HEADER",
        },
    )


def test_stage_throttles_traces_and_writes_json_access_logs(template: Template) -> None:
    access_logs = [
        logical_id
        for logical_id, group in template.find_resources("AWS::Logs::LogGroup").items()
        if "ApiAccessLogs" in logical_id
    ]
    assert len(access_logs) == 1
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "prod",
            "TracingEnabled": True,
            "MethodSettings": [
                Match.object_like(
                    {
                        "HttpMethod": "*",
                        "ResourcePath": "/*",
                        "ThrottlingRateLimit": 50,
                        "ThrottlingBurstLimit": 100,
                        "LoggingLevel": "ERROR",
                        "MetricsEnabled": True,
                        "DataTraceEnabled": False,
                    }
                )
            ],
            "AccessLogSetting": {
                "DestinationArn": {"Fn::Join": ["", Match.array_with([{"Ref": access_logs[0]}])]},
                "Format": Match.any_value(),
            },
        },
    )
    (stage,) = template.find_resources("AWS::ApiGateway::Stage").values()
    access_format = json.loads(stage["Properties"]["AccessLogSetting"]["Format"])
    assert access_format["requestId"] == "$context.requestId"
    assert access_format["status"] == "$context.status"
    assert access_format["integrationLatency"] == "$context.integrationLatency"


def test_api_account_role_is_managed_by_default(template: Template) -> None:
    template.resource_count_is("AWS::ApiGateway::Account", 1)


def test_usage_plan_throttles_the_api_key_on_the_stage(template: Template) -> None:
    key_id = only_logical_id(template, "AWS::ApiGateway::ApiKey")
    plan_id = only_logical_id(template, "AWS::ApiGateway::UsagePlan")
    stage_id = only_logical_id(template, "AWS::ApiGateway::Stage")
    template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Throttle": {"RateLimit": 50, "BurstLimit": 100},
            "ApiStages": [Match.object_like({"Stage": {"Ref": stage_id}})],
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::UsagePlanKey",
        {
            "KeyId": {"Ref": key_id},
            "KeyType": "API_KEY",
            "UsagePlanId": {"Ref": plan_id},
        },
    )
    template.has_resource_properties("AWS::ApiGateway::ApiKey", {"Enabled": True})


def test_predict_body_is_validated_against_the_exported_schema(template: Template) -> None:
    model_id = only_logical_id(template, "AWS::ApiGateway::Model")
    validator_id = only_logical_id(template, "AWS::ApiGateway::RequestValidator")
    template.has_resource_properties(
        "AWS::ApiGateway::RequestValidator",
        {
            "ValidateRequestBody": True,
            "ValidateRequestParameters": True,
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "RequestModels": {"application/json": {"Ref": model_id}},
            "RequestValidatorId": {"Ref": validator_id},
        },
    )
    (model,) = template.find_resources("AWS::ApiGateway::Model").values()
    assert model["Properties"]["Schema"] == predict_request_schema(1000)


def test_gateway_errors_use_the_function_error_envelope(template: Template) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in template.find_resources("AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX", "BAD_REQUEST_BODY"}
    sample = {
        "$context.error.messageString": '"Forbidden"',
        "$context.error.responseType": "MISSING_API_KEY",
        "$context.requestId": "r-1",
    }
    for properties in responses.values():
        body = properties["ResponseTemplates"]["application/json"]
        for placeholder, value in sample.items():
            body = body.replace(placeholder, value)
        assert set(json.loads(body)["error"]) == {"code", "message", "request_id"}
    assert responses["BAD_REQUEST_BODY"]["StatusCode"] == "400"
    assert "ResponseParameters" not in responses["DEFAULT_4XX"]  # no CORS by default


def test_no_cors_preflight_by_default(template: Template) -> None:
    template.resource_properties_count_is("AWS::ApiGateway::Method", {"HttpMethod": "OPTIONS"}, 0)


# -- alarms -----------------------------------------------------------------------------------------


def test_errors_and_p99_duration_alarms_are_scoped_to_the_alias(template: Template) -> None:
    template.resource_count_is("AWS::CloudWatch::Alarm", 3)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "Errors",
            "Namespace": "AWS/Lambda",
            "Statistic": "Sum",
            "Period": 60,
            "Threshold": 5,
            "EvaluationPeriods": 3,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "Dimensions": Match.array_with([ALIAS_DIMENSION]),
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "Duration",
            "ExtendedStatistic": "p99",
            "Threshold": 1000,
            "Dimensions": Match.array_with([ALIAS_DIMENSION]),
        },
    )


def test_error_rate_alarm_divides_alias_errors_by_alias_invocations(template: Template) -> None:
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Threshold": 5,
            "Metrics": Match.array_with(
                [
                    Match.object_like({"Expression": "IF(invocations > 0, 100 * errors / invocations, 0)"}),
                    Match.object_like(
                        {
                            "Id": "errors",
                            "MetricStat": Match.object_like(
                                {
                                    "Metric": Match.object_like(
                                        {
                                            "MetricName": "Errors",
                                            "Dimensions": Match.array_with([ALIAS_DIMENSION]),
                                        }
                                    )
                                }
                            ),
                        }
                    ),
                    Match.object_like(
                        {
                            "Id": "invocations",
                            "MetricStat": Match.object_like(
                                {
                                    "Metric": Match.object_like(
                                        {
                                            "MetricName": "Invocations",
                                            "Dimensions": Match.array_with([ALIAS_DIMENSION]),
                                        }
                                    )
                                }
                            ),
                        }
                    ),
                ]
            ),
        },
    )


# -- outputs and environment -------------------------------------------------------------------------


def test_outputs_name_what_operators_and_modelctl_need(template: Template, model_version: str) -> None:
    outputs = template.to_json()["Outputs"]
    assert set(outputs) == {
        "ApiUrl",
        "FunctionName",
        "AliasName",
        "AliasArn",
        "ModelBucketName",
        "ModelVersion",
        "ErrorsAlarmName",
        "ErrorRateAlarmName",
        "P99DurationAlarmName",
        "ReleaseTableName",
        "ApiKeyId",
        "FeedbackFunctionName",
    }
    assert outputs["ModelVersion"]["Value"] == model_version
    assert outputs["AliasName"]["Value"] == ALIAS_NAME


def test_stacks_are_environment_agnostic_without_cdk_default_env(synthesized: SynthesizedApp) -> None:
    for stack in (synthesized.model_store, synthesized.serving):
        assert cdk.Token.is_unresolved(stack.account)
        assert cdk.Token.is_unresolved(stack.region)
    assert {stack.stack_name for stack in synthesized.serving.dependencies} == {
        synthesized.model_store.stack_name,
        "ModelServing-Shadow",  # the inference function mirrors to the shadow queue (docs/shadow.md)
        "ModelServing-Precompute",  # GET /predictions/{id} integrates its lookup function
    }


# -- the other options ---------------------------------------------------------------------------------


def test_iam_auth_has_no_api_key_or_usage_plan(iam_cors_app: SynthesizedApp) -> None:
    template = iam_cors_app.serving_template
    for method in ("POST", "GET"):
        template.has_resource_properties(
            "AWS::ApiGateway::Method",
            {
                "HttpMethod": method,
                "AuthorizationType": "AWS_IAM",
                "ApiKeyRequired": False,
            },
        )
    template.resource_count_is("AWS::ApiGateway::ApiKey", 0)
    template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)
    assert "ApiKeyId" not in template.to_json()["Outputs"]


def test_options_reach_the_function_and_alias(iam_cors_app: SynthesizedApp) -> None:
    template = iam_cors_app.serving_template
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.13",
            "Architectures": ["x86_64"],
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Alias",
        {
            "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2},
        },
    )
    for group in template.find_resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 90
    template.resource_count_is("AWS::ApiGateway::Account", 0)


def test_cors_adds_unauthenticated_preflight_and_headers_on_gateway_errors(
    iam_cors_app: SynthesizedApp,
) -> None:
    template = iam_cors_app.serving_template
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "OPTIONS",
            "AuthorizationType": "NONE",
            "Integration": Match.object_like(
                {
                    "Type": "MOCK",
                    "IntegrationResponses": [
                        Match.object_like(
                            {
                                "ResponseParameters": Match.object_like(
                                    {
                                        "method.response.header.Access-Control-Allow-Origin": "'https://app.example.com'",
                                    }
                                )
                            }
                        )
                    ],
                }
            ),
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {
            "ResponseType": "DEFAULT_4XX",
            "ResponseParameters": {
                "gatewayresponse.header.Access-Control-Allow-Origin": "'https://app.example.com'"
            },
        },
    )


def test_open_api_without_body_validation(open_app: SynthesizedApp) -> None:
    template = open_app.serving_template
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationType": "NONE",
            "ApiKeyRequired": False,
            "RequestModels": Match.absent(),
        },
    )
    template.resource_count_is("AWS::ApiGateway::Model", 0)
    template.resource_count_is("AWS::ApiGateway::UsagePlan", 0)
    # Several origins cannot be one fixed gateway-response header: the function answers CORS.
    template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {
            "ResponseType": "DEFAULT_4XX",
            "ResponseParameters": Match.absent(),
        },
    )


def test_account_and_region_come_only_from_the_cdk_environment(
    artifacts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "111111111111")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    synthesized = synthesize(artifacts_dir, tmp_path / "cdk.out")  # cdk-nag runs here too
    for stack in (synthesized.model_store, synthesized.serving):
        assert (stack.account, stack.region) == ("111111111111", "eu-west-1")


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"instances": [[1.0, 2.0]]}, True),
        (
            {
                "instances": [{"a": 1}],
            },
            True,
        ),
        ({"instances": [["not checked here"]]}, True),  # values are the function's job
        ({"instances": [[0.0]] * 3}, True),
        ({"instances": [[0.0]] * 4}, False),
        ({"instances": []}, False),
        ({"instances": [1.0]}, False),
        ({"instances": {"a": 1}}, False),
        ({"rows": [[1.0]]}, False),
        ({"instances": [[1.0]], "extra": 1}, False),
        ([[1.0]], False),
    ],
)
def test_request_schema_rejects_only_what_the_function_rejects(body: Any, valid: bool) -> None:
    from jsonschema import Draft4Validator  # type: ignore[import-untyped]

    assert Draft4Validator(predict_request_schema(3)).is_valid(body) is valid
