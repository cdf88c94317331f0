"""The report's typed fast path (`iter_report_records` + `ReportBuilder.add_report_records`) gives
exactly the report of the general path (`iter_records` + `ReportBuilder.add`: every line parsed into
a dict): the same numbers, bad-line counts, de-duplication and listed rows, or the same error. The
reports are compared by `repr`, so 1 and 1.0, -0.0 and 0.0, and the order of keys all count."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.mirror.message import LiveResult, MirrorMessage, format_timestamp
from common.mirror.record import ShadowRecord, ShadowResult, encode_jsonl_gz
from common.observe.log_objects import ReadStats
from modelctl.reports.shadow import records as records_module
from modelctl.reports.shadow.records import inflate_object, iter_records, iter_report_records
from modelctl.reports.shadow.stats import ReportBuilder
from modelctl.reports.shadow.typed_records import TypedRecord
from modelctl.reports.shadow.window import Window

WINDOW = Window(datetime(2026, 1, 2, 12, tzinfo=UTC), datetime(2026, 1, 2, 15, tzinfo=UTC))
Outcome = tuple[str, str]


def written_records(count: int, *, seed: int = 3, classes: int = 2, rows: int = 1) -> list[ShadowRecord]:
    """Records as the shadow function writes them (its own classes)."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        moment = datetime(2026, 1, 2, 12, tzinfo=UTC).timestamp() + index * 7.3
        live_p = [[rng.random() for _ in range(classes)] for _ in range(rows)]
        shadow_p = [[rng.random() for _ in range(classes)] for _ in range(rows)]
        live = LiveResult("m-live", "1", [rng.randrange(classes) for _ in range(rows)], live_p, rng.random())
        message = MirrorMessage(
            request_id=f"req-{index % (count - 2 or 1)}",  # two ids repeat: duplicates to drop
            part=index % 2,
            parts=2,
            row_offset=rows * (index % 2),
            timestamp=format_timestamp(moment),
            candidate_model_version="m-candidate",
            inputs=np.asarray(
                [[rng.uniform(-5, 5) for _ in range(4)] for _ in range(rows)], dtype=np.float32
            ),
            live=live,
        )
        shadow = ShadowResult(
            "m-candidate", "2", [rng.randrange(classes) for _ in range(rows)], shadow_p, 0.5
        )
        out.append(ShadowRecord(message, shadow, f"m{index}", format_timestamp(moment + 1)))
    return out


def report_general(bodies: list[bytes], top: int) -> Outcome:
    def run() -> tuple[dict[str, Any], ReadStats]:
        builder, tally = ReportBuilder(WINDOW, top=top), ReadStats()
        for body in bodies:
            for record in iter_records(inflate_object(body), tally):
                builder.add(record)
        return builder.result(), tally

    return outcome(run)


def report_typed(bodies: list[bytes], top: int) -> Outcome:
    def run() -> tuple[dict[str, Any], ReadStats]:
        builder, tally = ReportBuilder(WINDOW, top=top), ReadStats()
        for body in bodies:
            builder.add_report_records(iter_report_records(inflate_object(body), tally))
        return builder.result(), tally

    return outcome(run)


def outcome(run: Callable[[], tuple[dict[str, Any], ReadStats]]) -> Outcome:
    try:
        report, tally = run()
    except Exception as exc:  # the general path's own errors must be the fast path's too
        return "raised", type(exc).__name__
    return "report", repr((report, tally))


def typed_count(bodies: list[bytes]) -> int:
    tally = ReadStats()
    return sum(
        typed is not None for body in bodies for typed, _ in iter_report_records(inflate_object(body), tally)
    )


def assert_same(bodies: list[bytes], top: int = 3) -> Outcome:
    general = report_general(bodies, top)
    assert report_typed(bodies, top) == general
    return general


# -- what the shadow function writes -------------------------------------------------------------------


@pytest.mark.parametrize(("classes", "rows"), [(2, 1), (3, 1), (2, 3)])
def test_the_writer_s_lines_take_the_fast_path_and_give_the_general_report(classes: int, rows: int) -> None:
    written = written_records(40, classes=classes, rows=rows)
    bodies = [encode_jsonl_gz(written[:25]), encode_jsonl_gz(written[25:])]
    assert typed_count(bodies) == 40  # every line decoded typed: the fast path is the one measured
    kind, _ = assert_same(bodies)
    assert kind == "report"
    tally = ReadStats()
    item = next(iter_report_records(inflate_object(bodies[0]), tally))
    assert isinstance(item[0], TypedRecord) and item[1] == written[0].to_json_line().encode()


