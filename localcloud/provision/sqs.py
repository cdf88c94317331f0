"""SQS: queues (with their redrive policy) and queue policies."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from localcloud.provision import ACCOUNT, Handler, ProvisionedResource, physical_name, recorded

if TYPE_CHECKING:
    from localcloud.provision.provisioner import Provisioner


def _queue(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    fifo = bool(props.get("FifoQueue"))
    name = props.get("QueueName") or physical_name(p.stack_name, logical_id, max_length=75) + (
        ".fifo" if fifo else ""
    )
    attributes: dict[Any, str] = {}
    for key in (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
        "MaximumMessageSize",
        "KmsMasterKeyId",
        "SqsManagedSseEnabled",
        "FifoQueue",
    ):
        if key in props:
            attributes[key] = str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    sqs = p.clients.sqs
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        changed = False
    except ClientError:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        changed = True
    arn = f"arn:aws:sqs:{p.region}:{ACCOUNT}:{name}"
    return ProvisionedResource(
        logical_id,
        resource["Type"],
        url,
        attributes={"Arn": arn, "QueueName": name, "QueueUrl": url},
        changed=changed,
    )


def _queue_policy(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    for url in props.get("Queues", []):
        p.clients.sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
        )
    return recorded(p, logical_id, resource)


HANDLERS: dict[str, Handler] = {
    "AWS::SQS::Queue": _queue,
    "AWS::SQS::QueuePolicy": _queue_policy,
}
