"""The large bodies' decoder (inference.batch_rows) answers as the general decoder or steps aside.

Generated bodies of every shape a client may send near the common one (integers, floats,
exponents, negative zero, values near float32's limits, ragged rows, nested arrays, wrong widths,
booleans, nulls, strings, objects, extra and duplicate keys, other spellings) go to both decoders:
where the general decoder answers, the batch decoder answers the same float32 matrix or None;
where the general decoder refuses, the batch decoder answers None. Bodies it must take (a clean
common body) it takes. Through the handler, a large request answers byte for byte as through the
general decoder, and simdjson is imported only when a large body arrives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.http.errors import RequestError
from common.http.validation import FLOAT32_MAX, RequestLimits, parse_instances, parse_json_object
from common.model.metadata import ModelMetadata
from inference.decode import BATCH_MIN_BYTES, JSON
from localcloud.events import rest_proxy_event
from tests.unit.inference.test_decode import answer, common_events, handler, numbers  # noqa: F401  (handler: a fixture)

pytest.importorskip("simdjson", reason="pysimdjson is not installed")
from inference.batch_rows import BatchRows

WIDTH = 3
MAX_ROWS = 25
FEATURES = ["a", "b", "c"]
LIMITS = RequestLimits(max_rows=MAX_ROWS)
many = settings(max_examples=1_500, deadline=None, suppress_health_check=list(HealthCheck))

in_64_bits = st.integers(-(2**63), 2**64 - 1)
clean_numbers = (
    st.floats(allow_nan=False, allow_infinity=False, min_value=-FLOAT32_MAX, max_value=FLOAT32_MAX)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | in_64_bits
    | st.sampled_from([0, -0.0, 1e-45, 5e-324, FLOAT32_MAX, -FLOAT32_MAX, float(2**127), 2**53 + 1])
)
strays = st.sampled_from([None, True, False, "1", "", [], [1.0], [1.0, 2.0], {}, {"a": 1}])


def general(text: str) -> np.ndarray | RequestError:
    """The general decoder's answer for a body: the rows, or the error it words."""
    try:
        return parse_instances(parse_json_object(text), feature_names=FEATURES, limits=LIMITS, body_text=text)
    except RequestError as exc:
        return exc


def assert_agrees(text: str, *, must_answer: bool = False) -> None:
    expected = general(text)
    got = BatchRows(WIDTH, MAX_ROWS)(text)
    if isinstance(expected, RequestError):
        assert got is None, expected.code
    elif got is None:
        assert not must_answer, "a clean common body was left to the general decoder"
    else:
        assert got.dtype == np.float32 and got.flags.c_contiguous
        assert got.shape == expected.shape
        assert got.tobytes() == expected.tobytes()


@st.composite
def rows_with_a_flaw(draw: st.DrawFn) -> tuple[list[Any], bool]:
    """Rows of numbers, and whether they are clean (no flaw drawn, every number within 64 bits)."""
    rows: list[Any] = draw(
        st.lists(st.lists(numbers, min_size=WIDTH, max_size=WIDTH), min_size=1, max_size=MAX_ROWS + 2)
    )
    clean = all(type(value) is float or -(2**63) <= value < 2**64 for row in rows for value in row)
    flaw = draw(
        st.sampled_from(
            ["none"] * 4
            + ["stray", "short", "long", "ragged", "singleton", "empty+pair", "scalar row", "object row"]
        )
    )
    index = draw(st.integers(0, len(rows) - 1))
    other = draw(st.integers(0, len(rows) - 1))
    column = draw(st.integers(0, WIDTH - 1))
    if flaw == "stray":
        rows[index][column] = draw(strays)
    elif flaw == "short":
        rows[index] = rows[index][:-1]
    elif flaw == "long":
        rows[index] = [*rows[index], 1.0]
    elif flaw == "ragged" and index != other:  # one row longer, another shorter: the same total
        rows[index] = [*rows[index], 1.0]
        rows[other] = rows[other][:-1]
    elif flaw == "singleton":  # the same number of values once flattened
        rows[index][column] = [rows[index][column]]
    elif flaw == "empty+pair" and WIDTH > 1:  # one value fewer and one more: the same total
        rows[index][0] = []
        rows[index][1] = [rows[index][1], 2.0]
    elif flaw == "scalar row":
        rows[index] = 1.0
    elif flaw == "object row":
        rows[index] = dict(zip(FEATURES, rows[index], strict=False))
    return rows, clean and flaw == "none"


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, bool]:
    """A body near the common one, in any spelling, and whether the batch decoder must take it."""
    rows, clean = draw(rows_with_a_flaw())
    document: Any = {"instances": rows}
    shape = draw(st.sampled_from(["plain"] * 6 + ["extra key", "no instances", "not an object", "not rows"]))
    if shape == "extra key":
        document["extra"] = 1
    elif shape == "no instances":
        document = {"instance": rows}
    elif shape == "not an object":
        document = rows
    elif shape == "not rows":
        document = {"instances": draw(st.sampled_from([None, 1, "rows", {"a": [1]}, []]))}
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" , ", " : ")]))
    text = json.dumps(document, separators=separators)
    spelling = draw(st.sampled_from(["as is"] * 4 + ["exponents", "whitespace", "duplicate key", "trailing"]))
    if spelling == "exponents":
        text = text.replace("e+", "E").replace(".0,", ".0e0,").replace(".5", "5e-1")
    elif spelling == "whitespace":
        text = "\n\t" + text.replace(",", " ,\r\n") + " "
    elif spelling == "duplicate key" and shape == "plain":
        text = text[:-1] + ',"instances":[[1,2,3]]}'
    elif spelling == "trailing":
        text += draw(st.sampled_from([",", "}", "x", "[]"]))
    must_answer = clean and shape == "plain" and spelling in ("as is", "whitespace") and len(rows) <= MAX_ROWS
    return text, must_answer


