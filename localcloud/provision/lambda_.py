"""Lambda: functions (our code, zipped as moto stores it), versions, aliases, and the resources
the local runtime only records (permissions, URLs, layers, event source mappings)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from infra.bundling import DIGEST_FILE
from localcloud.functions import SNAP_START_TAG
from localcloud.image_functions import build_image_code, image_asset
from localcloud.provision import ACCOUNT, Handler, ProvisionedResource, physical_name, recorded

if TYPE_CHECKING:
    from localcloud.provision.provisioner import Provisioner

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"


def function_source(handler: str) -> str | None:
    """`inference.handler.handler` -> `inference` when functions/inference/ is ours."""
    package = handler.split(".", 1)[0]
    return package if (FUNCTIONS_DIR / package / "handler.py").is_file() else None


def _function(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props.get("FunctionName") or physical_name(p.stack_name, logical_id)
    arn = f"arn:aws:lambda:{p.region}:{ACCOUNT}:function:{name}"
    handler = str(props.get("Handler", ""))
    runtime = props.get("Runtime", "python3.13")
    if props.get("PackageType") == "Image":
        # A container image: laid out from its staged build context, run as a zip function of that
        # code on this machine's interpreter (localcloud/image_functions.py; docs/local-cloud.md).
        image = image_asset(p.cdk_out, p.stack_name, str(props.get("Code", {}).get("ImageUri", "")))
        handler = str((props.get("ImageConfig") or {}).get("Command", [""])[0])
        runtime = f"python{image.build_args.get('PYTHON_VERSION', '3.13')}"
        source = f"image:{image.directory.name}"
        code_dir = build_image_code(image.directory, image.dockerfile, p.state_dir / "images")
    else:
        source = function_source(handler)  # type: ignore[assignment]
        if source is None:
            return ProvisionedResource(
                logical_id,
                resource["Type"],
                name,
                attributes={"Arn": arn},
                note="not our code (a CDK helper function): not run locally",
            )
        code_dir = p.code_builder(source)
    zipped = _zip_dir(code_dir, p.state_dir / "zips")
    code_sha = _sha256_b64(zipped)
    lam = p.clients.lambda_
    environment = {
        "Variables": {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
    }
    configuration: dict[str, Any] = {
        "Role": props["Role"],
        "Handler": handler,
        "Runtime": runtime,
        "Timeout": int(props.get("Timeout", 3)),
        "MemorySize": int(props.get("MemorySize", 128)),
        "Environment": environment,
        "Description": props.get("Description", ""),
    }
    snap_start = (props.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions"
    changed = False
    try:
        current = lam.get_function_configuration(FunctionName=name)
    except ClientError:
        lam.create_function(
            FunctionName=name,
            Code={"ZipFile": zipped.read_bytes()},
            Publish=False,
            Architectures=props.get("Architectures", ["x86_64"]),
            Tags={SNAP_START_TAG: "PublishedVersions"} if snap_start else {},
            **configuration,
        )
        changed = True
    else:
        if current.get("CodeSha256") != code_sha:
            lam.update_function_code(FunctionName=name, ZipFile=zipped.read_bytes())
            changed = True
        wanted = {k: v for k, v in configuration.items() if k != "Role"}
        have = {k: current.get(k) for k in wanted}
        have["Environment"] = {"Variables": current.get("Environment", {}).get("Variables", {})}
        if have != wanted:
            lam.update_function_configuration(FunctionName=name, **configuration)
            changed = True
        if snap_start != (lam.list_tags(Resource=arn).get("Tags", {}).get(SNAP_START_TAG) is not None):
            if snap_start:
                lam.tag_resource(Resource=arn, Tags={SNAP_START_TAG: "PublishedVersions"})
            else:
                lam.untag_resource(Resource=arn, TagKeys=[SNAP_START_TAG])
            changed = True
    return ProvisionedResource(
        logical_id,
        resource["Type"],
        name,
        attributes={"Arn": arn},
        local={
            "source": source,
            "code_dir": str(code_dir),
            "code_sha256": code_sha,
            # Read by the log subscriptions (localcloud/subscriptions/config.py).
            "log_group": (props.get("LoggingConfig") or {}).get("LogGroup"),
            "dead_letter_arn": (props.get("DeadLetterConfig") or {}).get("TargetArn"),
        },
        changed=changed,
    )


def _zip_dir(directory: Path, zips: Path) -> Path:
    """Zip a bundle once per content; the zip is what moto stores as the function's code.

    A finished bundle (its digest written) is never changed in place, so its zip is kept inside it
    and shared by every local cloud that uses the bundle; any other folder's zip goes to `zips`."""
    marker = directory / DIGEST_FILE
    if marker.is_file():
        target = directory / BUNDLE_ZIP
    else:
        digest = hashlib.sha256(str(directory).encode()).hexdigest()
        zips.mkdir(parents=True, exist_ok=True)
        target = zips / f"{directory.name}-{digest[:16]}.zip"
    if target.is_file():
        return target
    handle, staging_name = tempfile.mkstemp(prefix=".zip-", suffix=".part", dir=target.parent)
    staging = Path(staging_name)
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(directory.rglob("*")):
                if path.is_file() and not _zip_leaves_out(path.name):
                    info = zipfile.ZipInfo(
                        path.relative_to(directory).as_posix(), date_time=(1980, 1, 1, 0, 0, 0)
                    )
                    info.external_attr = (path.stat().st_mode & 0o777) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, path.read_bytes(), compresslevel=1)
        staging.replace(target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return target


BUNDLE_ZIP = ".bundle.zip"


def _zip_leaves_out(name: str) -> bool:
    """The bundle's digest, its zip and a zip being written are not the function's code."""
    return name in (DIGEST_FILE, BUNDLE_ZIP) or (name.startswith(".zip-") and name.endswith(".part"))


def _sha256_b64(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def _version(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    """Publish $LATEST as a version, unless a version with the same code and configuration exists
    (Lambda itself returns the existing version in that case)."""
    function = props["FunctionName"].split(":")[-1]
    lam = p.clients.lambda_
    latest = lam.get_function_configuration(FunctionName=function)
    fingerprint = (
        latest.get("CodeSha256"),
        json.dumps(latest.get("Environment", {}), sort_keys=True),
        latest.get("Handler"),
        latest.get("Timeout"),
        latest.get("MemorySize"),
    )
    changed = False
    version = None
    paginator = lam.get_paginator("list_versions_by_function")
    for page in paginator.paginate(FunctionName=function):
        for candidate in page["Versions"]:
            if candidate["Version"] == "$LATEST":
                continue
            candidate_fingerprint = (
                candidate.get("CodeSha256"),
                json.dumps(candidate.get("Environment", {}), sort_keys=True),
                candidate.get("Handler"),
                candidate.get("Timeout"),
                candidate.get("MemorySize"),
            )
            if candidate_fingerprint == fingerprint:
                version = candidate["Version"]
    if version is None:
        version = lam.publish_version(FunctionName=function, Description=props.get("Description", ""))[
            "Version"
        ]
        changed = True
    arn = f"arn:aws:lambda:{p.region}:{ACCOUNT}:function:{function}:{version}"
    return ProvisionedResource(
        logical_id,
        resource["Type"],
        arn,
        attributes={"Version": version, "FunctionArn": arn},
        changed=changed,
    )


def _alias(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    """Create the alias if it is missing. An existing alias is left as it is: once created, its
    weights belong to `modelctl` (see docs/infra.md), exactly as the deployed stack leaves them."""
    function = props["FunctionName"].split(":")[-1]
    name = props["Name"]
    lam = p.clients.lambda_
    changed = False
    try:
        alias = lam.get_alias(FunctionName=function, Name=name)
    except ClientError:
        arguments: dict[str, Any] = {
            "FunctionName": function,
            "Name": name,
            "FunctionVersion": props["FunctionVersion"],
        }
        if props.get("RoutingConfig"):
            arguments["RoutingConfig"] = props["RoutingConfig"]
        alias = lam.create_alias(**arguments)
        changed = True
    return ProvisionedResource(
        logical_id,
        resource["Type"],
        alias["AliasArn"],
        attributes={"AliasArn": alias["AliasArn"]},
        local={"function": function, "alias": name},
        changed=changed,
    )


def _lambda_recorded(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    return recorded(p, logical_id, resource, local=props)


def _function_url(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    """Recorded: the local gateway serves the URL (serving.api_type=function_url)."""
    return recorded(
        p,
        logical_id,
        resource,
        attributes={"FunctionUrl": "http://127.0.0.1/", "FunctionArn": props.get("TargetFunctionArn", "")},
        local=props,
    )


def _layer(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    arn = f"arn:aws:lambda:{p.region}:{ACCOUNT}:layer:{physical_name(p.stack_name, logical_id)}:1"
    return ProvisionedResource(logical_id, resource["Type"], arn, note="layers are not run locally")


def _event_source_mapping(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    """Recorded, not created in moto: moto would try to run the function in Docker on every
    message. The local cloud's own poller delivers the batches (settings in `local`)."""
    physical_id = hashlib.sha1(f"{p.stack_name}/{logical_id}".encode()).hexdigest()[:36]
    return ProvisionedResource(logical_id, resource["Type"], physical_id, local=props)


HANDLERS: dict[str, Handler] = {
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::Version": _version,
    "AWS::Lambda::Alias": _alias,
    "AWS::Lambda::Permission": _lambda_recorded,
    "AWS::Lambda::EventInvokeConfig": _lambda_recorded,
    "AWS::Lambda::Url": _function_url,
    "AWS::Lambda::LayerVersion": _layer,
    "AWS::Lambda::EventSourceMapping": _event_source_mapping,
}
