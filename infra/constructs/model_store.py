"""The model store: an S3 bucket of immutable model artifacts under `models/<version>/`.

Stateful: it lives in its own stack, its construct IDs (and so its logical IDs) must not change,
and it is retained when its stack is deleted. Publishing an artifact adds `models/<version>/`
without pruning, so every version a Lambda version still pins stays readable; the bucket policy
denies deleting anything under models/.
"""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct, IConstruct

from common import layout
from infra.constructs.buckets import access_logs_bucket, private_bucket
from infra.constructs.retention import retention
from infra.nag import IAM4, LOG_GROUP_KMS, acknowledge, checkov_skip, policies_under, wildcard_findings

MODELS_PREFIX = layout.MODELS_PREFIX


def model_key_prefix(model_version: str) -> str:
    return f"{MODELS_PREFIX}{model_version}/"


class ModelStore(Construct):
    """Model bucket, its access-log bucket, and the upload of one artifact to `models/<version>/`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        artifact_dir: Path,
        model_version: str,
        access_log_expiration_days: int,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        if not artifact_dir.is_dir():
            raise FileNotFoundError(f"model artifact folder {artifact_dir} does not exist")

        self.access_logs_bucket = access_logs_bucket(self, access_log_expiration_days)
        self.bucket = private_bucket(
            self,
            "Bucket",
            versioned=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="model-bucket/",
        )
        # Published function versions pin models/<version>/ by name and load it on every cold start:
        # nobody may delete a model (a delete marker would break those versions as surely as a
        # deletion). Overwrites are refused by the writers (conditional puts, docs/security.md), and
        # versioning keeps every byte ever written.
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ModelsAreNeverDeleted",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:DeleteObject", "s3:DeleteObjectVersion"],
                resources=[self.bucket.arn_for_objects(f"{MODELS_PREFIX}*")],
            )
        )
        self.model_version = model_version
        self.model_key_prefix = model_key_prefix(model_version)
        self.deployment_logs = logs.LogGroup(self, "DeploymentLogs", retention=retention(log_retention_days))
        self.deployment = s3deploy.BucketDeployment(
            self,
            "ArtifactDeployment",
            sources=[s3deploy.Source.asset(str(artifact_dir))],
            destination_bucket=self.bucket,
            destination_key_prefix=self.model_key_prefix,
            prune=False,  # older versions stay: published Lambda versions keep pointing at them
            retain_on_delete=True,
            extract=True,
            log_group=self.deployment_logs,
        )
        self._acknowledge_findings()

    @property
    def model_uri(self) -> str:
        """`s3://<bucket>/models/<version>/`, as the inference function's MODEL_URI expects."""
        return f"s3://{self.bucket.bucket_name}/{self.model_key_prefix}"

    def _acknowledge_findings(self) -> None:
        acknowledge(
            self.access_logs_bucket,
            {
                "AwsSolutions-S1": "This bucket receives the model bucket's server access logs; logging it "
                "to itself would loop, and another log bucket would only move the finding.",
            },
        )
        checkov_skip(
            self.access_logs_bucket,
            {"CKV_AWS_18": ACCESS_LOGS_BUCKET_REASON, "CKV_AWS_21": ACCESS_LOGS_BUCKET_REASON},
        )
        checkov_skip(self.deployment_logs, {"CKV_AWS_158": LOG_GROUP_KMS})
        for handler in cdk.Stack.of(self).node.children:
            if handler.node.id.startswith(BUCKET_DEPLOYMENT_PREFIX):
                _acknowledge_bucket_deployment_handler(handler)
                checkov_skip(handler.node.find_child("Resource"), BUCKET_DEPLOYMENT_CHECKOV_SKIPS)


BUCKET_DEPLOYMENT_PREFIX = "Custom::CDKBucketDeployment"
# What aws-cdk-lib's BucketDeployment handler is granted: read the CDK assets bucket, write the
# destination prefix. Anything else showing up after an upgrade fails the synth instead of being
# acknowledged silently.
_BUCKET_DEPLOYMENT_WILDCARDS = re.compile(
    r"^(Action::s3:(GetObject|GetBucket|List|DeleteObject|Abort)\*"
    r"|Resource::arn:(<AWS::Partition>|aws[a-z-]*):s3:::cdk-[a-z0-9]+-assets-[^/]+/\*"
    r"|Resource::<[A-Za-z0-9]+\.Arn>/\*)$"
)
_HANDLER = "aws-cdk-lib's BucketDeployment handler (a CDK-managed singleton, not configurable here)"
BUCKET_DEPLOYMENT_REASONS = {
    IAM4.format(
        "AWSLambdaBasicExecutionRole"
    ): f"{_HANDLER} logs with the AWS managed basic execution policy.",
    "AwsSolutions-L1": f"{_HANDLER}: aws-cdk-lib pins the runtime its AWS CLI layer supports.",
    "Serverless-LambdaLatestVersion": f"{_HANDLER}: aws-cdk-lib pins the runtime (see AwsSolutions-L1).",
    "Serverless-LambdaDLQ": f"{_HANDLER} is a custom resource handler; failures fail the deploy.",
    "Serverless-LambdaTracing": f"{_HANDLER} runs once per deploy; CloudFormation reports its failures.",
}
ACCESS_LOGS_BUCKET_REASON = (
    "This bucket receives the model bucket's server access logs (S3 writes each log object once; they "
    "expire): logging or versioning the log bucket itself would only move the finding."
)
BUCKET_DEPLOYMENT_CHECKOV_SKIPS = {
    "CKV_AWS_115": f"{_HANDLER} runs once per deploy; a reservation would withhold account concurrency.",
    "CKV_AWS_116": f"{_HANDLER} answers CloudFormation, which fails the deploy on an error.",
    "CKV_AWS_117": f"{_HANDLER} copies between S3 buckets only; a VPC would need endpoints in every account.",
    "CKV_AWS_173": f"{_HANDLER}: no environment variable holds a secret; Lambda encrypts them at rest.",
}
BUCKET_DEPLOYMENT_IAM5_REASON = (
    f"{_HANDLER}: copies the artifact from the CDK assets bucket to models/<version>/ with the grants "
    "aws-cdk-lib generates for that (each wildcard is checked against an allow-list first)."
)


def _acknowledge_bucket_deployment_handler(handler: IConstruct) -> None:
    """The singleton Lambda that aws-cdk-lib's BucketDeployment creates; its props are not ours."""
    acknowledge(handler, BUCKET_DEPLOYMENT_REASONS)
    for policy in policies_under(handler):
        for finding in wildcard_findings(policy):
            if not _BUCKET_DEPLOYMENT_WILDCARDS.match(finding):
                raise ValueError(f"unexpected wildcard in {policy.node.path}: {finding}; review it first")
            acknowledge(handler, {f"AwsSolutions-IAM5[{finding}]": BUCKET_DEPLOYMENT_IAM5_REASON})
