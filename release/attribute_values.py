"""DynamoDB attribute values to Python values and back, as boto3's TypeSerializer and
TypeDeserializer make them, without importing boto3.

The release table holds strings, numbers, booleans, maps and lists; importing boto3 for its two
converters would lengthen `modelctl rollback` before it moves traffic (botocore alone makes the
clients: release/aws_session.py; figures in docs/releases.md). Those five types (and NULL) are
converted here the way boto3 does (numbers as `Decimal` in DynamoDB's context); any other value
or type (binary, sets, floats, which boto3 refuses, an unknown type) goes to boto3's converters,
which are then imported, so the result, or the error, is boto3's.
tests/unit/modelctl/test_attribute_values.py compares the two on generated values.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from functools import cache
from typing import Any

# boto3.dynamodb.types.DYNAMODB_CONTEXT
DYNAMODB_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)


@cache
def _boto3_converters() -> tuple[Any, Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def serialize(value: Any) -> dict[str, Any]:
    """`TypeSerializer().serialize(value)`."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        number = _number(value)
        if number is not None:
            return {"N": number}
    elif isinstance(value, Mapping):
        return {"M": {key: serialize(item) for key, item in value.items()}}
    elif isinstance(value, list | tuple):
        return {"L": [serialize(item) for item in value]}
    return dict(_boto3_converters()[0].serialize(value))


def deserialize(value: Mapping[str, Any]) -> Any:
    """`TypeDeserializer().deserialize(value)`."""
    kind = next(iter(value), None)
    if kind == "S":
        return value["S"]
    if kind == "N":
        return DYNAMODB_CONTEXT.create_decimal(value["N"])
    if kind == "BOOL":
        return value["BOOL"]
    if kind == "NULL":
        return None
    if kind == "M":
        return {key: deserialize(item) for key, item in value["M"].items()}
    if kind == "L":
        return [deserialize(item) for item in value["L"]]
    return _boto3_converters()[1].deserialize(value)


def _number(value: int | Decimal) -> str | None:
    """The number as boto3 writes it, or None where boto3 refuses it (it then says why)."""
    try:
        number = str(DYNAMODB_CONTEXT.create_decimal(value))
    except ArithmeticError:
        return None
    return None if number in ("Infinity", "NaN") else number
