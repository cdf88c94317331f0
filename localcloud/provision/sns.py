"""SNS: topics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from localcloud.provision import ACCOUNT, Handler, ProvisionedResource, physical_name

if TYPE_CHECKING:
    from localcloud.provision.provisioner import Provisioner


def _topic(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props.get("TopicName") or physical_name(p.stack_name, logical_id, max_length=256)
    sns = p.clients.client("sns")
    arn = f"arn:aws:sns:{p.region}:{ACCOUNT}:{name}"
    existing = {t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]}
    changed = arn not in existing
    if changed:
        arn = sns.create_topic(Name=name)["TopicArn"]
    return ProvisionedResource(
        logical_id, resource["Type"], arn, attributes={"TopicArn": arn, "TopicName": name}, changed=changed
    )


HANDLERS: dict[str, Handler] = {
    "AWS::SNS::Topic": _topic,
}
