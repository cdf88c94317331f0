"""The alias: routing read and written safely, and the versions Lambda cannot weight refused."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from release.alias import AliasManager, Routing, VersionCatalog, check_candidate
from release.errors import ConcurrentUpdateError, RefusedError
from tests.unit.modelctl.world import REGION, World


def manager(world: World, client: Any = None) -> AliasManager:
    return AliasManager(client or world.lambda_, world.function, world.alias)


def test_reads_primary_and_weighted_extra_in_percent(world: World) -> None:
    world.set_routing("1", {"2": 0.25})
    state = manager(world).read()
    assert state.routing == Routing("1", "2", 25.0)
    assert state.routing.describe() == "v1 75% + v2 25%"


def test_update_writes_fractions_and_can_clear_the_weights(world: World) -> None:
    aliases = manager(world)
    state = aliases.update(aliases.read(), Routing("1", "2", 12.5))
    assert world.alias_routing() == ("1", {"2": 0.125})
    aliases.update(state, Routing("2"))
    assert world.alias_routing() == ("2", {})


def test_a_change_by_someone_else_since_our_read_is_refused_and_nothing_is_written(world: World) -> None:
    aliases = manager(world)
    seen = aliases.read()
    world.set_routing("1", {"3": 0.5})  # another operator
    with pytest.raises(ConcurrentUpdateError, match="expected v1 100%, found v1 50% \\+ v3 50%"):
        aliases.update(seen, Routing("1", "2", 10))
    assert world.alias_routing() == ("1", {"3": 0.5})


class StaleRevisionLambda:
    """Lambda as on AWS when another writer updated the alias between our read and UpdateAlias:
    moto neither changes nor checks RevisionId, so the conflict is reproduced here."""

    def __init__(self) -> None:
        self.real = boto3.client("lambda", region_name=REGION)
        self.revisions: list[str | None] = []

    def get_alias(self, **kwargs: Any) -> Any:
        return self.real.get_alias(**kwargs)

    def update_alias(self, **kwargs: Any) -> Any:
        self.revisions.append(kwargs.get("RevisionId"))
        raise ClientError(
            {
                "Error": {
                    "Code": "PreconditionFailedException",
                    "Message": "The Revision Id provided does not match",
                }
            },
            "UpdateAlias",
        )


def test_update_carries_the_revision_id_and_a_stale_one_is_a_clear_conflict(world: World) -> None:
    client = StaleRevisionLambda()
    aliases = manager(world, client)
    state = aliases.read()
    with pytest.raises(ConcurrentUpdateError, match=r"RevisionId .* is stale"):
        aliases.update(state, Routing("1", "2", 10))
    assert client.revisions == [state.revision_id] and state.revision_id


def test_an_alias_that_does_not_exist_is_refused(world: World) -> None:
    with pytest.raises(RefusedError, match="alias nope of function"):
        AliasManager(world.lambda_, world.function, "nope").read()


def catalog(world: World) -> VersionCatalog:
    return VersionCatalog(world.lambda_, world.function)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("$LATEST", r"\$LATEST cannot take alias traffic"),
        ("latest", "not a published version number"),
        ("0", "not a published version number"),
        ("1", "already the primary"),
        ("42", "version 42 of inference does not exist"),
    ],
)
def test_unfit_candidates_are_refused(world: World, version: str, message: str) -> None:
    with pytest.raises(RefusedError, match=message):
        check_candidate(version, Routing("1"), catalog(world))


def test_a_version_with_another_execution_role_is_refused(world: World) -> None:
    other = boto3.client("iam", region_name=REGION).create_role(
        RoleName="other", AssumeRolePolicyDocument="{}"
    )
    world.lambda_.update_function_configuration(FunctionName=world.function, Role=other["Role"]["Arn"])
    version = world.publish_model_version("m-other-role")
    with pytest.raises(RefusedError, match="different execution roles"):
        check_candidate(version, Routing("1"), catalog(world))


def test_a_fit_candidate_is_described_with_its_model(world: World) -> None:
    info = check_candidate("2", Routing("1"), catalog(world))
    assert (info.version, info.model_version, info.state) == ("2", "m-two", "Active")
