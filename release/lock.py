"""The release lock: one lease per alias (and one for $LATEST), in the release table, with an expiry.

Acquire is a conditional put that succeeds only if no lease exists or the existing one expired,
so two operators can never both hold it; a crashed command's lease expires on its own (the table's
TTL later deletes the item). Long commands renew their lease while they bake; a renewal that finds
the lease taken over (by `modelctl abort`) stops the command. Expiry compares wall clocks, so
machines need roughly synchronized clocks (seconds, against a lease of minutes).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from release.aws import aws_errors, error_code, error_message
from release.clock import Clock, iso
from release.errors import AwsCallError, LockHeldError, LockLostError
from release.store import from_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_LEASE_S = 600
ALIAS_SCOPE = "alias"
"""The lock of commands that change the alias."""
PUBLISH_SCOPE = "latest"
"""The lock of commands that change $LATEST and publish a version."""
TTL_GRACE_S = 86_400


@dataclass(frozen=True)
class Lease:
    owner: str
    who: str
    operation: str
    acquired_at: str
    expires_at: float

    def describe(self) -> str:
        expires = datetime.fromtimestamp(self.expires_at, UTC).strftime("%H:%M:%SZ")
        return f"'{self.operation}' by {self.who} since {self.acquired_at} (lease expires {expires})"


class ReleaseLock:
    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        *,
        function: str,
        alias: str,
        scope: str,
        clock: Clock,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.clock = clock
        self.lease_s = lease_s
        self.scope = scope
        self.key = {"pk": {"S": f"LOCK#{function}#{alias}#{scope}"}, "sk": {"S": "LOCK"}}
        self.lease: Lease | None = None

    def holder(self) -> Lease | None:
        """The current lease, if one exists and has not expired."""
        with aws_errors(f"reading the release lock in table {self.table}"):
            item = self.dynamodb.get_item(TableName=self.table, Key=self.key, ConsistentRead=True).get("Item")
        if not item:
            return None
        lease = _lease(from_item(item))
        return lease if lease.expires_at > self._now() else None

    def acquire(self, who: str, operation: str, *, take_over: bool = False) -> Lease:
        """Take the lease; LockHeldError if someone else holds an unexpired one (unless `take_over`)."""
        now = self._now()
        lease = Lease(uuid.uuid4().hex, who, operation, iso(self.clock.now()), now + self.lease_s)
        arguments: dict[str, Any] = {"TableName": self.table, "Item": self._item(lease)}
        if not take_over:
            arguments["ConditionExpression"] = "attribute_not_exists(pk) OR expires_at < :now"
            arguments["ExpressionAttributeValues"] = {":now": {"N": _number(now)}}
        try:
            self.dynamodb.put_item(**arguments)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                current = self.holder()
                held = current.describe() if current else "another command (just now)"
                raise LockHeldError(
                    f"another release command is running on this alias: {held}. Wait for it, or stop "
                    "it with `modelctl abort`"
                ) from exc
            raise AwsCallError(f"taking the release lock: {error_code(exc)}: {error_message(exc)}") from exc
        self.lease = lease
        return lease

    def renew(self) -> None:
        """Extend our lease; LockLostError if it expired and someone else took it, or it was taken over."""
        if self.lease is None:
            return
        expires = self._now() + self.lease_s
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self.key,
                UpdateExpression="SET expires_at = :expires, #ttl = :ttl",
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner", "#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":expires": {"N": _number(expires)},
                    ":ttl": {"N": str(int(expires + TTL_GRACE_S))},
                    ":owner": {"S": self.lease.owner},
                },
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                self.lease = None
                raise LockLostError(
                    "this command lost the release lock (it was taken over, e.g. by `modelctl abort`, or "
                    "expired): stopping without touching the alias"
                ) from exc
            raise AwsCallError(f"renewing the release lock: {error_code(exc)}: {error_message(exc)}") from exc
        self.lease = Lease(
            self.lease.owner, self.lease.who, self.lease.operation, self.lease.acquired_at, expires
        )

    def release(self) -> None:
        """Give the lease back if it is still ours (never deletes someone else's)."""
        if self.lease is None:
            return
        owner, self.lease = self.lease.owner, None
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key=self.key,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise AwsCallError(
                    f"releasing the release lock: {error_code(exc)}: {error_message(exc)}"
                ) from exc
        except BotoCoreError as exc:  # AWS unreachable: the lease expires on its own
            raise AwsCallError(f"releasing the release lock: {exc}") from exc

    @contextmanager
    def held(self, who: str, operation: str, *, take_over: bool = False) -> Iterator[Lease]:
        lease = self.acquire(who, operation, take_over=take_over)
        try:
            yield lease
        except BaseException:
            # The command's own error is the one to report; if the lease cannot be given back now
            # (e.g. AWS unreachable), it expires on its own.
            with contextlib.suppress(AwsCallError):
                self.release()
            raise
        self.release()

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _item(self, lease: Lease) -> dict[str, Any]:
        return {
            **self.key,
            "owner": {"S": lease.owner},
            "who": {"S": lease.who},
            "operation": {"S": lease.operation},
            "acquired_at": {"S": lease.acquired_at},
            "expires_at": {"N": _number(lease.expires_at)},
            "ttl": {"N": str(int(lease.expires_at + TTL_GRACE_S))},
        }


def _number(value: float) -> str:
    return f"{value:.3f}"


def _lease(data: dict[str, Any]) -> Lease:
    return Lease(
        owner=str(data.get("owner", "")),
        who=str(data.get("who", "?")),
        operation=str(data.get("operation", "?")),
        acquired_at=str(data.get("acquired_at", "?")),
        expires_at=float(data.get("expires_at", 0)),
    )