@pytest.mark.parametrize("top", [0, 1, 10, 1000])
def test_the_listed_rows_are_those_of_the_general_path(top: int) -> None:
    written = written_records(120, seed=11)
    assert_same([encode_jsonl_gz(written)], top)


def test_rows_that_tie_are_listed_as_the_general_path_lists_them() -> None:
    """Equal scores (the same labels and probabilities) keep the rows listed first."""
    written = []
    for index, record in enumerate(written_records(60, seed=5)):
        same = ShadowResult(
            "m-candidate", "2", record.message.live.predictions, record.message.live.probabilities, 0.5
        )
        tied = index % 3 != 0
        written.append(ShadowRecord(record.message, same if tied else record.shadow, "m", "t"))
    assert typed_count([encode_jsonl_gz(written)]) == 60
    for top in (1, 4, 30):
        assert_same([encode_jsonl_gz(written)], top)


def test_without_msgspec_every_line_takes_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = [encode_jsonl_gz(written_records(30))]
    expected = report_general(bodies, 5)
    monkeypatch.setattr(records_module, "_decode_typed", None)
    assert typed_count(bodies) == 0
    assert report_typed(bodies, 5) == expected


# -- odd lines: each one alone, next to good lines -----------------------------------------------------

ODD_WRITTEN = written_records(3)[0].to_json_line().replace("req-0", "odd")  # an id of its own
GOOD = json.loads(ODD_WRITTEN)


