"""Step Functions: state machines with the deployed definition."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from localcloud.provision import ACCOUNT, Handler, ProvisionedResource, physical_name

if TYPE_CHECKING:
    from localcloud.provision.provisioner import Provisioner


def _state_machine(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    """The deployed definition, substitutions applied; moto's interpreter runs it as written."""
    name = props.get("StateMachineName") or physical_name(p.stack_name, logical_id, max_length=80)
    definition = props.get("DefinitionString") or json.dumps(props.get("Definition", {}))
    if not isinstance(definition, str):
        definition = json.dumps(definition)
    for key, value in props.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    sfn = p.clients.client("stepfunctions")
    arn = f"arn:aws:states:{p.region}:{ACCOUNT}:stateMachine:{name}"
    changed = False
    try:
        current = sfn.describe_state_machine(stateMachineArn=arn)
        if (
            json.loads(current["definition"]) != json.loads(definition)
            or current["roleArn"] != props["RoleArn"]
        ):
            sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=props["RoleArn"])
            changed = True
    except ClientError:
        arn = sfn.create_state_machine(
            name=name,
            definition=definition,
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        changed = True
    return ProvisionedResource(
        logical_id,
        resource["Type"],
        arn,
        attributes={"Arn": arn, "Name": name},
        local={"definition": json.loads(definition)},
        changed=changed,
    )


HANDLERS: dict[str, Handler] = {
    "AWS::StepFunctions::StateMachine": _state_machine,
}