@many
@given(body=bodies())
def test_it_answers_as_the_general_decoder_or_steps_aside(body: tuple[str, bool]) -> None:
    text, must_answer = body
    assert_agrees(text, must_answer=must_answer)


@settings(many, max_examples=500)
@given(rows=st.lists(st.lists(clean_numbers, min_size=WIDTH, max_size=WIDTH), min_size=1, max_size=MAX_ROWS))
def test_it_takes_every_clean_body(rows: list[list[Any]]) -> None:
    assert_agrees(json.dumps({"instances": rows}), must_answer=True)


@pytest.mark.parametrize(
    "value",
    [
        "-0",
        "-0.0",
        "-0e0",
        "-1e-400",
        "1e-46",
        "1E2",
        "1.5e+3",
        "123456789012345678901234567890.5",
        "9007199254740993",
        "18446744073709551615",
        "-9223372036854775808",
        "340282346638528859811704183484516925440",  # FLOAT32_MAX, written out
        "3.4028234663852886e38",
        "3.4028235677973366e38",  # just above FLOAT32_MAX: rounds to it as float32, refused
        "1e39",
        "1e400",
        "18446744073709551616",  # beyond 64 bits: left to the general decoder
    ],
)
def test_numbers_near_the_edges(value: str) -> None:
    assert_agrees(f'{{"instances": [[{value}, 1, 2]]}}')


def test_negative_zero_keeps_its_sign_only_when_written_as_a_float() -> None:
    rows = BatchRows(WIDTH, MAX_ROWS)('{"instances": [[-0, -0.0, -0e0]]}')
    assert rows is not None
    assert np.signbit(rows).tolist() == [[False, True, True]]


def test_a_width_of_one_refuses_an_empty_row() -> None:
    batch = BatchRows(1, 5)
    assert batch('{"instances": [[1], [], [2]]}') is None
    rows = batch('{"instances": [[1], [2]]}')
    assert rows is not None and rows.tolist() == [[1.0], [2.0]]


def test_its_answer_outlives_the_next_parse() -> None:
    batch = BatchRows(WIDTH, MAX_ROWS)
    first = batch('{"instances": [[1, 2, 3]]}')
    second = batch('{"instances": [[4, 5, 6], [7, 8, 9]]}')
    assert first is not None and second is not None
    assert (first.tolist(), second.tolist()) == ([[1, 2, 3]], [[4, 5, 6], [7, 8, 9]])


def test_a_document_still_referenced_makes_it_step_aside_once() -> None:
    batch = BatchRows(WIDTH, MAX_ROWS)
    held = batch._parser.parse(b'{"instances": []}')  # a proxy of the parser's last document
    assert batch('{"instances": [[1, 2, 3]]}') is None
    del held
    assert batch('{"instances": [[1, 2, 3]]}') is not None


