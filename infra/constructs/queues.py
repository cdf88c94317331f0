"""The queues here: SQS-managed encryption, TLS only; a dead-letter or failure queue keeps what
failed for 14 days (SQS's maximum, time to look at it) and carries an alarm, since one message
waiting there is one too many."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import SQS_MANAGED_SSE, checkov_skip

DEAD_LETTER_RETENTION = cdk.Duration.days(14)


def encrypted_queue(scope: Construct, construct_id: str, **props: Any) -> sqs.Queue:
    """A queue with SQS-managed encryption that refuses plain HTTP; `props` are sqs.Queue's others."""
    queue = sqs.Queue(
        scope, construct_id, encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True, **props
    )
    checkov_skip(queue, {"CKV_AWS_27": SQS_MANAGED_SSE})
    return queue


def dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """A queue for what failed every retry, kept for 14 days."""
    return encrypted_queue(scope, construct_id, retention_period=DEAD_LETTER_RETENTION)


def queue_not_empty_alarm(
    scope: Construct,
    construct_id: str,
    queue: sqs.IQueue,
    description: str,
    *,
    period: cdk.Duration | None = None,
) -> cw.Alarm:
    """ALARM while the queue holds at least one visible message (the maximum over `period`, one
    minute unless given); no data (an idle queue) is not breaching."""
    return cw.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=queue.metric_approximate_number_of_messages_visible(
            period=period or cdk.Duration.minutes(1), statistic="Maximum"
        ),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
    )
