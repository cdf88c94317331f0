"""The soak's verdicts on memory (reliability/soak.py): a process over its growth bound is named,
one that was not there at both ends is not judged, and moto's bound grows with what S3 holds; and
threads are counted by kind, so a kind that grows is visible."""

from __future__ import annotations

import threading

from reliability.soak import growth_verdicts, thread_kinds

START = {"local cloud": 100.0, "moto": 400.0, "worker a": 90.0, "worker gone": 90.0}


def test_growth_within_a_quarter_and_the_slack_is_not_reported() -> None:
    end = {"local cloud": 100.0 + 25 + 32, "moto": 400.0 + 100 + 32, "worker a": 90.0, "worker new": 500.0}
    assert growth_verdicts(START, end, stored_growth_mb=0.0) == []


def test_growth_beyond_the_bound_names_the_process() -> None:
    end = {"local cloud": 100.0 + 25 + 32 + 0.5, "moto": 400.0, "worker a": 90.0}
    assert growth_verdicts(START, end, stored_growth_mb=0.0) == [
        "local cloud: 100.0 -> 157.5 MB, bound +57.0 MB"
    ]


def test_moto_may_grow_by_what_it_stores() -> None:
    end = {"moto": 400.0 + 100 + 32 + 40}
    assert growth_verdicts(START, end, stored_growth_mb=10.0) == []
    assert growth_verdicts(START, end, stored_growth_mb=9.0) == ["moto: 400.0 -> 572.0 MB, bound +168.0 MB"]


def test_threads_are_counted_by_kind_with_numbers_taken_out() -> None:
    release = threading.Event()
    names = [f"worker-{pid}-monitor" for pid in (11, 12345)]
    threads = [threading.Thread(target=release.wait, name=name, daemon=True) for name in names]
    for thread in threads:
        thread.start()
    try:
        assert thread_kinds()["worker-N-monitor"] == 2
    finally:
        release.set()
        for thread in threads:
            thread.join()
    assert "worker-N-monitor" not in thread_kinds()
