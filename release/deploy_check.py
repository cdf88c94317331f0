"""`modelctl deploy-check`: will this `cdk deploy` touch the alias that releases own?

The serving stack's template names the alias's version through a resource whose properties never
change (docs/releases.md), so CloudFormation normally never updates the alias. It does when an
alias property changes (e.g. provisioned concurrency, or `serving.live_version`); such an update
sets the template's version and drops the weights. This check compares the synthesized template
with the deployed one and refuses a deploy that would move traffic: one that would reset weights
(a release in progress) or point the alias at another version than the live primary.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.alias import Routing
from release.errors import RefusedError
from release.store import AliasRecord

ALIAS_TYPE = "AWS::Lambda::Alias"


@dataclass(frozen=True)
class DeployVerdict:
    touches_alias: bool
    message: str


def load_template(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise RefusedError(f"{path} does not exist: run `make synth` (or `cdk synth`) first") from exc
    except json.JSONDecodeError as exc:
        raise RefusedError(f"{path} is not a JSON template: {exc}") from exc


def _aliases(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: dict(resource.get("Properties") or {})
        for logical_id, resource in (template.get("Resources") or {}).items()
        if resource.get("Type") == ALIAS_TYPE
    }


def check_deploy(
    *,
    synthesized: Mapping[str, Any],
    deployed: Mapping[str, Any] | None,
    physical_id: Callable[[str], str | None],
    routing: Routing | None,
    record: AliasRecord | None,
) -> DeployVerdict:
    if deployed is None:
        return DeployVerdict(False, "the stack is not deployed yet: the deploy creates the alias")
    new_aliases, old_aliases = _aliases(synthesized), _aliases(deployed)
    changed = {
        logical_id: props
        for logical_id, props in new_aliases.items()
        if logical_id in old_aliases and old_aliases[logical_id] != props
    }
    replaced = sorted(set(old_aliases) ^ set(new_aliases))
    if replaced:
        raise RefusedError(
            f"the deploy replaces the alias resource ({', '.join(replaced)}): CloudFormation would "
            "delete and recreate `live` and lose its routing; keep the alias's construct id"
        )
    if not changed:
        return DeployVerdict(
            False, "the deploy leaves the alias alone: its template properties are unchanged"
        )
    logical_id, props = next(iter(changed.items()))
    keys = sorted(
        k for k in set(props) | set(old_aliases[logical_id]) if props.get(k) != old_aliases[logical_id].get(k)
    )
    version = _template_version(props.get("FunctionVersion"), synthesized, deployed, physical_id)
    if routing is None:
        return DeployVerdict(True, f"the alias does not exist yet; the deploy sets it ({', '.join(keys)})")
    if record is not None and record.release is not None:
        release = record.release
        raise RefusedError(
            f"the deploy would update the alias ({', '.join(keys)}) while a {release.kind} of "
            f"v{release.candidate} is in progress, resetting its weights: finish it "
            "(`modelctl promote` or `rollback`) first"
        )
    if routing.extra is not None:
        raise RefusedError(
            f"the deploy would update the alias ({', '.join(keys)}) and drop the "
            f"{routing.extra_percent:g}% sent to v{routing.extra}: promote or roll back first"
        )
    if version != routing.primary:
        shown = f"v{version}" if version else "a version this deploy publishes"
        raise RefusedError(
            f"the deploy would update the alias ({', '.join(keys)}) and point it at {shown}, but "
            f"v{routing.primary} is live: deploy with `-c serving.live_version={routing.primary}` "
            "(or set it in cdk.json)"
        )
    return DeployVerdict(
        True, f"the deploy updates the alias ({', '.join(keys)}) and keeps v{routing.primary} live"
    )


def _template_version(
    value: Any,
    synthesized: Mapping[str, Any],
    deployed: Mapping[str, Any],
    physical_id: Callable[[str], str | None],
) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        old = (deployed.get("Resources") or {}).get(logical_id)
        new = (synthesized.get("Resources") or {}).get(logical_id)
        if (
            attribute == "Version"
            and old is not None
            and new is not None
            and old.get("Properties") == new.get("Properties")
        ):
            arn = physical_id(logical_id)
            return arn.rsplit(":", 1)[-1] if arn else None
    return None
