"""Save the local cloud's state when it stops and restore it when it starts again.

moto keeps everything in memory, so without this a second `make local` would forget every model
published, every alias weight and every release record. On stop we write what the stacks' own
resources hold (S3 objects, Lambda versions and aliases, DynamoDB items) under
`.local-cloud/snapshot/`; on start, after provisioning, we put it back. Not saved: SQS messages
in flight (a stopped consumer would redeliver them on AWS; here they are dropped) and metrics.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from localcloud.aws import AwsClients
from localcloud.provision import Deployment

MANIFEST = "snapshot.json"


def _function_names(deployment: Deployment) -> list[str]:
    return [f.physical_id for f in deployment.of_type("AWS::Lambda::Function") if "code_sha256" in f.local]


def save_snapshot(clients: AwsClients, deployment: Deployment, directory: Path) -> dict[str, Any]:
    staging = directory.with_name(directory.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    objects_dir = staging / "s3"
    manifest: dict[str, Any] = {"buckets": {}, "functions": {}, "tables": {}}
    for bucket in deployment.of_type("AWS::S3::Bucket"):
        keys = []
        for page in clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket.physical_id):
            for item in page.get("Contents", []):
                target = objects_dir / bucket.physical_id / item["Key"]
                target.parent.mkdir(parents=True, exist_ok=True)
                clients.s3.download_file(bucket.physical_id, item["Key"], str(target))
                keys.append(item["Key"])
        manifest["buckets"][bucket.physical_id] = keys
    for name in _function_names(deployment):
        versions: list[dict[str, Any]] = []
        for versions_page in clients.lambda_.get_paginator("list_versions_by_function").paginate(
            FunctionName=name
        ):
            for version in versions_page["Versions"]:
                if version["Version"] != "$LATEST":
                    versions.append(
                        {
                            "Version": version["Version"],
                            "Environment": version.get("Environment", {}).get("Variables", {}),
                            "CodeSha256": version["CodeSha256"],
                            "Description": version.get("Description", ""),
                        }
                    )
        aliases = [
            {
                "Name": a["Name"],
                "FunctionVersion": a["FunctionVersion"],
                "RoutingConfig": a.get("RoutingConfig", {}),
            }
            for a in clients.lambda_.list_aliases(FunctionName=name)["Aliases"]
        ]
        latest = clients.lambda_.get_function_configuration(FunctionName=name)
        manifest["functions"][name] = {
            "versions": sorted(versions, key=lambda v: int(v["Version"])),
            "aliases": aliases,
            "latest_environment": latest.get("Environment", {}).get("Variables", {}),
        }
    dynamodb = clients.client("dynamodb")
    for table in deployment.of_type("AWS::DynamoDB::Table"):
        items = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=table.physical_id):
            items.extend(page["Items"])
        manifest["tables"][table.physical_id] = items
    staging.mkdir(parents=True, exist_ok=True)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))
    if directory.exists():
        shutil.rmtree(directory)
    staging.rename(directory)
    return manifest


def restore_snapshot(clients: AwsClients, deployment: Deployment, directory: Path) -> list[str]:
    """Put saved state back into a freshly provisioned local cloud; returns what was restored."""
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        return []
    manifest = json.loads(manifest_path.read_text())
    restored: list[str] = []
    known_buckets = {b.physical_id for b in deployment.of_type("AWS::S3::Bucket")}
    for bucket, keys in manifest.get("buckets", {}).items():
        if bucket not in known_buckets:
            continue
        for key in keys:
            try:
                clients.s3.head_object(Bucket=bucket, Key=key)
                continue
            except ClientError:
                clients.s3.upload_file(str(directory / "s3" / bucket / key), bucket, key)
        if keys:
            restored.append(f"s3://{bucket}: {len(keys)} objects")
    known_functions = set(_function_names(deployment))
    for name, saved in manifest.get("functions", {}).items():
        if name in known_functions:
            restored.extend(_restore_function(clients, name, saved))
    dynamodb = clients.client("dynamodb")
    known_tables = {t.physical_id for t in deployment.of_type("AWS::DynamoDB::Table")}
    for table, items in manifest.get("tables", {}).items():
        if table in known_tables and items:
            for item in items:
                dynamodb.put_item(TableName=table, Item=item)
            restored.append(f"table {table}: {len(items)} items")
    return restored


def _restore_function(clients: AwsClients, name: str, saved: dict[str, Any]) -> list[str]:
    """Re-publish the saved versions in order (their numbers come out the same), then the aliases.

    Only versions whose code is the provisioned code can be rebuilt; a version with other code
    (uploaded outside the stacks) is reported and skipped, and later ones keep their numbers only
    if it was the last."""
    lam = clients.lambda_
    existing = {
        v["Version"]
        for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name)
        for v in page["Versions"]
    }
    current_code = lam.get_function_configuration(FunctionName=name)["CodeSha256"]
    notes = []
    republished = 0
    for version in saved["versions"]:
        if version["Version"] in existing:
            continue
        if version["CodeSha256"] != current_code:
            notes.append(f"{name}:{version['Version']} skipped: its code is not the provisioned code")
            continue
        lam.update_function_configuration(
            FunctionName=name, Environment={"Variables": version["Environment"]}
        )
        number = lam.publish_version(FunctionName=name, Description=version["Description"])["Version"]
        if number != version["Version"]:
            notes.append(f"{name}: version {version['Version']} came back as {number}")
        republished += 1
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": saved["latest_environment"]}
    )
    for alias in saved["aliases"]:
        arguments: dict[str, Any] = {
            "FunctionName": name,
            "Name": alias["Name"],
            "FunctionVersion": alias["FunctionVersion"],
            "RoutingConfig": alias["RoutingConfig"] or {"AdditionalVersionWeights": {}},
        }
        try:
            lam.update_alias(**arguments)
        except ClientError:
            lam.create_alias(**arguments)
    if republished:
        notes.append(f"{name}: {republished} versions, {len(saved['aliases'])} aliases")
    return notes
