"""The alarm every dead-letter or failure queue here carries: one message waiting is one too many."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_sqs as sqs
from constructs import Construct


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
