"""The release lock: one holder per alias, an expiry, renewal, and take-over by abort only."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from release.errors import AwsCallError, LockHeldError, LockLostError, RefusedError
from release.lock import ReleaseLock
from tests.unit.modelctl.world import FakeClock, World


def lock(world: World, clock: FakeClock, *, scope: str = "alias", lease_s: float = 600) -> ReleaseLock:
    return ReleaseLock(
        world.dynamodb,
        world.table,
        function=world.function,
        alias=world.alias,
        scope=scope,
        clock=clock,
        lease_s=lease_s,
    )


def test_a_second_holder_is_refused_with_who_holds_it(world: World, clock: FakeClock) -> None:
    lock(world, clock).acquire("arn:aws:iam::1:user/alice", "shift v3")
    with pytest.raises(LockHeldError, match=r"'shift v3' by arn:aws:iam::1:user/alice since .*lease expires"):
        lock(world, clock).acquire("arn:aws:iam::1:user/bob", "canary v2")


def test_an_expired_lease_can_be_taken(world: World, clock: FakeClock) -> None:
    lock(world, clock, lease_s=60).acquire("alice", "shift v3")
    clock.advance(61)
    lease = lock(world, clock).acquire("bob", "canary v2")
    assert lock(world, clock).holder() == lease


def test_renewal_keeps_the_lease_past_its_first_expiry(world: World, clock: FakeClock) -> None:
    mine = lock(world, clock, lease_s=60)
    mine.acquire("alice", "shift v3")
    clock.advance(50)
    mine.renew()
    clock.advance(50)
    with pytest.raises(LockHeldError):
        lock(world, clock).acquire("bob", "canary v2")


def test_a_lease_taken_over_is_lost_on_renewal(world: World, clock: FakeClock) -> None:
    mine = lock(world, clock)
    mine.acquire("alice", "shift v3")
    lock(world, clock).acquire("bob", "abort", take_over=True)
    with pytest.raises(LockLostError, match="taken over"):
        mine.renew()


def test_release_never_deletes_someone_elses_lease(world: World, clock: FakeClock) -> None:
    mine = lock(world, clock)
    mine.acquire("alice", "shift v3")
    theirs = lock(world, clock)
    theirs.acquire("bob", "abort", take_over=True)
    mine.release()
    holder = lock(world, clock).holder()
    assert holder is not None and holder.who == "bob"


def test_the_held_context_gives_the_lease_back(world: World, clock: FakeClock) -> None:
    with lock(world, clock).held("alice", "rollback"):
        assert lock(world, clock).holder() is not None
    assert lock(world, clock).holder() is None


def test_scopes_are_independent(world: World, clock: FakeClock) -> None:
    lock(world, clock, scope="alias").acquire("alice", "shift v3")
    lock(world, clock, scope="latest").acquire("bob", "publish m-x")


def test_lease_items_carry_a_ttl_for_cleanup(world: World, clock: FakeClock) -> None:
    lease = lock(world, clock).acquire("alice", "shift v3")
    items = world.dynamodb.scan(TableName=world.table)["Items"]
    (item,) = [i for i in items if i["pk"]["S"].startswith("LOCK#")]
    assert int(item["ttl"]["N"]) > lease.expires_at


class UnreachableOnDelete:
    """The release table, reachable until the lease is given back (AWS went away meanwhile)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def delete_item(self, **_: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://127.0.0.1:1/")


def test_a_lease_that_cannot_be_given_back_never_hides_the_commands_own_error(
    world: World, clock: FakeClock
) -> None:
    mine = lock(world, clock)
    mine.dynamodb = UnreachableOnDelete(world.dynamodb)  # type: ignore[assignment]
    with pytest.raises(RefusedError, match="the command's own error"), mine.held("alice", "shift v3"):
        raise RefusedError("the command's own error")
    other = lock(world, clock, scope="latest")
    other.dynamodb = UnreachableOnDelete(world.dynamodb)  # type: ignore[assignment]
    releasing = pytest.raises(AwsCallError, match="releasing the release lock: Could not connect")
    with releasing, other.held("alice", "publish m-x"):
        pass
