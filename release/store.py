"""What `modelctl` keeps in the release table: the history, and the release in progress.

    pk = HISTORY#<function>#<alias>  sk = <UTC ISO time>#<id>   one item per change, append-only
    pk = ALIAS#<function>#<alias>    sk = STATE                 release in progress + rollback target

The state item holds `release_id` and `release` (the plan and how far it got) while a release is
in progress, `abort_requested_by` once someone aborts it, and `previous_primary`: the primary
before the last promotion, which `modelctl rollback` returns to. Updates of a release are
conditional on its id (and on not being aborted), so a command that lost its release finds out.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from release.alias import Routing
from release.attribute_values import deserialize, serialize
from release.aws import aws_errors, error_code, error_message
from release.errors import AwsCallError, RefusedError, ReleaseAbortedError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_sequence = itertools.count()  # orders this process's entries that share a timestamp


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: serialize(value) for key, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: deserialize(value) for key, value in item.items()}


@dataclass(frozen=True)
class HistoryEntry:
    at: str
    who: str
    action: str
    outcome: str
    reason: str = ""
    before: Routing | None = None
    after: Routing | None = None
    version: str = ""
    model_version: str = ""
    release_id: str = ""
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["before"] = self.before.to_item() if self.before else None
        data["after"] = self.after.to_item() if self.after else None
        return data


@dataclass
class ReleaseRecord:
    release_id: str
    kind: str
    candidate: str
    base: str
    steps: list[dict[str, float]]
    started_at: str
    started_by: str
    reason: str = ""
    status: str = "running"
    step_index: int = 0
    percent: float = 0.0
    gate_alarms: list[str] = field(default_factory=list)
    updated_at: str = ""

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:12]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ReleaseRecord:
        data = json.loads(text)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class AliasRecord:
    release: ReleaseRecord | None
    previous_primary: str | None
    abort_requested_by: str | None = None
    abort_reason: str = ""


class ReleaseStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str, function: str, alias: str) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.history_key = f"HISTORY#{function}#{alias}"
        self.state_key = {"pk": {"S": f"ALIAS#{function}#{alias}"}, "sk": {"S": "STATE"}}

    # -- history --------------------------------------------------------------------------------------

    def append(self, entry: HistoryEntry) -> None:
        values = entry.to_json()
        values.update(pk=self.history_key, sk=f"{entry.at}#{next(_sequence):08d}#{uuid.uuid4().hex[:8]}")
        with aws_errors(f"recording history in table {self.table}"):
            self.dynamodb.put_item(TableName=self.table, Item=to_item(values))

    def history(self, limit: int) -> list[HistoryEntry]:
        entries: list[HistoryEntry] = []
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": self.history_key}},
            "ScanIndexForward": False,
        }
        with aws_errors(f"reading history from table {self.table}"):
            while len(entries) < limit:
                response = self.dynamodb.query(**arguments, Limit=limit - len(entries))
                for item in response.get("Items", []):
                    entries.append(self._entry(from_item(item)))
                if "LastEvaluatedKey" not in response:
                    break
                arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return entries

    @staticmethod
    def _entry(data: dict[str, Any]) -> HistoryEntry:
        known = set(HistoryEntry.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        for side in ("before", "after"):
            values[side] = Routing.from_item(values[side]) if values.get(side) else None
        return HistoryEntry(**values)

    # -- the release in progress -----------------------------------------------------------------------

    def state(self) -> AliasRecord:
        with aws_errors(f"reading the release state from table {self.table}"):
            item = self.dynamodb.get_item(TableName=self.table, Key=self.state_key, ConsistentRead=True)
        data = from_item(item.get("Item", {}))
        release = ReleaseRecord.from_json(data["release"]) if data.get("release") else None
        return AliasRecord(
            release=release,
            previous_primary=str(data["previous_primary"]) if data.get("previous_primary") else None,
            abort_requested_by=str(data["abort_requested_by"]) if data.get("abort_requested_by") else None,
            abort_reason=str(data.get("abort_reason") or ""),
        )

    def begin(self, record: ReleaseRecord) -> None:
        """Record a new release (or resume the same one); refused if another is in progress."""
        self._update(
            "SET release_id = :id, #release = :release REMOVE abort_requested_by, abort_reason",
            {":id": record.release_id, ":release": record.to_json()},
            condition="attribute_not_exists(release_id) OR release_id = :id",
            on_conflict=lambda: RefusedError("another release is in progress: see `modelctl status`"),
        )

    def save(self, record: ReleaseRecord) -> None:
        """Record progress; raises ReleaseAbortedError if the release was aborted or replaced."""
        self._update(
            "SET #release = :release",
            {":id": record.release_id, ":release": record.to_json()},
            condition="release_id = :id AND attribute_not_exists(abort_requested_by)",
            on_conflict=lambda: self._aborted(record.release_id),
        )

    def finish(self, release_id: str | None, *, previous_primary: str | None) -> None:
        """End the release (if any) and set the rollback target (None clears it)."""
        values: dict[str, Any] = {}
        removes = ["release_id", "#release", "abort_requested_by", "abort_reason"]
        expression = ""
        if previous_primary is not None:
            expression = "SET previous_primary = :previous "
            values[":previous"] = previous_primary
        else:
            removes.append("previous_primary")
        expression += "REMOVE " + ", ".join(removes)
        condition = None
        if release_id is not None:
            values[":id"] = release_id
            condition = "release_id = :id"
        self._update(
            expression,
            values,
            condition=condition,
            on_conflict=lambda: self._aborted(release_id or ""),
        )

    def request_abort(self, release_id: str, who: str, reason: str) -> None:
        self._update(
            "SET abort_requested_by = :who, abort_reason = :reason",
            {":id": release_id, ":who": who, ":reason": reason or "-"},
            condition="release_id = :id",
            on_conflict=lambda: RefusedError(
                "the release ended before it could be aborted: see `modelctl status`"
            ),
        )

    def _aborted(self, release_id: str) -> Exception:
        state = self.state()
        if state.abort_requested_by:
            return ReleaseAbortedError(
                f"release {release_id} was aborted by {state.abort_requested_by}"
                + (f" ({state.abort_reason})" if state.abort_reason and state.abort_reason != "-" else "")
                + "; it rolled the alias back: see `modelctl status`"
            )
        return ReleaseAbortedError(
            f"release {release_id} is no longer in progress (ended elsewhere): see `modelctl status`"
        )

    def _update(
        self,
        expression: str,
        values: dict[str, Any],
        *,
        condition: str | None,
        on_conflict: Any,
    ) -> None:
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "Key": self.state_key,
            "UpdateExpression": expression,
        }
        if values:
            arguments["ExpressionAttributeValues"] = to_item(values)
        if "#release" in expression:
            arguments["ExpressionAttributeNames"] = {"#release": "release"}
        if condition:
            arguments["ConditionExpression"] = condition
        try:
            self.dynamodb.update_item(**arguments)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise on_conflict() from exc
            raise AwsCallError(
                f"updating the release state in table {self.table}: {error_code(exc)}: {error_message(exc)}"
            ) from exc
