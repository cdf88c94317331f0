"""The S3 buckets here: private (public access blocked, objects owned by the bucket owner),
SSE-S3, TLS only, and retained when their stack is deleted; and the lifecycle rule that expires a
prefix's objects, their earlier versions and unfinished uploads."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct


def private_bucket(scope: Construct, construct_id: str, **props: Any) -> s3.Bucket:
    """A private, SSE-S3, TLS-only, retained bucket; `props` are s3.Bucket's others."""
    return s3.Bucket(
        scope,
        construct_id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,  # server access logs support SSE-S3 only
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=cdk.RemovalPolicy.RETAIN,
        **props,
    )


def access_logs_bucket(scope: Construct, expiration_days: int) -> s3.Bucket:
    """The bucket of another bucket's server access logs, which expire after `expiration_days`."""
    return private_bucket(
        scope,
        "AccessLogsBucket",
        lifecycle_rules=[
            s3.LifecycleRule(id="ExpireAccessLogs", expiration=cdk.Duration.days(expiration_days))
        ],
    )


def expiry(rule_id: str, prefix: str, days: int) -> dict[str, Any]:
    """A lifecycle rule's properties (for s3.LifecycleRule or Bucket.add_lifecycle_rule): objects
    under `prefix` and their noncurrent versions expire after `days`, unfinished uploads after one."""
    return {
        "id": rule_id,
        "prefix": prefix,
        "expiration": cdk.Duration.days(days),
        "noncurrent_version_expiration": cdk.Duration.days(days),
        "abort_incomplete_multipart_upload_after": cdk.Duration.days(1),
    }
