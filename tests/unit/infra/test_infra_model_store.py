"""The stateful model store: bucket hardening, retention, artifact upload, stable logical IDs."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match, Template

from tests.unit.infra.infra_support import PRIVATE_ENCRYPTED_BUCKET, SynthesizedApp

# Renaming any of these replaces a retained, stateful resource: change them only with a migration.
STATEFUL_LOGICAL_IDS = {
    "ModelStoreBucket9405F36E": "AWS::S3::Bucket",
    "ModelStoreAccessLogsBucketE0D7F56F": "AWS::S3::Bucket",
}


def bucket_ids(template: Template) -> dict[str, str]:
    return {logical_id: "AWS::S3::Bucket" for logical_id in template.find_resources("AWS::S3::Bucket")}


def test_stateful_logical_ids_are_stable(store_template: Template) -> None:
    assert bucket_ids(store_template) == STATEFUL_LOGICAL_IDS


def test_buckets_are_private_encrypted_and_retained(store_template: Template) -> None:
    for logical_id in STATEFUL_LOGICAL_IDS:
        store_template.has_resource(
            "AWS::S3::Bucket",
            {
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": Match.object_like(
                    {
                        **PRIVATE_ENCRYPTED_BUCKET,
                        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    }
                ),
            },
        )
        assert store_template.to_json()["Resources"][logical_id]["Type"] == "AWS::S3::Bucket"


def test_model_bucket_is_versioned_and_logs_access(store_template: Template) -> None:
    store_template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": {
                "DestinationBucketName": {"Ref": "ModelStoreAccessLogsBucketE0D7F56F"},
                "LogFilePrefix": "model-bucket/",
            },
        },
    )


def test_access_logs_expire_with_the_log_retention(store_template: Template) -> None:
    store_template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [Match.object_like({"ExpirationInDays": 30, "Status": "Enabled"})]
            },
        },
    )


def test_both_buckets_deny_requests_without_tls(store_template: Template) -> None:
    for logical_id in STATEFUL_LOGICAL_IDS:
        store_template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": logical_id},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "s3:*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                    "Principal": {"AWS": "*"},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_artifact_is_uploaded_to_its_version_prefix_without_pruning(
    store_template: Template, model_version: str
) -> None:
    store_template.has_resource_properties(
        "Custom::CDKBucketDeployment",
        {
            "DestinationBucketName": {"Ref": "ModelStoreBucket9405F36E"},
            "DestinationBucketKeyPrefix": f"models/{model_version}/",
            "Prune": False,
            "RetainOnDelete": True,
            "Extract": True,
        },
    )


def test_deployment_handler_logs_have_retention(store_template: Template) -> None:
    groups = store_template.find_resources("AWS::Logs::LogGroup")
    assert groups, "the BucketDeployment handler should log to a log group with retention"
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == 30


def test_bucket_name_is_exported_under_a_stable_name(store_template: Template, model_version: str) -> None:
    outputs = store_template.to_json()["Outputs"]
    assert outputs["ModelBucketName"]["Export"] == {"Name": "ModelServing-ModelStore-ModelBucketName"}
    assert outputs["ModelBucketName"]["Value"] == {"Ref": "ModelStoreBucket9405F36E"}
    assert json.dumps(outputs["ModelUri"]["Value"]).endswith(f'"/models/{model_version}/"]]}}')


def test_the_model_store_has_no_physical_names(synthesized: SynthesizedApp) -> None:
    for resource in synthesized.store_template.find_resources("AWS::S3::Bucket").values():
        assert "BucketName" not in resource["Properties"]
