"""CloudWatch Logs filter patterns as the local log subscriptions evaluate them."""

from __future__ import annotations

import json

import pytest

from localcloud.subscriptions.pattern import FilterPatternError, compile_pattern

RECORD = json.dumps(
    {
        "message": "prediction served",
        "latency_ms": 12.5,
        "rows": 3,
        "tags": ["a", "b"],
        "ok": True,
        "candidate": None,
        "model": {"version": "v7"},
        "ip": "10.0.3.7",
    }
)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("", True),
        ("   ", True),
        ('{ $.message = "prediction served" }', True),
        ('{ $.message = "prediction failed" }', False),
        ('{$.message="prediction served"}', True),
        ('{ $.message != "prediction served" }', False),
        ('{ $.message = "prediction*" }', True),
        ('{ $.message = "*served" }', True),
        ("{ $.ip = 10.0.* }", True),
        ("{ $.ip != 10.0.* }", False),
        ("{ $.latency_ms > 10 }", True),
        ("{ $.latency_ms <= 10 }", False),
        ("{ $.rows = 3 }", True),
        ("{ $.rows >= 4 }", False),
        ('{ $.model.version = "v7" }', True),
        ('{ $.tags[1] = "b" }', True),
        ('{ $.tags[5] = "b" }', False),
        ("{ $.ok IS TRUE }", True),
        ("{ $.ok IS FALSE }", False),
        ("{ $.candidate IS NULL }", True),
        ("{ $.missing NOT EXISTS }", True),
        ("{ $.message NOT EXISTS }", False),
        ("{ $.missing IS NULL }", False),
        ('{ $.message = "prediction served" && $.rows > 5 }', False),
        ('{ $.message = "prediction served" && $.rows < 5 }', True),
        ('{ $.message = "x" || $.rows = 3 }', True),
        ('{ ($.message = "x" || $.rows = 3) && $.ok IS TRUE }', True),
        ('{ $.message = "x" || $.rows = 3 && $.ok IS FALSE }', False),  # && binds tighter
        ("{ $.model = 1 }", False),  # an object is never equal to a value
        ("prediction", True),
        ("prediction served", True),  # both terms
        ('"prediction served"', True),
        ('"served prediction"', False),
        ("prediction -served", False),
        ("?failed ?served", True),
        ("?failed ?nothing", False),
        ("Prediction", False),  # terms are case-sensitive
        ("%lat[a-z]+_ms%", True),
    ],
)
def test_pattern_on_a_json_record(pattern: str, expected: bool) -> None:
    assert compile_pattern(pattern)(RECORD) is expected


def test_json_patterns_never_match_lines_that_are_not_json_objects() -> None:
    matches = compile_pattern('{ $.message = "prediction served" }')
    assert not matches("START RequestId: 1 Version: 1")
    assert not matches('["prediction served"]')
    assert not matches("{not json")


@pytest.mark.parametrize(
    "pattern",
    [
        "{ $.a = ",
        "{ $.a = 1",
        "{ a = 1 }",
        "{ $.a ~ 1 }",
        "{ ($.a = 1 }",
        "[ip, user]",
        "?a b",
        "{ $.a > x }",
    ],
)
def test_malformed_or_unsupported_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(FilterPatternError):
        compile_pattern(pattern)
