"""EventBridge: rules and their targets."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from localcloud.provision import ACCOUNT, Handler, ProvisionedResource, physical_name

if TYPE_CHECKING:
    from localcloud.provision.provisioner import Provisioner


def _rule(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    """The rule and its targets in moto; the local scheduler fires schedule rules' targets."""
    name = props.get("Name") or physical_name(p.stack_name, logical_id, max_length=64)
    events = p.clients.client("events")
    arguments: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED")}
    for key in ("ScheduleExpression", "Description"):
        if key in props:
            arguments[key] = props[key]
    if "EventPattern" in props:
        arguments["EventPattern"] = json.dumps(props["EventPattern"])
    try:
        current = events.describe_rule(Name=name)
        changed = any(current.get(k) != v for k, v in arguments.items() if k != "Name")
    except ClientError:
        changed = True
    if changed:
        events.put_rule(**arguments)
    targets = [
        {
            k: (json.dumps(v) if k == "Input" and not isinstance(v, str) else v)
            for k, v in target.items()
            if k in ("Id", "Arn", "RoleArn", "Input", "InputPath")
        }
        for target in props.get("Targets", [])
    ]
    if targets and changed:
        events.put_targets(Rule=name, Targets=targets)
    arn = f"arn:aws:events:{p.region}:{ACCOUNT}:rule/{name}"
    return ProvisionedResource(
        logical_id,
        resource["Type"],
        name,
        attributes={"Arn": arn},
        local={"schedule": props.get("ScheduleExpression"), "state": arguments["State"], "targets": targets},
        changed=changed,
    )


HANDLERS: dict[str, Handler] = {
    "AWS::Events::Rule": _rule,
}
