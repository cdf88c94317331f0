"""The DynamoDB tables here: items keyed by two strings, billed on demand, recoverable to any
point in time, expired by a TTL attribute, and retained when their stack is deleted."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct


def keyed_table(
    scope: Construct,
    construct_id: str,
    *,
    partition_key: str,
    sort_key: str,
    ttl_attribute: str,
    **props: Any,
) -> dynamodb.Table:
    """The table; `props` are dynamodb.Table's others (encryption, deletion protection)."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=ttl_attribute,
        removal_policy=cdk.RemovalPolicy.RETAIN,
        **props,
    )
