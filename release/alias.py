"""The `live` alias: read its routing, change it safely (RevisionId), and describe versions.

Routing is what the alias sends where: a primary version, plus at most one extra version with a
share of the traffic. Weights are percentages here and fractions in Lambda's API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from release.aws import aws_errors, error_code, error_message
from release.errors import AwsCallError, ConcurrentUpdateError, RefusedError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

WEIGHT_DECIMALS = 4  # fractions with 4 decimals: 0.01% steps


@dataclass(frozen=True)
class Routing:
    primary: str
    extra: str | None = None
    extra_percent: float = 0.0

    def __post_init__(self) -> None:
        if self.extra is None and self.extra_percent:
            raise ValueError("a weight needs an extra version")

    @property
    def primary_percent(self) -> float:
        return 100.0 - self.extra_percent

    def percent_of(self, version: str) -> float:
        if version == self.extra:
            return self.extra_percent
        return self.primary_percent if version == self.primary else 0.0

    def describe(self) -> str:
        if self.extra is None:
            return f"v{self.primary} 100%"
        return f"v{self.primary} {self.primary_percent:g}% + v{self.extra} {self.extra_percent:g}%"

    def to_item(self) -> dict[str, Any]:
        return {"primary": self.primary, "extra": self.extra or "", "extra_percent": str(self.extra_percent)}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Routing:
        extra = str(item.get("extra") or "") or None
        return cls(str(item["primary"]), extra, float(item.get("extra_percent") or 0) if extra else 0.0)

    def same_as(self, other: Routing) -> bool:
        return (
            self.primary == other.primary
            and self.extra == other.extra
            and abs(self.extra_percent - other.extra_percent) < 10 ** -(WEIGHT_DECIMALS - 2)
        )


@dataclass(frozen=True)
class AliasState:
    function: str
    alias: str
    routing: Routing
    revision_id: str
    arn: str = ""


def _routing_from(response: Any) -> Routing:
    weights = dict((response.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
    primary = str(response["FunctionVersion"])
    if not weights:
        return Routing(primary)
    if len(weights) > 1:  # Lambda allows one extra version; anything else is not ours to interpret
        raise RefusedError(
            f"the alias routes to several extra versions {sorted(weights)}: fix it by hand first"
        )
    (extra, fraction), *_ = weights.items()
    return Routing(primary, str(extra), round(float(fraction) * 100.0, WEIGHT_DECIMALS - 2))


class AliasManager:
    """Reads and updates one alias; every update carries the RevisionId it was decided on."""

    def __init__(self, lambda_client: LambdaClient, function: str, alias: str) -> None:
        self.lambda_ = lambda_client
        self.function = function
        self.alias = alias

    def read(self) -> AliasState:
        try:
            response = self.lambda_.get_alias(FunctionName=self.function, Name=self.alias)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise RefusedError(
                    f"alias {self.alias} of function {self.function} does not exist: deploy the stack"
                ) from exc
            raise AwsCallError(
                f"reading alias {self.function}:{self.alias}: {error_code(exc)}: {error_message(exc)}"
            ) from exc
        return self._state(response)

    def _state(self, response: Any) -> AliasState:
        return AliasState(
            function=self.function,
            alias=self.alias,
            routing=_routing_from(response),
            revision_id=str(response.get("RevisionId") or ""),
            arn=str(response.get("AliasArn") or ""),
        )

    def update(self, expected: AliasState, to: Routing) -> AliasState:
        """Move the alias from `expected` to `to`, or raise ConcurrentUpdateError if it changed meanwhile.

        Two guards: the routing read back now must still be `expected` (catches any writer, also
        where RevisionId is not enforced), and UpdateAlias carries `expected.revision_id`, so Lambda
        refuses the write if anyone updated the alias after we read it (PreconditionFailed).
        """
        current = self.read()
        if not current.routing.same_as(expected.routing) or (
            expected.revision_id and current.revision_id != expected.revision_id
        ):
            raise ConcurrentUpdateError(
                f"the alias {self.function}:{self.alias} changed while this command ran: expected "
                f"{expected.routing.describe()}, found {current.routing.describe()}; someone else "
                "(another operator or a deploy) updated it. Nothing was changed: check `modelctl status`"
            )
        return self.write(expected, to)

    def write(self, expected: AliasState, to: Routing) -> AliasState:
        """The UpdateAlias alone, carrying `expected.revision_id`: for a caller that read `expected`
        while holding the release lock, right before (`update` reads the alias again first)."""
        weights = {to.extra: round(to.extra_percent / 100.0, WEIGHT_DECIMALS)} if to.extra else {}
        arguments: dict[str, Any] = {
            "FunctionName": self.function,
            "Name": self.alias,
            "FunctionVersion": to.primary,
            "RoutingConfig": {"AdditionalVersionWeights": weights},
        }
        if expected.revision_id:
            arguments["RevisionId"] = expected.revision_id
        try:
            response = self.lambda_.update_alias(**arguments)
        except ClientError as exc:
            if error_code(exc) == "PreconditionFailedException":
                raise ConcurrentUpdateError(
                    f"the alias {self.function}:{self.alias} was updated by someone else after this "
                    f"command read it (RevisionId {expected.revision_id} is stale); nothing was changed: "
                    "check `modelctl status` and try again"
                ) from exc
            raise AwsCallError(
                f"updating alias {self.function}:{self.alias} to {to.describe()}: "
                f"{error_code(exc)}: {error_message(exc)}"
            ) from exc
        return self._state(response)


@dataclass(frozen=True)
class VersionInfo:
    version: str
    role: str
    state: str
    environment: dict[str, str]
    dead_letter_target: str
    description: str
    code_sha256: str

    @property
    def model_uri(self) -> str | None:
        return self.environment.get("MODEL_URI")

    @property
    def model_version(self) -> str:
        uri = (self.model_uri or "").rstrip("/")
        return uri.rsplit("/", 1)[-1] if uri else "?"


class VersionCatalog:
    def __init__(self, lambda_client: LambdaClient, function: str) -> None:
        self.lambda_ = lambda_client
        self.function = function
        self._cache: dict[str, VersionInfo] = {}

    def describe(self, version: str) -> VersionInfo:
        cached = self._cache.get(version)
        if cached is not None:
            return cached
        try:
            response = self.lambda_.get_function_configuration(FunctionName=self.function, Qualifier=version)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise RefusedError(f"version {version} of {self.function} does not exist") from exc
            raise AwsCallError(
                f"reading version {version} of {self.function}: {error_code(exc)}: {error_message(exc)}"
            ) from exc
        info = VersionInfo(
            version=str(response.get("Version", version)),
            role=str(response.get("Role", "")),
            state=str(response.get("State") or "Active"),
            environment=dict((response.get("Environment") or {}).get("Variables") or {}),
            dead_letter_target=str((response.get("DeadLetterConfig") or {}).get("TargetArn") or ""),
            description=str(response.get("Description") or ""),
            code_sha256=str(response.get("CodeSha256") or ""),
        )
        if version != "$LATEST":  # published versions are immutable
            self._cache[version] = info
        return info

    def latest_version_number(self) -> str | None:
        numbers: list[int] = []
        with aws_errors(f"listing versions of {self.function}"):
            for page in self.lambda_.get_paginator("list_versions_by_function").paginate(
                FunctionName=self.function
            ):
                numbers.extend(int(v["Version"]) for v in page["Versions"] if v["Version"].isdigit())
        return str(max(numbers)) if numbers else None


def check_version_syntax(version: str) -> None:
    if version == "$LATEST":
        raise RefusedError(
            "$LATEST cannot take alias traffic: it changes with every update. "
            "Publish a version with `modelctl publish` and release that"
        )
    if not version.isdigit() or int(version) < 1:
        raise RefusedError(f"{version!r} is not a published version number (e.g. 7)")


def check_candidate(version: str, routing: Routing, catalog: VersionCatalog) -> VersionInfo:
    """Everything that makes `version` unfit to take traffic next to the primary, as a refusal."""
    check_version_syntax(version)
    if version == routing.primary:
        raise RefusedError(f"version {version} is already the primary of the alias ({routing.describe()})")
    candidate = catalog.describe(version)
    if candidate.state != "Active":
        raise RefusedError(f"version {version} is {candidate.state}, not Active: wait or publish it again")
    primary = catalog.describe(routing.primary)
    if candidate.role != primary.role:
        raise RefusedError(
            f"version {version} runs as {candidate.role} but the primary v{routing.primary} as "
            f"{primary.role}: Lambda cannot weight versions with different execution roles; "
            "publish the new model from the current function configuration"
        )
    if candidate.dead_letter_target != primary.dead_letter_target:
        raise RefusedError(
            f"version {version} and the primary v{routing.primary} have different dead-letter "
            "configurations: Lambda cannot weight them on one alias"
        )
    return candidate


def check_canary_weight(percent: float) -> None:
    if not 0.0 < percent < 100.0:
        raise RefusedError(
            f"weight {percent:g}% is outside (0, 100): a canary takes part of the traffic; "
            "use `modelctl bluegreen` to move all of it"
        )
    if round(percent, WEIGHT_DECIMALS - 2) != percent:
        raise RefusedError(f"weight {percent}% has more than {WEIGHT_DECIMALS - 2} decimals")
