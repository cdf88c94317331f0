"""The model store: an S3 bucket of immutable model artifacts under `models/<version>/`.

Stateful: it lives in its own stack, its construct IDs (and so its logical IDs) must not change,
and it is retained when its stack is deleted. Publishing an artifact adds `models/<version>/`
without pruning, so every version a Lambda version still pins stays readable; the bucket policy
denies deleting anything under models/.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from common.layout import MODELS_PREFIX, model_prefix
from infra.constructs.retention import retention


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

        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,  # server access logs support SSE-S3 only
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs", expiration=cdk.Duration.days(access_log_expiration_days)
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="model-bucket/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
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
        self.model_key_prefix = model_prefix(model_version)
        self.deployment = s3deploy.BucketDeployment(
            self,
            "ArtifactDeployment",
            sources=[s3deploy.Source.asset(str(artifact_dir))],
            destination_bucket=self.bucket,
            destination_key_prefix=self.model_key_prefix,
            prune=False,  # older versions stay: published Lambda versions keep pointing at them
            retain_on_delete=True,
            extract=True,
            log_group=logs.LogGroup(self, "DeploymentLogs", retention=retention(log_retention_days)),
        )

    @property
    def model_uri(self) -> str:
        """`s3://<bucket>/models/<version>/`, as the inference function's MODEL_URI expects."""
        return f"s3://{self.bucket.bucket_name}/{self.model_key_prefix}"
