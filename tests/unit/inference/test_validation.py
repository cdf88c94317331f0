"""Request parsing: property-based, because every body a client can send must map to 2xx or 4xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.http.errors import RequestError
from common.http.validation import (
    FLOAT32_MAX,
    RequestLimits,
    _checked_rows,
    _clean_list_rows,
    check_content_type,
    decode_body,
    leaves_are_numbers,
    parse_instances,
    parse_json_object,
)

FEATURES = ["a", "b", "c"]
LIMITS = RequestLimits(max_rows=5, max_body_bytes=4096)


def parse(text: str) -> np.ndarray:
    body = decode_body(text, is_base64=False, limits=LIMITS)
    return parse_instances(parse_json_object(body), feature_names=FEATURES, limits=LIMITS)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), json_values.map(lambda v: json.dumps(v))))
def test_any_text_parses_or_raises_a_request_error(text: str) -> None:
    try:
        rows = parse(text)
    except RequestError as exc:
        assert 400 <= exc.status < 500
        assert exc.message
    else:
        assert rows.dtype == np.float32 and rows.shape[1] == 3 and np.isfinite(rows).all()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=3, max_size=3),
        min_size=1,
        max_size=5,
    )
)
def test_valid_rows_round_trip_exactly(rows: list[list[float]]) -> None:
    parsed = parse(json.dumps({"instances": rows}))
    np.testing.assert_array_equal(parsed, np.asarray(rows, dtype=np.float32))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["instances", "x", "Instances"]), json_values, max_size=3))
def test_any_document_shape_parses_or_raises_a_request_error(document: dict[str, Any]) -> None:
    try:
        parse_instances(document, feature_names=FEATURES, limits=LIMITS)
    except RequestError as exc:
        assert 400 <= exc.status < 500


def test_error_messages_name_row_and_feature() -> None:
    with pytest.raises(RequestError) as caught:
        parse(json.dumps({"instances": [[1, 2, 3], [1, "x", 3]]}))
    assert "instances[1]" in caught.value.message and "'b'" in caught.value.message


def test_integers_are_numbers_but_booleans_are_not() -> None:
    assert parse(json.dumps({"instances": [[1, 2, 3]]})).tolist() == [[1.0, 2.0, 3.0]]
    with pytest.raises(RequestError):
        parse(json.dumps({"instances": [[1, False, 3]]}))


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON"]
)
def test_json_content_types_pass(content_type: str) -> None:
    check_content_type(content_type)


def test_invalid_base64_and_utf8_are_400() -> None:
    with pytest.raises(RequestError) as caught:
        decode_body("not base64!!", is_base64=True, limits=LIMITS)
    assert caught.value.code == "invalid_body"
    import base64

    with pytest.raises(RequestError) as caught:
        decode_body(base64.b64encode(b"\xff\xfe").decode(), is_base64=True, limits=LIMITS)
    assert caught.value.code == "invalid_encoding"


def test_deeply_nested_json_is_400_not_a_crash() -> None:
    with pytest.raises(RequestError) as caught:
        parse_json_object("[" * 100_000 + "]" * 100_000)
    assert caught.value.code == "invalid_json"


wide_numbers = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(width=32)
    | st.integers()
    | st.integers(min_value=-(2**1100), max_value=2**1100)
    | st.sampled_from([FLOAT32_MAX, -FLOAT32_MAX, np.nextafter(FLOAT32_MAX, np.inf), 2**128, 2**127, 0, -0.0])
    | st.booleans()
)


@settings(max_examples=400)
@given(
    rows=st.lists(st.lists(wide_numbers, min_size=3, max_size=4), min_size=1, max_size=120),
)
def test_vectorised_fast_path_accepts_exactly_what_the_checks_accept(rows: list[list[Any]]) -> None:
    """The numpy fast path (small and large batches) agrees with the per-value checks: same matrix
    when they accept, no answer (so that they run and name the problem) when they reject."""
    try:
        expected: np.ndarray | None = _checked_rows(rows, FEATURES)
    except RequestError:
        expected = None
    fast = _clean_list_rows(rows, len(FEATURES))
    if expected is None:
        assert fast is None
    else:
        assert fast is not None and fast.dtype == np.float32
        np.testing.assert_array_equal(fast, expected)


def test_the_fast_path_keeps_the_precise_error_messages() -> None:
    many = [[1.0, 2.0, 3.0]] * 5
    with pytest.raises(RequestError, match=r"instances\[2\] feature 'b' is out of float32 range"):
        parse(json.dumps({"instances": [*many[:2], [1.0, 1e39, 3.0]]}))
    with pytest.raises(RequestError, match=r"instances\[1\] feature 'c' must be a number, got boolean"):
        parse(json.dumps({"instances": [[1, 2, 3], [1, 2, True]]}))


def _stdlib_document(text: str) -> Any:
    """What parse_json_object returned before orjson: the standard library's decoder alone."""
    from common.http import request_body

    return request_body._DECODER.decode(text)


