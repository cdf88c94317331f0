"""Approval: a release that waits for a person before going past a given weight.

The controller's `AwaitApproval` state is a Lambda task with `.waitForTaskToken`: the step stores
the execution's task token in the release table (one item per alias, `sk = APPROVAL`) and returns;
the execution then waits until `modelctl approve` (SendTaskSuccess) or `modelctl reject`
(SendTaskFailure, error `ReleaseRejected`) is called with that token from any terminal, or until
the state's own timeout (States.Timeout), which rolls the release back. The decision travels in the
token's answer, and the controller's next step writes it to the release history.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from release.attribute_values import deserialize
from release.aws import aws_errors, error_code
from release.errors import RefusedError
from release.plan import Plan

REJECTED_ERROR = "ReleaseRejected"


@dataclass(frozen=True)
class Approval:
    """A release waiting for a decision: which one, at what weight, before which, until when."""

    release_id: str
    task_token: str
    percent: float
    next_percent: float
    requested_at: str
    expires_at: str

    def describe(self) -> str:
        return (
            f"release {self.release_id} waits at {self.percent:g}% for approval to go to "
            f"{self.next_percent:g}% (since {self.requested_at}; it rolls back at {self.expires_at})"
        )


@dataclass(frozen=True)
class Decision:
    """What the person decided, sent with the task token and recorded by the controller."""

    approved: bool
    by: str
    reason: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: Any) -> Decision:
        document = json.loads(data) if isinstance(data, str) else dict(data or {})
        return cls(
            approved=bool(document.get("approved")),
            by=str(document.get("by") or "unknown"),
            reason=str(document.get("reason") or ""),
        )


def needs_approval(plan: Plan, release: dict[str, Any]) -> bool:
    """True if the next step would go past the weight that needs approval, not yet given."""
    approve_at = release.get("approve_at")
    index = int(release.get("index", 0))
    if approve_at is None or release.get("approved") or index >= len(plan.steps):
        return False
    return plan.steps[index].percent > float(approve_at)


class ApprovalStore:
    """The one item per alias that holds the task token of the release waiting for approval."""

    def __init__(self, dynamodb: Any, table: str, function: str, alias: str) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.key = {"pk": {"S": f"ALIAS#{function}#{alias}"}, "sk": {"S": "APPROVAL"}}

    def put(self, approval: Approval) -> None:
        item = {
            name: {"N": format(value, "g")} if isinstance(value, float) else {"S": str(value)}
            for name, value in asdict(approval).items()
        }
        with aws_errors(f"recording the approval request in table {self.table}"):
            self.dynamodb.put_item(TableName=self.table, Item={**self.key, **item})

    def get(self) -> Approval | None:
        with aws_errors(f"reading the approval request from table {self.table}"):
            item = self.dynamodb.get_item(TableName=self.table, Key=self.key, ConsistentRead=True).get("Item")
        if not item:
            return None
        values = {name: deserialize(value) for name, value in item.items() if name not in ("pk", "sk")}
        return Approval(
            release_id=str(values["release_id"]),
            task_token=str(values["task_token"]),
            percent=float(values["percent"]),
            next_percent=float(values["next_percent"]),
            requested_at=str(values["requested_at"]),
            expires_at=str(values["expires_at"]),
        )

    def delete(self, release_id: str) -> None:
        """Remove the request of this release (never another release's)."""
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key=self.key,
                ConditionExpression="release_id = :id",
                ExpressionAttributeValues={":id": {"S": release_id}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise


def decide(sfn: Any, store: ApprovalStore, release_id: str | None, decision: Decision) -> Approval:
    """Send the decision to the waiting execution (the CLI's side); the approval it answered."""
    approval = store.get()
    if approval is None or (release_id is not None and approval.release_id != release_id):
        raise RefusedError("no release is waiting for approval: `modelctl status` shows where it is")
    try:
        if decision.approved:
            sfn.send_task_success(taskToken=approval.task_token, output=decision.to_json())
        else:
            sfn.send_task_failure(
                taskToken=approval.task_token, error=REJECTED_ERROR, cause=decision.to_json()[:32000]
            )
    except ClientError as exc:
        if error_code(exc) in ("TaskDoesNotExist", "TaskTimedOut", "InvalidToken"):
            store.delete(approval.release_id)
            raise RefusedError(
                f"the approval request of release {approval.release_id} has ended ({error_code(exc)}): "
                "it timed out or the release stopped; `modelctl status` shows the release"
            ) from exc
        raise
    return approval
