"""Which engine a report runs on: local always in process, auto by window length and deployment,
athena refused against the local cloud or a stack without the workgroup."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelctl.reports.query.engine import QueryTarget, choose, row_engine
from modelctl.reports.query.sql import Tables
from release.errors import ShadowError

TARGET = QueryTarget(work_group="wg", tables=Tables("db"))
AWS: dict[str, str] = {}
LOCAL = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}


@pytest.mark.parametrize(
    ("engine", "span", "env", "deployed", "athena"),
    [
        ("local", timedelta(days=30), AWS, True, False),
        ("auto", timedelta(days=30), AWS, True, True),
        ("auto", timedelta(days=7), AWS, True, False),
        ("auto", timedelta(days=30), AWS, False, False),
        ("auto", timedelta(days=30), LOCAL, True, False),
        ("athena", timedelta(hours=1), AWS, True, True),
    ],
)
def test_engine_choice(
    engine: str, span: timedelta, env: dict[str, str], deployed: bool, athena: bool
) -> None:
    chosen = choose(engine, span=span, env=env, target=lambda: TARGET if deployed else None)
    assert (chosen is not None) is athena


@pytest.mark.parametrize(
    ("engine", "env", "message"),
    [
        ("athena", LOCAL, "local cloud has no Athena engine"),
        ("athena", AWS, "no QueryWorkGroup output"),
        ("spark", AWS, "not one of local, athena, auto"),
    ],
)
def test_engine_refusals_are_clear(engine: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ShadowError, match=message):
        choose(engine, span=timedelta(days=1), env=env, target=lambda: None)


def test_auto_reads_in_process_when_the_outputs_cannot_be_read() -> None:
    def unreadable() -> QueryTarget | None:
        raise ShadowError("stack ModelServing-Shadow does not exist")

    assert choose("auto", span=timedelta(days=30), env=AWS, target=unreadable) is None
    with pytest.raises(ShadowError, match="does not exist"):
        choose("athena", span=timedelta(days=30), env=AWS, target=unreadable)


def test_a_business_metric_reads_every_row_in_process() -> None:
    assert row_engine("auto", per_row=True) == "local"
    assert row_engine("auto", per_row=False) == "auto"
    assert row_engine("athena", per_row=False) == "athena"
    with pytest.raises(ShadowError, match="needs every labelled row"):
        row_engine("athena", per_row=True)