def test_a_busy_parser_steps_aside() -> None:
    batch = BatchRows(WIDTH, MAX_ROWS)
    with batch._lock:  # another thread is parsing
        assert batch('{"instances": [[1, 2, 3]]}') is None
    assert batch('{"instances": [[1, 2, 3]]}') is not None


def test_threads_sharing_it_get_their_own_rows() -> None:
    batch = BatchRows(WIDTH, MAX_ROWS)
    texts = {n: json.dumps({"instances": [[n, n + 1, n + 2]] * (1 + n % MAX_ROWS)}) for n in range(40)}
    wrong: list[int] = []

    def work(n: int) -> None:
        for _ in range(50):
            rows = batch(texts[n])
            if rows is not None and rows.tolist() != json.loads(texts[n])["instances"]:
                wrong.append(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


# -- through the decode seam -----------------------------------------------------------------


def large_body(rows: list[list[float]]) -> str:
    """The fewest of `rows` (cycled) that make a body of at least BATCH_MIN_BYTES."""
    instances = [rows[0]]
    while len(body := json.dumps({"instances": instances})) < BATCH_MIN_BYTES:
        instances.append(rows[len(instances) % len(rows)])
    return body


def test_a_large_common_request_takes_the_batch_decoder(
    handler: ModuleType,  # noqa: F811  (the fixture imported above)
    trained_model: tuple[Path, ModelMetadata],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = rest_proxy_event(
        "POST", "/predict", body=large_body(trained_model[1].sample_rows), headers={"Content-Type": JSON}
    )
    expected = answer(handler, event, fast=False)
    decoder = handler.app.decoder
    batch = decoder._batch or decoder._load_batch()
    assert isinstance(batch, BatchRows)
    answered: list[bool] = []

    def recorded(text: str) -> np.ndarray | None:
        rows = batch(text)
        answered.append(rows is not None)
        return rows

    def general(*_: Any) -> Any:
        raise AssertionError("the general decoder answered a common request")

    monkeypatch.setattr(decoder, "_batch", recorded)
    monkeypatch.setattr(decoder, "general_rows", general)
    assert answer(handler, event, fast=True) == expected
    assert expected[0]["statusCode"] == 200 and answered == [True]


@settings(many, max_examples=400)
@given(event=common_events(), trace=st.booleans())
def test_every_common_request_through_the_batch_decoder_gets_the_general_paths_answer(
    handler: ModuleType,  # noqa: F811
    event: dict[str, Any],
    trace: bool,
) -> None:
    """The test_decode requests with the batch decoder taking every body, whatever its size."""
    import inference.decode

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inference.decode, "BATCH_MIN_BYTES", 0)
        assert answer(handler, event, fast=True) == answer(handler, event, fast=False)


def test_simdjson_is_imported_on_the_first_large_body_only(trained_model: tuple[Path, ModelMetadata]) -> None:
    """Cold start: the 1-row request does not load the extension (a few megabytes)."""
    artifact_dir, metadata = trained_model
    root = Path(__file__).resolve().parents[3]
    probe = (
        "import json, sys\n"
        "from localcloud.events import rest_proxy_event\n"
        "import inference.handler as h\n"
        "class C:\n"
        "    function_version = '1'; aws_request_id = 'r'\n"
        "def loaded(): return sorted(m for m in ('simdjson', 'csimdjson') if m in sys.modules)\n"
        "seen = [loaded()]\n"
        "for body in sys.argv[1:]:\n"
        "    headers = {'Content-Type': 'application/json'}\n"
        "    event = rest_proxy_event('POST', '/predict', body=body, headers=headers)\n"
        "    assert h.handler(event, C())['statusCode'] == 200\n"
        "    seen.append(loaded())\n"
        "print(json.dumps(seen))\n"
    )
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(root / "functions"), str(root), *sys.path]),
        "MODEL_URI": str(artifact_dir),
        "POWERTOOLS_METRICS_NAMESPACE": "ModelServingTest",
    }
    small = json.dumps({"instances": metadata.sample_rows[:1]})
    ran = subprocess.run(
        [sys.executable, "-c", probe, small, large_body(metadata.sample_rows)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(ran.stdout.splitlines()[-1]) == [[], [], ["csimdjson", "simdjson"]]