def _as_float_beyond_int64(value: Any) -> Any:
    """orjson returns integers outside the 64-bit range as floats (float(int), the same float32)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        try:
            return float(value)
        except OverflowError:  # orjson refuses it: the standard library parsed it
            return value
    if isinstance(value, list):
        return [_as_float_beyond_int64(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_float_beyond_int64(item) for key, item in value.items()}
    return value


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except RequestError as exc:
        return "error", (exc.status, exc.code, exc.message)


json_texts = st.one_of(
    st.text(max_size=120),
    json_values.map(json.dumps),
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False)),
    # near-misses: valid documents with one character changed, dropped or inserted
    st.tuples(
        json_values.map(json.dumps),
        st.integers(0, 200),
        st.sampled_from(list(' ,:[]{}"\\0e.-+\ud800\ufeffNI')),
    ).map(lambda t: t[0][: t[1] % (len(t[0]) + 1)] + t[2] + t[0][t[1] % (len(t[0]) + 1) + 1 :]),
    st.integers(min_value=-(10**400), max_value=10**400).map(lambda n: f'{{"instances": [[{n}, 1, 2]]}}'),
)


@settings(max_examples=3000, deadline=None)
@given(json_texts)
def test_parsing_with_orjson_first_answers_exactly_as_the_standard_library(text: str) -> None:
    """orjson parses first; everything it refuses goes to the standard library's decoder. The
    documents (and every error status, code and message) must be what the decoder alone gives."""
    ours = _outcome(lambda: parse_json_object(text))
    try:
        reference: tuple[str, Any] = "ok", _stdlib_document(text)
    except (json.JSONDecodeError, RecursionError, RequestError):
        assert ours[0] == "error"
        with pytest.raises(RequestError):
            parse_json_object(text)
        return
    if not isinstance(reference[1], dict):
        assert ours[0] == "error" and ours[1][1] == "invalid_body"
        return
    assert ours[0] == "ok"
    assert _as_float_beyond_int64(ours[1]) == _as_float_beyond_int64(reference[1])
    # and the rows the model sees are the same
    document = ours[1]
    ours_rows = _outcome(lambda: parse_instances(document, feature_names=FEATURES, limits=LIMITS))
    reference_rows = _outcome(lambda: parse_instances(reference[1], feature_names=FEATURES, limits=LIMITS))
    assert repr(ours_rows) == repr(reference_rows)


def test_a_malformed_body_names_the_standard_librarys_position() -> None:
    with pytest.raises(RequestError) as caught:
        parse_json_object('{"instances": [[1, 2,, 3]]}')
    assert caught.value.message == "the body is not valid JSON: Expecting value at line 1 column 22"
    with pytest.raises(RequestError) as caught:
        parse_json_object('\ufeff{"instances": []}')
    assert "Unexpected UTF-8 BOM" in caught.value.message


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


WIDE = [f"f{i}" for i in range(30)]
WIDE_LIMITS = RequestLimits(max_rows=50, max_body_bytes=1_000_000)
odd_values = st.one_of(
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
)


@st.composite
def wide_bodies(draw: st.DrawFn) -> str:
    """Bodies of 9-12 rows of 30 values (above the Python range check): numbers, sometimes one
    odd value somewhere, written compactly or spaced, with the key sometimes escaped."""
    rows = draw(st.integers(9, 12))
    matrix: list[list[Any]] = [
        [draw(st.floats(-1e6, 1e6) | st.integers(-1000, 1000)) for _ in range(30)] for _ in range(rows)
    ]
    if draw(st.booleans()):
        matrix[draw(st.integers(0, rows - 1))][draw(st.integers(0, 29))] = draw(odd_values)
    if draw(st.booleans()):
        matrix[draw(st.integers(0, rows - 1))].append(1.0)
    key = draw(st.sampled_from(['"instances"', '"instanc\\u0065s"']))
    separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    return f"{{{key}{separators[1]}{json.dumps(matrix, separators=separators)}}}"


@settings(max_examples=200, deadline=None)
@given(wide_bodies())
def test_the_text_shortcut_for_large_bodies_answers_as_the_type_checks(text: str) -> None:
    document = parse_json_object(text)
    if leaves_are_numbers(text):  # sound: the text never vouches for a non-number
        assert all(type(leaf) in (int, float) for leaf in _leaves(document["instances"]))
    with_text = _outcome(
        lambda: parse_instances(document, feature_names=WIDE, limits=WIDE_LIMITS, body_text=text)
    )
    without = _outcome(lambda: parse_instances(document, feature_names=WIDE, limits=WIDE_LIMITS))
    assert repr(with_text) == repr(without)


def test_the_text_shortcut_is_taken_for_plain_numbers_only() -> None:
    assert leaves_are_numbers('{"instances": [[1, 2.5e3, -0.1]]}')
    for text in (
        '{"instances": [[1, true]]}',
        '{"instances": [[1, false]]}',
        '{"instances": [[1, null]]}',
        '{"instances": [[1, "2"]]}',
        '{"instances": [[1, {}]]}',
        '{"instanc\\u0065s": [[1, 2]]}',
    ):
        assert not leaves_are_numbers(text), text