def with_changes(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        target = record
        *parents, leaf = path.split("__")
        for name in parents:
            target = target[name]
        if value is KeyError:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return record


ODD_LINES: dict[str, str] = {
    "record_id empty": json.dumps(with_changes(record_id="")),
    "record_id empty, no request_id": json.dumps(with_changes(record_id="", request_id=KeyError)),
    "record_id missing": json.dumps(with_changes(record_id=KeyError)),
    "record_id a number": json.dumps(with_changes(record_id=7)),
    "timestamp a number": json.dumps(with_changes(timestamp=5)),
    "outside the window": json.dumps(with_changes(timestamp="2026-01-02T16:00:00.000Z")),
    "part true": json.dumps(with_changes(part=True)),
    "part 1.0": json.dumps(with_changes(part=1.0)),
    "part text": json.dumps(with_changes(part="0")),
    "part null": json.dumps(with_changes(part=None)),
    "part missing": json.dumps(with_changes(part=KeyError)),
    "labels as bools": json.dumps(with_changes(live__predictions=[True])),
    "labels as floats": json.dumps(with_changes(live__predictions=[1.0], shadow__predictions=[1])),
    "labels as text and number": json.dumps(with_changes(live__predictions=["1"], shadow__predictions=[1])),
    "a label null": json.dumps(with_changes(shadow__predictions=[None])),
    "a label a list": json.dumps(with_changes(shadow__predictions=[[1]])),
    "huge integer label": '{"x":1,' + json.dumps(with_changes(live__predictions=[10**30]))[1:],
    "probabilities as integers": json.dumps(with_changes(live__probabilities=[[0, 1]])),
    "probabilities as text": json.dumps(with_changes(live__probabilities=[["0.5", "0.5"]])),
    "probabilities of three classes vs two": json.dumps(with_changes(live__probabilities=[[0.2, 0.3, 0.5]])),
    "no probabilities in a row": json.dumps(
        with_changes(live__probabilities=[[]], shadow__probabilities=[[]])
    ),
    "probabilities not rows": json.dumps(with_changes(live__probabilities=[0.5])),
    "rows do not line up": json.dumps(with_changes(live__predictions=[0, 1])),
    "no rows": json.dumps(with_changes(live__predictions=[], shadow__predictions=[])),
    "inference_ms text": json.dumps(with_changes(live__inference_ms="1.5")),
    "inference_ms huge integer": json.dumps(with_changes(shadow__inference_ms=10**400)),
    "inference_ms NaN": json.dumps(with_changes(live__inference_ms=float("nan"))),
    "inference_ms 1e400": json.dumps(with_changes(live__inference_ms=1.0)).replace(
        '"inference_ms": 1.0', '"inference_ms": 1e400'
    ),
    "model_version a number": json.dumps(with_changes(live__model_version=3)),
    "model_version null": json.dumps(with_changes(shadow__model_version=None)),
    "model_version missing": json.dumps(with_changes(shadow__model_version=KeyError)),
    "model_version 'None'": json.dumps(with_changes(shadow__model_version="None")),
    "model_version empty": json.dumps(with_changes(live__model_version="")),
    "function_version missing": json.dumps(with_changes(live__function_version=KeyError)),
    "shadow null": json.dumps(with_changes(shadow=None)),
    "live a list": json.dumps(with_changes(live=[1])),
    "row_offset text": json.dumps(with_changes(row_offset="x")),
    "inputs missing": json.dumps(with_changes(inputs=KeyError)),
    "inputs shorter than the rows": json.dumps(with_changes(inputs=[])),
    "inputs NaN text": ODD_WRITTEN.replace("[[", "[[NaN,", 1),
    "extra keys": json.dumps({"z": {"nested": [1, {"a": None}]}, **with_changes(), "extra": "é"}),
    "keys in another order": json.dumps(dict(reversed(list(with_changes().items())))),
    "a key twice (the last one counts)": ODD_WRITTEN[:-1] + ',"timestamp":"2026-01-02T16:00:00.000Z"}',
    "a key twice, once escaped": ODD_WRITTEN[:-1] + ',"time\\u0073tamp":"2026-01-02T16:00:00.000Z"}',
    "live twice": ODD_WRITTEN[:-1] + ',"live":{"predictions":[0]}}',
    "unicode escapes": json.dumps(with_changes(record_id="r\u00e9\u2028#0", live__model_version="m-\u263a")),
    "raw unicode": json.dumps(with_changes(record_id="ré#0"), ensure_ascii=False),
    "escaped quotes": json.dumps(with_changes(record_id='say "hi"#0', request_id='a\\"b')),
    "a lone surrogate": json.dumps(with_changes(record_id="\ud800#0")),
    "spaces around": "  " + json.dumps(with_changes()) + "\t ",
    "a truncated line": ODD_WRITTEN[:-7],
    "not an object": "[1, 2]",
    "broken": "{broken",
    "whitespace only": "   ",
    "-0.0 probabilities": json.dumps(with_changes(live__probabilities=[[-0.0, 0.0]])),
}


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # infinite latency quantiles
@pytest.mark.parametrize("name", sorted(ODD_LINES))
def test_an_odd_line_gives_the_general_report(name: str) -> None:
    good = [record.to_json_line() for record in written_records(6)]
    text = "\n".join([good[0], ODD_LINES[name], *good[1:], ODD_LINES[name]]) + "\n"
    assert_same([gzip.compress(text.encode("utf-8", "surrogatepass"), mtime=0)], top=4)


def test_odd_lines_together_give_the_general_report() -> None:
    good = [record.to_json_line() for record in written_records(20)]
    lines = [line for pair in zip(good, sorted(ODD_LINES.values()), strict=False) for line in pair]
    kind, _ = assert_same(
        [gzip.compress("\r\n".join(lines).encode("utf-8", "surrogatepass"), mtime=0)], top=50
    )
    assert kind in {"report", "raised"}


# -- generated lines -------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
)


def json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)


json_values = st.recursive(json_scalars, json_containers, max_leaves=6)
labels = st.one_of(st.integers(-2, 3), st.sampled_from(["0", "1", "cat", "é"]), json_values)
probability = st.one_of(
    st.floats(0, 1), st.integers(0, 1), st.sampled_from([-0.0, 1e-320, 2**60]), json_values
)
hours = st.sampled_from(["11", "12", "13", "14", "15"])


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    rows = draw(st.integers(0, 3))
    classes = draw(st.integers(0, 3))

    def rows_of(values: st.SearchStrategy[Any], size: int) -> list[Any]:
        return [draw(st.lists(values, min_size=size, max_size=size)) for _ in range(rows)]

    def result() -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_version": draw(st.sampled_from(["m-a", "m-b", "None", ""]) | json_values),
            "function_version": draw(st.sampled_from(["1", "2"])),
            "predictions": draw(st.lists(labels, min_size=rows, max_size=rows)),
            "probabilities": rows_of(probability, classes),
            "inference_ms": draw(st.floats(0, 5) | st.integers(0, 5) | json_values),
        }
        for key in draw(st.lists(st.sampled_from(sorted(out)), max_size=2)):
            out.pop(key, None)
        return out

    record: dict[str, Any] = {
        "schema_version": 1,
        "record_id": draw(st.sampled_from(["a#0", "b#0", "b#1", "", "c\u00e9#0", 'q"#0']) | json_values),
        "request_id": draw(st.sampled_from(["a", "b", 'q"']) | json_values),
        "part": draw(st.sampled_from([0, 1, 0.0, "0"]) | json_values),
        "parts": 2,
        "row_offset": draw(st.sampled_from([0, 1]) | json_values),
        "timestamp": f"2026-01-02T{draw(hours)}:0{draw(st.integers(0, 9))}:00.000Z",
        "inputs": rows_of(st.floats(-1e6, 1e6, width=32), 3),
        "live": result(),
        "shadow": result(),
        "message_id": "m",
        "processed_at": "2026-01-02T13:00:00.000Z",
    }
    for key in draw(st.lists(st.sampled_from(sorted(record)), max_size=2)):
        record.pop(key, None)
    for key, value in draw(st.dictionaries(st.text(max_size=5), json_values, max_size=2)).items():
        record.setdefault(key, value)
    if draw(st.booleans()):
        record = dict(draw(st.permutations(list(record.items()))))
    return record


