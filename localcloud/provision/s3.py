"""S3: buckets with their settings, bucket policies, and BucketDeployment's copy of assets."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from localcloud.provision import Handler, ProvisionedResource, ProvisionError, physical_name

if TYPE_CHECKING:
    from localcloud.provision.provisioner import Provisioner


def _bucket(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props.get("BucketName") or physical_name(p.stack_name, logical_id, max_length=63, lower=True)
    s3 = p.clients.s3
    changed = False
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        s3.create_bucket(Bucket=name)
        changed = True
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if "BucketEncryption" in props:
            encryption: list[Any] = [
                {
                    ("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                    for k, v in rule.items()
                }
                for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={"Rules": encryption},
            )
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if "LifecycleConfiguration" in props:
            lifecycle: list[Any] = [_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": lifecycle})
    region = p.region
    return ProvisionedResource(
        logical_id,
        resource["Type"],
        name,
        attributes={
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
        },
        changed=changed,
    )


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "Status": rule.get("Status", "Enabled"),
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "Id" in rule:
        converted["ID"] = rule["Id"]
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        converted["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    return converted


def _bucket_policy(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    bucket = props["Bucket"]
    policy = dict(props["PolicyDocument"])
    statements = [st for st in policy.get("Statement", []) if not _denies_plain_http_only(st)]
    dropped = len(policy.get("Statement", [])) - len(statements)
    policy["Statement"] = statements
    document = json.dumps(policy, sort_keys=True)
    try:
        current = p.clients.s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError:
        current = None
    changed = current is None or json.loads(current) != json.loads(document)
    if changed:
        p.clients.s3.put_bucket_policy(Bucket=bucket, Policy=document)
    note = f"{dropped} TLS-only deny statement(s) evaluated here: moto ignores conditions" if dropped else ""
    return ProvisionedResource(logical_id, resource["Type"], f"{bucket}-policy", changed=changed, note=note)


def _denies_plain_http_only(statement: dict[str, Any]) -> bool:
    """moto applies Deny statements without their conditions. A deny of `aws:SecureTransport: false`
    never matches our requests (the local AWS endpoint is HTTPS), so it is evaluated here instead."""
    condition = statement.get("Condition", {})
    return statement.get("Effect") == "Deny" and condition == {"Bool": {"aws:SecureTransport": "false"}}


def _bucket_deployment(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    """Copy the deployment's source assets (zips in cdk.out) into the destination bucket."""
    bucket = props["DestinationBucketName"]
    prefix = props.get("DestinationBucketKeyPrefix", "")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    changed = False
    for key in props.get("SourceObjectKeys", []):
        source = p.cdk_out / f"asset.{key.removesuffix('.zip')}"
        files = _asset_files(source, p.cdk_out / key)
        for relative, data in files.items():
            object_key = prefix + relative
            try:
                head = p.clients.s3.head_object(Bucket=bucket, Key=object_key)
                if head.get("ContentLength") == len(data):
                    continue
            except ClientError:
                pass
            p.clients.s3.put_object(Bucket=bucket, Key=object_key, Body=data)
            changed = True
    return ProvisionedResource(logical_id, resource["Type"], f"{bucket}/{prefix}", changed=changed)


def _asset_files(directory: Path, archive: Path) -> dict[str, bytes]:
    if directory.is_dir():
        return {
            f.relative_to(directory).as_posix(): f.read_bytes()
            for f in sorted(directory.rglob("*"))
            if f.is_file()
        }
    if archive.is_file():
        with zipfile.ZipFile(archive) as zipped:
            return {name: zipped.read(name) for name in zipped.namelist() if not name.endswith("/")}
    raise ProvisionError(f"asset {directory.name} is not in cdk.out: run `make synth` again")


HANDLERS: dict[str, Handler] = {
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "Custom::CDKBucketDeployment": _bucket_deployment,
}
