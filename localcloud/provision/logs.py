"""CloudWatch Logs: log groups with their retention."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from localcloud.provision import ACCOUNT, Handler, ProvisionedResource, physical_name

if TYPE_CHECKING:
    from localcloud.provision.provisioner import Provisioner


def _log_group(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props.get("LogGroupName") or physical_name(p.stack_name, logical_id, max_length=512)
    logs = p.clients.logs
    existing = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    changed = not any(group["logGroupName"] == name for group in existing)
    if changed:
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in props:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    arn = f"arn:aws:logs:{p.region}:{ACCOUNT}:log-group:{name}:*"
    return ProvisionedResource(logical_id, resource["Type"], name, attributes={"Arn": arn}, changed=changed)


HANDLERS: dict[str, Handler] = {
    "AWS::Logs::LogGroup": _log_group,
}
