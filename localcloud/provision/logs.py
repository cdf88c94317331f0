"""CloudWatch Logs: log groups with their retention, and subscription filters (recorded: the local
cloud's own delivery runs them, localcloud/subscriptions/)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from localcloud.provision import ACCOUNT, Handler, ProvisionedResource, ProvisionError, physical_name
from localcloud.subscriptions.pattern import FilterPatternError, compile_pattern

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


def _subscription_filter(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    """Recorded, not put into moto: moto would run a Lambda destination in Docker. A pattern the
    local cloud cannot evaluate fails here, as PutSubscriptionFilter rejects an invalid one."""
    pattern = str(props.get("FilterPattern", ""))
    try:
        compile_pattern(pattern)
    except (FilterPatternError, ValueError) as exc:
        raise ProvisionError(f"{p.stack_name}/{logical_id}: FilterPattern {pattern!r}: {exc}") from exc
    name = str(props.get("FilterName") or physical_name(p.stack_name, logical_id, max_length=512))
    return ProvisionedResource(logical_id, resource["Type"], name, local=props)


HANDLERS: dict[str, Handler] = {
    "AWS::Logs::LogGroup": _log_group,
    "AWS::Logs::SubscriptionFilter": _subscription_filter,
}
