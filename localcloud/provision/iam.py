"""IAM: roles and their inline policies."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from localcloud.provision import Handler, ProvisionedResource, physical_name

if TYPE_CHECKING:
    from localcloud.provision.provisioner import Provisioner


def _role(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props.get("RoleName") or physical_name(p.stack_name, logical_id)
    iam = p.clients.iam
    changed = False
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except ClientError:
        arn = iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(props.get("AssumeRolePolicyDocument", {}))
        )["Role"]["Arn"]
        for policy_arn in props.get("ManagedPolicyArns", []):
            # moto knows only some AWS managed policies; the role itself is what Lambda needs.
            with contextlib.suppress(ClientError):
                iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        changed = True
    return ProvisionedResource(logical_id, resource["Type"], name, attributes={"Arn": arn}, changed=changed)


def _policy(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props["PolicyName"]
    document = json.dumps(props["PolicyDocument"])
    changed = False
    for role in props.get("Roles", []):
        try:
            current = p.clients.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            if current == props["PolicyDocument"]:
                continue
        except ClientError:
            pass
        p.clients.iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=document)
        changed = True
    return ProvisionedResource(logical_id, resource["Type"], name, changed=changed)


HANDLERS: dict[str, Handler] = {
    "AWS::IAM::Role": _role,
    "AWS::IAM::Policy": _policy,
}
