"""DynamoDB: tables with their indexes, streams and time to live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from localcloud.provision import Handler, ProvisionedResource, physical_name

if TYPE_CHECKING:
    from localcloud.provision.provisioner import Provisioner


def _table(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props.get("TableName") or physical_name(p.stack_name, logical_id, max_length=255)
    dynamodb = p.clients.client("dynamodb")
    changed = False
    try:
        description = dynamodb.describe_table(TableName=name)["Table"]
    except ClientError:
        arguments: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if "ProvisionedThroughput" in props:
            arguments["ProvisionedThroughput"] = {
                k: int(v) for k, v in props["ProvisionedThroughput"].items()
            }
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if index_kind in props:
                arguments[index_kind] = props[index_kind]
        if "StreamSpecification" in props:
            arguments["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        description = dynamodb.create_table(**arguments)["TableDescription"]
        if props.get("TimeToLiveSpecification", {}).get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"]
            )
        changed = True
    attributes = {"Arn": description["TableArn"], "StreamArn": description.get("LatestStreamArn", "")}
    return ProvisionedResource(logical_id, resource["Type"], name, attributes=attributes, changed=changed)


HANDLERS: dict[str, Handler] = {
    "AWS::DynamoDB::Table": _table,
    "AWS::DynamoDB::GlobalTable": _table,
}
