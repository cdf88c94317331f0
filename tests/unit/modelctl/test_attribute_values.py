"""release/attribute_values.py converts as boto3's TypeSerializer/TypeDeserializer do:
the same result, or the same error, for generated values of every kind."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from release.attribute_values import deserialize, serialize

SCALARS: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.text(max_size=8)
    | st.integers()
    | st.integers(min_value=10**37, max_value=10**40)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.decimals(places=3, allow_nan=False, allow_infinity=False)
    | st.floats(allow_nan=False)
    | st.binary(max_size=4)
    | st.frozensets(st.text(max_size=3), max_size=3).map(set)
    | st.frozensets(st.integers(), max_size=3).map(set)
    | st.just(set())
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
NUMBERS = st.text(alphabet="0123456789.-+eE", min_size=1, max_size=45) | st.sampled_from(
    ["1e200", "-0", "0.000", "12345678901234567890123456789012345678901", "NaN", "Infinity", "x"]
)
ATTRIBUTES = st.recursive(
    st.one_of(
        st.builds(lambda s: {"S": s}, st.text(max_size=5)),
        st.builds(lambda n: {"N": n}, NUMBERS),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda b: {"B": b}, st.binary(max_size=3)),
        st.builds(lambda ss: {"SS": ss}, st.lists(st.text(max_size=3), max_size=3)),
        st.builds(lambda ns: {"NS": ns}, st.lists(st.integers().map(str), max_size=3)),
        st.builds(lambda s: {"s": s}, st.text(max_size=3)),  # boto3 reads the type case-insensitively
        st.just({"X": 1}),
        st.just({}),
        st.builds(lambda s: {"S": s, "N": "1"}, st.text(max_size=3)),
    ),
    lambda inner: (
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3))
        | st.builds(lambda items: {"M": items}, st.dictionaries(st.text(max_size=3), inner, max_size=3))
    ),
    max_leaves=8,
)


def result(convert: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", convert(value)
    except Exception as exc:  # the error, for comparison
        return type(exc).__name__, str(exc)


def plain(value: Any) -> Any:
    """Comparable: NaN decimals as text (NaN != NaN), Binary as bytes, sets sorted."""
    if isinstance(value, Decimal) and value.is_nan():
        return ("decimal", str(value))
    if isinstance(value, Binary):
        return ("binary", repr(value))
    if isinstance(value, set | frozenset):
        return ("set", sorted(map(repr, value)))
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


@given(VALUES)
def test_serialize_is_boto3s(value: Any) -> None:
    ours, boto3s = result(serialize, value), result(TypeSerializer().serialize, value)
    assert ours[0] == boto3s[0]
    assert plain(ours[1]) == plain(boto3s[1])


@given(ATTRIBUTES)
def test_deserialize_is_boto3s(value: Any) -> None:
    ours, boto3s = result(deserialize, value), result(TypeDeserializer().deserialize, value)
    assert ours[0] == boto3s[0]
    assert plain(ours[1]) == plain(boto3s[1])
    if ours[0] == "ok":
        assert repr(plain(ours[1])) == repr(plain(boto3s[1]))  # Decimal("1.0") is not Decimal("1.00")


def test_the_release_tables_values_round_trip() -> None:
    values = {
        "who": "arn:aws:iam::1:user/a",
        "expires_at": Decimal("1767225600.125"),
        "n": 3,
        "ok": True,
        "before": {"primary": "1", "extra": ""},
        "steps": [{"weight": Decimal("0.1")}],
        "none": None,
    }
    item = {key: serialize(value) for key, value in values.items()}
    assert item == {key: TypeSerializer().serialize(value) for key, value in values.items()}
    assert {key: deserialize(value) for key, value in item.items()} == values
