"""The table of precomputed predictions: item shapes, batch writes, the served-version pointer.

    pk = ID#<id>    sk = <model version>   one prediction of one model version (two versions coexist)
    pk = POINTER    sk = SERVED            the version readers are served, switched in one write

A run writes every item of its version first; only then does one conditional PutItem move the
pointer. A reader reads the pointer, then the item of that version (both strongly consistent), so
it sees either the old version's complete set or the new one's, never a mix. Re-running a version
writes the same keys again: no duplicates. Items carry `expires_at` (the table's TTL attribute).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"
ID_PREFIX = "ID#"
POINTER_KEY = {PARTITION_KEY: {"S": "POINTER"}, SORT_KEY: {"S": "SERVED"}}
MAX_ID_BYTES = 1024
BATCH_WRITE_LIMIT = 25  # DynamoDB's BatchWriteItem maximum
MAX_BATCH_ATTEMPTS = 8

AttributeMap = dict[str, Any]


class PointerConflictError(RuntimeError):
    """Another run moved the served version since this run was planned."""


class IdError(ValueError):
    """An id that cannot be a key: empty, too long or holding control characters."""


def check_id(raw: str) -> str:
    if not raw:
        raise IdError("the id is empty")
    if len(raw.encode("utf-8")) > MAX_ID_BYTES:
        raise IdError(f"the id is longer than {MAX_ID_BYTES} bytes")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise IdError("the id holds control characters")
    return raw


def _number(value: Any) -> AttributeMap:
    # repr() of a Python float round-trips exactly, so a stored probability reads back bit for bit.
    return {"N": str(value) if isinstance(value, int) else repr(float(value))}


def _scalar(value: Any) -> AttributeMap:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return _number(value)
    return {"S": str(value)}


def _read_scalar(attribute: Mapping[str, Any]) -> Any:
    if "N" in attribute:
        text = str(attribute["N"])
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if "BOOL" in attribute:
        return bool(attribute["BOOL"])
    return attribute.get("S")


@dataclass(frozen=True)
class PrecomputedPrediction:
    id: str
    model_version: str
    prediction: Any
    probabilities: list[float]
    computed_at: str
    run_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prediction": self.prediction,
            "probabilities": self.probabilities,
            "model_version": self.model_version,
            "computed_at": self.computed_at,
        }


@dataclass(frozen=True)
class ServedPointer:
    model_version: str
    run_id: str
    items: int
    switched_at: str
    previous_version: str | None


def prediction_item(
    *,
    id: str,
    model_version: str,
    prediction: Any,
    probabilities: Sequence[float],
    computed_at: str,
    run_id: str,
    expires_at: int | None,
) -> AttributeMap:
    item: AttributeMap = {
        PARTITION_KEY: {"S": ID_PREFIX + id},
        SORT_KEY: {"S": model_version},
        "prediction": _scalar(prediction),
        "probabilities": {"L": [_number(p) for p in probabilities]},
        "computed_at": {"S": computed_at},
        "run_id": {"S": run_id},
    }
    if expires_at is not None:
        item[TTL_ATTRIBUTE] = {"N": str(expires_at)}
    return item


def parse_prediction_item(item: Mapping[str, Any]) -> PrecomputedPrediction:
    return PrecomputedPrediction(
        id=str(item[PARTITION_KEY]["S"])[len(ID_PREFIX) :],
        model_version=str(item[SORT_KEY]["S"]),
        prediction=_read_scalar(item["prediction"]),
        probabilities=[float(p["N"]) for p in item["probabilities"]["L"]],
        computed_at=str(item["computed_at"]["S"]),
        run_id=str(item["run_id"]["S"]),
    )


def parse_pointer(item: Mapping[str, Any]) -> ServedPointer:
    previous = item.get("previous_version", {}).get("S")
    return ServedPointer(
        model_version=str(item["model_version"]["S"]),
        run_id=str(item["run_id"]["S"]),
        items=int(item["items"]["N"]),
        switched_at=str(item["switched_at"]["S"]),
        previous_version=str(previous) if previous else None,
    )


class PredictionTable:
    """All reads and writes of the table; `client` is a boto3 DynamoDB client (injected in tests)."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.table_name = table_name
        self._sleep = sleep
        self._rng = rng or random.Random()

    # -- readers ------------------------------------------------------------------------------------

    def served(self) -> ServedPointer | None:
        response = self.client.get_item(TableName=self.table_name, Key=POINTER_KEY, ConsistentRead=True)
        item = response.get("Item")
        return parse_pointer(item) if item else None

    def get(self, id: str, model_version: str) -> PrecomputedPrediction | None:
        response = self.client.get_item(
            TableName=self.table_name,
            Key={PARTITION_KEY: {"S": ID_PREFIX + id}, SORT_KEY: {"S": model_version}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return parse_prediction_item(item) if item else None

    def lookup(self, id: str) -> tuple[ServedPointer | None, PrecomputedPrediction | None]:
        """The served version's prediction for `id`: the pointer first, then that version's item."""
        pointer = self.served()
        if pointer is None:
            return None, None
        return pointer, self.get(id, pointer.model_version)

    # -- writers ------------------------------------------------------------------------------------

    def put_items(self, items: Iterable[AttributeMap]) -> int:
        """BatchWriteItem in groups of 25, retrying unprocessed items with jittered backoff."""
        written = 0
        batch: list[AttributeMap] = []
        for item in items:
            batch.append(item)
            if len(batch) == BATCH_WRITE_LIMIT:
                written += self._write_batch(batch)
                batch = []
        if batch:
            written += self._write_batch(batch)
        return written

    def _write_batch(self, items: list[AttributeMap]) -> int:
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": item}} for item in items]
        for attempt in range(MAX_BATCH_ATTEMPTS):
            response = self.client.batch_write_item(RequestItems={self.table_name: requests})
            requests = list(response.get("UnprocessedItems", {}).get(self.table_name, []))
            if not requests:
                return len(items)
            self._sleep(min(5.0, 0.05 * 2**attempt) * (0.5 + self._rng.random()))
        raise RuntimeError(
            f"{len(requests)} of {len(items)} items stayed unprocessed after {MAX_BATCH_ATTEMPTS} "
            f"BatchWriteItem attempts on {self.table_name} (throttled)"
        )

    def switch(
        self, *, model_version: str, run_id: str, items: int, expected: str | None, switched_at: str
    ) -> ServedPointer:
        """Serve `model_version` from now on, in one conditional write: only if the pointer still
        names `expected` (what the run saw when it was planned; None: no pointer yet) or already
        names this version (a re-run). A run never overwrites a switch it did not see."""
        item: AttributeMap = {
            **POINTER_KEY,
            "model_version": {"S": model_version},
            "run_id": {"S": run_id},
            "items": {"N": str(items)},
            "switched_at": {"S": switched_at},
        }
        names = {"#v": "model_version"}
        values: dict[str, Any] = {":new": {"S": model_version}}
        condition = "attribute_not_exists(pk) OR #v = :new"
        if expected is not None:
            condition += " OR #v = :expected"
            values[":expected"] = {"S": expected}
            if expected != model_version:
                item["previous_version"] = {"S": expected}
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            current = self.served()
            raise PointerConflictError(
                f"the served version changed to {current.model_version if current else None!r} "
                f"(run {current.run_id if current else '?'}) while this run expected {expected!r}: "
                "not switching; start the run again"
            ) from exc
        return parse_pointer(item)
