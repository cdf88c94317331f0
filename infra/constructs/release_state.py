"""Release state: one DynamoDB table for `modelctl`'s history, the release in progress and its lock.

Why a table and not the model bucket: the lock needs an atomic "create unless held or expired"
(a conditional write), the release in progress is updated step by step under conditions, and the
history is read newest first per alias (a Query on a sort key). Items (see modelctl/release/store.py):

    pk = HISTORY#<function>#<alias>   sk = <UTC timestamp>#<id>   one per change, never rewritten
    pk = ALIAS#<function>#<alias>     sk = STATE                  release in progress, rollback target
    pk = LOCK#<function>#<alias>#<scope>  sk = LOCK               lease with an expiry (and a TTL)

Stateful: retained when the stack is deleted, point-in-time recovery on, deletion protection on,
and the construct id (so the logical id) must never change.
"""

from __future__ import annotations

from constructs import Construct

from infra.constructs.tables import keyed_table
from infra.nag import DYNAMODB_AWS_KEY, checkov_skip

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "ttl"


class ReleaseState(Construct):
    """The table `modelctl` records releases in; its name is the serving stack's ReleaseTableName."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # Only lock items carry a TTL (expired leases are cleaned up); history items never do.
        self.table = keyed_table(
            self,
            "Table",
            partition_key=PARTITION_KEY,
            sort_key=SORT_KEY,
            ttl_attribute=TTL_ATTRIBUTE,
            deletion_protection=True,
        )
        checkov_skip(self.table, {"CKV_AWS_119": DYNAMODB_AWS_KEY})