@st.composite
def lines(draw: st.DrawFn) -> str:
    record = draw(records())
    text = json.dumps(
        record,
        separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])),
        ensure_ascii=draw(st.booleans()),
    )
    mutation = draw(st.sampled_from(["none", "none", "none", "truncate", "nan", "duplicate key", "garbage"]))
    if mutation == "truncate":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif mutation == "nan":
        text = text.replace("0.", "NaN, 0.", 1)
    elif mutation == "duplicate key" and text.endswith("}"):
        text = text[:-1] + ', "timestamp": "2026-01-02T13:30:00.000Z"}'
    elif mutation == "garbage":
        text += draw(st.sampled_from([" x", "}", "{}", "\u00e9"]))
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    objects=st.lists(st.lists(lines(), max_size=8), min_size=1, max_size=3),
    separator=st.sampled_from(["\n", "\r\n", "\n\n"]),
    top=st.sampled_from([0, 2, 5]),
)
def test_generated_lines_give_the_general_report(objects: list[list[str]], separator: str, top: int) -> None:
    bodies = [
        gzip.compress(separator.join(object_lines).encode("utf-8", "surrogatepass"), mtime=0)
        for object_lines in objects
    ]
    assert_same(bodies, top)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=st.data(),
    count=st.integers(1, 30),
    classes=st.integers(1, 3),
    rows=st.integers(1, 3),
)
def test_written_objects_with_some_lines_changed_give_the_general_report(
    data: st.DataObject, count: int, classes: int, rows: int
) -> None:
    text = [
        record.to_json_line() for record in written_records(count + 2, seed=count, classes=classes, rows=rows)
    ]
    for _ in range(data.draw(st.integers(0, 3))):
        text[data.draw(st.integers(0, len(text) - 1))] = data.draw(lines())
    assert_same([gzip.compress("\n".join(text).encode("utf-8", "surrogatepass"), mtime=0)], top=3)


@pytest.mark.parametrize(
    "value", [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30, 10**400]
)
def test_integers_at_the_edges_of_what_orjson_reads_as_int(value: int) -> None:
    good = [record.to_json_line() for record in written_records(4)]
    odd = [
        json.dumps(with_changes(live__predictions=[value])),
        json.dumps(with_changes(record_id="p#1", part=value)),
        json.dumps(with_changes(record_id="q#1", shadow__probabilities=[[value, 0]])),
    ]
    assert_same([gzip.compress("\n".join(good[:2] + odd + good[2:]).encode(), mtime=0)], top=4)


def test_versions_with_equal_counts_keep_the_order_they_were_first_seen_in() -> None:
    """`most_common` lists ties in the order the versions were first counted, typed or not."""
    typed = json.dumps(with_changes(record_id="t#0", live__model_version="m-first"))
    general = json.dumps(with_changes(record_id="g#0", live__model_version="m-second", part="0"))
    later_typed = json.dumps(with_changes(record_id="u#0", live__model_version="m-third"))
    body = gzip.compress("\n".join([typed, general, later_typed]).encode(), mtime=0)
    assert typed_count([body]) == 2
    kind, report = assert_same([body])
    assert kind == "report" and "{'m-first': 1, 'm-second': 1, 'm-third': 1}" in report
