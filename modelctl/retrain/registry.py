"""The model registry as `modelctl models` shows it: every `models/<version>/` of the model store,
its metrics and lineage, the Lambda versions whose MODEL_URI pins it, and whether it serves live."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from common.layout import MODELS_PREFIX, metadata_key
from release.alias import AliasManager
from release.aws import aws_errors


@dataclass
class RegistryEntry:
    version: str
    created_at: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    parent: str = ""
    data_fingerprint: str = ""
    source: str = ""
    execution: str = ""
    function_versions: list[str] = field(default_factory=list)
    live: str = ""  # "primary", "N% (canary)", or ""
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def list_registry(
    s3: Any, lambda_client: Any, *, bucket: str, function: str, alias: str
) -> list[RegistryEntry]:
    entries: dict[str, RegistryEntry] = {}
    with aws_errors(f"listing s3://{bucket}/{MODELS_PREFIX}"):
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=MODELS_PREFIX, Delimiter="/"
        ):
            for prefix in page.get("CommonPrefixes", []):
                version = str(prefix["Prefix"])[len(MODELS_PREFIX) :].rstrip("/")
                entries[version] = _entry(s3, bucket, version)
    pins = _pins(lambda_client, function, bucket)
    for function_version, model_version in pins.items():
        entry = entries.setdefault(model_version, RegistryEntry(model_version, problem="not in the store"))
        entry.function_versions.append(function_version)
    routing = AliasManager(lambda_client, function, alias).read().routing
    for entry in entries.values():
        entry.function_versions.sort(key=int)
        if routing.primary in entry.function_versions:
            entry.live = f"primary ({routing.primary_percent:g}%)" if routing.extra else "primary"
        elif routing.extra in entry.function_versions:
            entry.live = f"{routing.extra_percent:g}% (v{routing.extra})"
    return sorted(entries.values(), key=lambda e: (e.created_at, e.version), reverse=True)


def _entry(s3: Any, bucket: str, version: str) -> RegistryEntry:
    key = metadata_key(version)
    try:
        with aws_errors(f"reading s3://{bucket}/{key}"):
            document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as exc:  # an incomplete or foreign folder is listed, with what is wrong
        return RegistryEntry(version, problem=str(exc)[:200])
    lineage = document.get("lineage") or {}
    training = document.get("training_data") or {}
    return RegistryEntry(
        version=version,
        created_at=str(document.get("created_at", "")),
        metrics={k: float(v) for k, v in (document.get("metrics") or {}).items()},
        parent=str(lineage.get("parent_model_version") or document.get("parent_version") or ""),
        data_fingerprint=str(lineage.get("data_fingerprint") or training.get("fingerprint") or ""),
        source="retraining" if lineage else str(training.get("source", "")),
        execution=str(lineage.get("execution", "")),
    )


def _pins(lambda_client: Any, function: str, bucket: str) -> dict[str, str]:
    """Published version -> the model version its MODEL_URI names (only models in this store)."""
    prefix = f"s3://{bucket}/{MODELS_PREFIX}"
    pins: dict[str, str] = {}
    with aws_errors(f"listing versions of {function}"):
        for page in lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=function):
            for version in page["Versions"]:
                number = str(version["Version"])
                uri = str(((version.get("Environment") or {}).get("Variables") or {}).get("MODEL_URI", ""))
                if number.isdigit() and uri.startswith(prefix):
                    pins[number] = uri[len(prefix) :].rstrip("/")
    return pins
