"""The release table: history newest first, and the release in progress under conditions."""

from __future__ import annotations

import pytest

from release.alias import Routing
from release.errors import RefusedError, ReleaseAbortedError
from release.store import HistoryEntry, ReleaseRecord, ReleaseStore
from tests.unit.modelctl.world import World


def store(world: World) -> ReleaseStore:
    return ReleaseStore(world.dynamodb, world.table, world.function, world.alias)


def record(release_id: str = "r1", candidate: str = "2") -> ReleaseRecord:
    return ReleaseRecord(
        release_id=release_id,
        kind="shift",
        candidate=candidate,
        base="1",
        steps=[],
        started_at="t",
        started_by="me",
    )


def test_history_is_newest_first_and_keeps_every_field(world: World) -> None:
    releases = store(world)
    for index in range(3):
        releases.append(
            HistoryEntry(
                at=f"2026-01-01T00:00:0{index}.000000Z",
                who="me",
                action=f"step {index}",
                outcome="ok",
                before=Routing("1"),
                after=Routing("1", "2", 10.0 * index + 10),
                reason="why",
            )
        )
    entries = releases.history(2)
    assert [e.action for e in entries] == ["step 2", "step 1"]
    assert entries[0].after == Routing("1", "2", 30.0) and entries[0].reason == "why"


def test_entries_with_the_same_timestamp_keep_their_order(world: World) -> None:
    releases = store(world)
    for action in ("a", "b", "c"):
        releases.append(HistoryEntry(at="2026-01-01T00:00:00.000000Z", who="me", action=action, outcome="ok"))
    assert [e.action for e in releases.history(10)] == ["c", "b", "a"]


def test_a_second_release_cannot_begin_while_one_is_in_progress(world: World) -> None:
    releases = store(world)
    releases.begin(record("r1"))
    with pytest.raises(RefusedError, match="another release is in progress"):
        releases.begin(record("r2", candidate="3"))


def test_progress_of_an_aborted_release_cannot_be_saved(world: World) -> None:
    releases = store(world)
    releases.begin(record())
    releases.request_abort("r1", "bob", "bad canary")
    with pytest.raises(ReleaseAbortedError, match=r"aborted by bob \(bad canary\)"):
        releases.save(record())


def test_finishing_sets_or_clears_the_rollback_target(world: World) -> None:
    releases = store(world)
    releases.begin(record())
    releases.finish("r1", previous_primary="1")
    state = releases.state()
    assert state.release is None and state.previous_primary == "1"
    releases.finish(None, previous_primary=None)
    assert releases.state().previous_primary is None
