"""Provision the synthesized stacks into moto: the same resources, names and settings as on AWS.

Each CloudFormation type we deploy has a small handler that creates the resource through boto3 (so
against moto it is moto's own API doing the work) or, for what moto cannot run (API Gateway's
proxy integration, BucketDeployment's custom resource), records what the local runtime needs.
Every handler first looks for what exists, so provisioning twice changes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from localcloud.aws import AwsClients
from localcloud.image_functions import build_image_code, image_asset
from localcloud.template import Resolver, StackTemplate, deployment_order, load_assembly

ACCOUNT = "123456789012"
FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"


@dataclass
class ProvisionedResource:
    logical_id: str
    type: str
    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    local: dict[str, Any] = field(default_factory=dict)  # what the local runtime needs (routes, code dir)
    changed: bool = False
    note: str = ""


@dataclass
class ProvisionedStack:
    name: str
    resources: dict[str, ProvisionedResource]
    outputs: dict[str, Any]
    exports: dict[str, Any]

    def of_type(self, resource_type: str) -> list[ProvisionedResource]:
        return [r for r in self.resources.values() if r.type == resource_type]


@dataclass
class Deployment:
    stacks: list[ProvisionedStack]

    @property
    def changes(self) -> int:
        return sum(r.changed for s in self.stacks for r in s.resources.values())

    def of_type(self, resource_type: str) -> list[ProvisionedResource]:
        return [r for s in self.stacks for r in s.of_type(resource_type)]

    def output(self, key_fragment: str) -> Any:
        for stack in self.stacks:
            for key, value in stack.outputs.items():
                if key_fragment.lower() in key.lower():
                    return value
        raise KeyError(f"no stack output matches {key_fragment!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "stacks": [
                {
                    "name": s.name,
                    "outputs": s.outputs,
                    "resources": {
                        r.logical_id: {
                            "type": r.type,
                            "physical_id": r.physical_id,
                            "attributes": r.attributes,
                            "local": r.local,
                            "note": r.note,
                        }
                        for r in s.resources.values()
                    },
                }
                for s in self.stacks
            ]
        }


class ProvisionError(RuntimeError):
    pass


def physical_name(stack: str, logical_id: str, *, max_length: int = 64, lower: bool = False) -> str:
    """CloudFormation-style generated name, but deterministic so re-provisioning finds it again."""
    suffix = hashlib.sha1(f"{stack}/{logical_id}".encode()).hexdigest()[:12].upper()
    head = f"{stack}-{logical_id}"[: max_length - len(suffix) - 1]
    name = f"{head}-{suffix}"
    return name.lower() if lower else name


Handler = Callable[["Provisioner", str, dict[str, Any], dict[str, Any]], ProvisionedResource]
HANDLERS: dict[str, Handler] = {}


def handles(*types: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        for resource_type in types:
            HANDLERS[resource_type] = function
        return function

    return register


class Provisioner:
    def __init__(
        self,
        clients: AwsClients,
        *,
        cdk_out: Path,
        state_dir: Path,
        code_builder: Callable[[str], Path],
    ) -> None:
        self.clients = clients
        self.cdk_out = cdk_out
        self.state_dir = state_dir
        self.code_builder = code_builder
        self.region = clients.region
        self.stack: StackTemplate | None = None
        self.resolver: Resolver | None = None

    @property
    def stack_name(self) -> str:
        assert self.stack is not None
        return self.stack.name

    def provision(self) -> Deployment:
        exports: dict[str, Any] = {}
        stacks = []
        for template in load_assembly(self.cdk_out):
            stacks.append(self._provision_stack(template, exports))
            exports.update(stacks[-1].exports)
        deployment = Deployment(stacks)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "deployment.json").write_text(
            json.dumps(deployment.to_json(), indent=2, default=str)
        )
        return deployment

    def _provision_stack(self, template: StackTemplate, exports: dict[str, Any]) -> ProvisionedStack:
        self.stack = template
        resolver = Resolver(
            region=self.region, account=ACCOUNT, stack_name=template.name, exports=dict(exports)
        )
        for name, parameter in template.body.get("Parameters", {}).items():
            resolver.parameters[name] = parameter.get("Default")
        resolver.evaluate_conditions(template)
        self.resolver = resolver
        provisioned: dict[str, ProvisionedResource] = {}
        for logical_id in deployment_order(template):
            resource = template.resources[logical_id]
            condition = resource.get("Condition")
            if condition and not resolver.conditions.get(condition, False):
                continue
            resource_type = resource["Type"]
            handler = HANDLERS.get(resource_type) or HANDLERS.get(resource_type.rsplit("::", 1)[0] + "::*")
            if handler is None:
                handler = HANDLERS["Custom::*"] if resource_type.startswith("Custom::") else _unsupported
            properties = resolver.resolve(resource.get("Properties", {}))
            result = handler(self, logical_id, properties, resource)
            result.type = resource_type
            provisioned[logical_id] = result
            resolver.physical_ids[logical_id] = result.physical_id
            resolver.attributes[logical_id] = result.attributes
        outputs: dict[str, Any] = {}
        new_exports: dict[str, Any] = {}
        for key, output in template.outputs.items():
            value = resolver.resolve(output["Value"])
            outputs[key] = value
            if "Export" in output:
                new_exports[resolver.resolve(output["Export"]["Name"])] = value
        return ProvisionedStack(template.name, provisioned, outputs, new_exports)

    def asset_dir(self, resource: dict[str, Any]) -> Path | None:
        asset_path = resource.get("Metadata", {}).get("aws:asset:path")
        return self.cdk_out / asset_path if asset_path else None


def _unsupported(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    return ProvisionedResource(
        logical_id, resource["Type"], physical_name(p.stack_name, logical_id), note="not provisioned locally"
    )


@handles("AWS::CDK::Metadata")
def _cdk_metadata(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    return ProvisionedResource(logical_id, resource["Type"], logical_id, note="CDK metadata")


# --- S3 ---------------------------------------------------------------------------------------


@handles("AWS::S3::Bucket")
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


@handles("AWS::S3::BucketPolicy")
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


@handles("Custom::CDKBucketDeployment")
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


# --- IAM, logs, alarms --------------------------------------------------------------------------


@handles("AWS::IAM::Role")
def _role(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props.get("RoleName") or physical_name(p.stack_name, logical_id)
    iam = p.clients.iam
    changed = False
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except ClientError:
        arn = iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(props.get("AssumeRolePolicyDocument", {}))
        )["Role"]["Arn"]
        for policy_arn in props.get("ManagedPolicyArns", []):
            # moto knows only some AWS managed policies; the role itself is what Lambda needs.
            with contextlib.suppress(ClientError):
                iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        changed = True
    return ProvisionedResource(logical_id, resource["Type"], name, attributes={"Arn": arn}, changed=changed)


@handles("AWS::IAM::Policy")
def _policy(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props["PolicyName"]
    document = json.dumps(props["PolicyDocument"])
    changed = False
    for role in props.get("Roles", []):
        try:
            current = p.clients.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            if current == props["PolicyDocument"]:
                continue
        except ClientError:
            pass
        p.clients.iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=document)
        changed = True
    return ProvisionedResource(logical_id, resource["Type"], name, changed=changed)


@handles("AWS::Logs::LogGroup")
def _log_group(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props.get("LogGroupName") or physical_name(p.stack_name, logical_id, max_length=512)
    logs = p.clients.logs
    existing = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    changed = not any(group["logGroupName"] == name for group in existing)
    if changed:
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in props:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    arn = f"arn:aws:logs:{p.region}:{ACCOUNT}:log-group:{name}:*"
    return ProvisionedResource(logical_id, resource["Type"], name, attributes={"Arn": arn}, changed=changed)


@handles("AWS::CloudWatch::Alarm")
def _alarm(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props.get("AlarmName") or physical_name(p.stack_name, logical_id, max_length=255)
    cloudwatch = p.clients.cloudwatch
    existing = cloudwatch.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
    arguments = {key: value for key, value in props.items() if key != "AlarmName"}
    for numeric in ("EvaluationPeriods", "Period", "DatapointsToAlarm"):
        if numeric in arguments:
            arguments[numeric] = int(arguments[numeric])
    if "Threshold" in arguments:
        arguments["Threshold"] = float(arguments["Threshold"])
    for metric in arguments.get("Metrics", []):
        if "MetricStat" in metric:
            metric["MetricStat"]["Period"] = int(metric["MetricStat"]["Period"])
    changed = not existing
    if changed:
        cloudwatch.put_metric_alarm(AlarmName=name, **arguments)
    arn = f"arn:aws:cloudwatch:{p.region}:{ACCOUNT}:alarm:{name}"
    return ProvisionedResource(logical_id, resource["Type"], name, attributes={"Arn": arn}, changed=changed)


# --- SQS ---------------------------------------------------------------------------------------


@handles("AWS::SQS::Queue")
def _queue(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    fifo = bool(props.get("FifoQueue"))
    name = props.get("QueueName") or physical_name(p.stack_name, logical_id, max_length=75) + (
        ".fifo" if fifo else ""
    )
    attributes: dict[Any, str] = {}
    for key in (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
        "MaximumMessageSize",
        "KmsMasterKeyId",
        "SqsManagedSseEnabled",
        "FifoQueue",
    ):
        if key in props:
            attributes[key] = str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    sqs = p.clients.sqs
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        changed = False
    except ClientError:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        changed = True
    arn = f"arn:aws:sqs:{p.region}:{ACCOUNT}:{name}"
    return ProvisionedResource(
        logical_id,
        resource["Type"],
        url,
        attributes={"Arn": arn, "QueueName": name, "QueueUrl": url},
        changed=changed,
    )


@handles("AWS::SQS::QueuePolicy")
def _queue_policy(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    for url in props.get("Queues", []):
        p.clients.sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
        )
    return ProvisionedResource(logical_id, resource["Type"], physical_name(p.stack_name, logical_id))


# --- Lambda ------------------------------------------------------------------------------------


def function_source(handler: str) -> str | None:
    """`inference.handler.handler` -> `inference` when functions/inference/ is ours."""
    package = handler.split(".", 1)[0]
    return package if (FUNCTIONS_DIR / package / "handler.py").is_file() else None


@handles("AWS::Lambda::Function")
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
    changed = False
    try:
        current = lam.get_function_configuration(FunctionName=name)
    except ClientError:
        lam.create_function(
            FunctionName=name,
            Code={"ZipFile": zipped.read_bytes()},
            Publish=False,
            Architectures=props.get("Architectures", ["x86_64"]),
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
    return ProvisionedResource(
        logical_id,
        resource["Type"],
        name,
        attributes={"Arn": arn},
        local={"source": source, "code_dir": str(code_dir), "code_sha256": code_sha},
        changed=changed,
    )


def _zip_dir(directory: Path, zips: Path) -> Path:
    """Zip a bundle once per content; the zip is what moto stores as the function's code."""
    marker = directory / ".bundle-digest"
    digest = (
        marker.read_text().strip()
        if marker.is_file()
        else hashlib.sha256(str(directory).encode()).hexdigest()
    )
    zips.mkdir(parents=True, exist_ok=True)
    target = zips / f"{directory.name}-{digest[:16]}.zip"
    if not target.is_file():
        staging = target.with_suffix(".part")
        with zipfile.ZipFile(staging, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for path in sorted(directory.rglob("*")):
                if path.is_file() and path.name != ".bundle-digest":
                    info = zipfile.ZipInfo(
                        path.relative_to(directory).as_posix(), date_time=(1980, 1, 1, 0, 0, 0)
                    )
                    info.external_attr = (path.stat().st_mode & 0o777) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, path.read_bytes(), compresslevel=1)
        staging.replace(target)
    return target


def _sha256_b64(path: Path) -> str:
    import base64

    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


@handles("AWS::Lambda::Version")
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


@handles("AWS::Lambda::Alias")
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


@handles("AWS::Lambda::Permission", "AWS::Lambda::EventInvokeConfig", "AWS::Lambda::Url")
def _lambda_recorded(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    return ProvisionedResource(
        logical_id, resource["Type"], physical_name(p.stack_name, logical_id), local=props
    )


@handles("AWS::Lambda::LayerVersion")
def _layer(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    arn = f"arn:aws:lambda:{p.region}:{ACCOUNT}:layer:{physical_name(p.stack_name, logical_id)}:1"
    return ProvisionedResource(logical_id, resource["Type"], arn, note="layers are not run locally")


@handles("AWS::Lambda::EventSourceMapping")
def _event_source_mapping(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    """Recorded, not created in moto: moto would try to run the function in Docker on every
    message. The local cloud's own poller delivers the batches (settings in `local`)."""
    physical_id = hashlib.sha1(f"{p.stack_name}/{logical_id}".encode()).hexdigest()[:36]
    return ProvisionedResource(logical_id, resource["Type"], physical_id, local=props)


# --- DynamoDB, SNS ------------------------------------------------------------------------------


@handles("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable")
def _table(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props.get("TableName") or physical_name(p.stack_name, logical_id, max_length=255)
    dynamodb = p.clients.client("dynamodb")
    changed = False
    try:
        description = dynamodb.describe_table(TableName=name)["Table"]
    except ClientError:
        arguments: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if "ProvisionedThroughput" in props:
            arguments["ProvisionedThroughput"] = {
                k: int(v) for k, v in props["ProvisionedThroughput"].items()
            }
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if index_kind in props:
                arguments[index_kind] = props[index_kind]
        if "StreamSpecification" in props:
            arguments["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        description = dynamodb.create_table(**arguments)["TableDescription"]
        if props.get("TimeToLiveSpecification", {}).get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"]
            )
        changed = True
    attributes = {"Arn": description["TableArn"], "StreamArn": description.get("LatestStreamArn", "")}
    return ProvisionedResource(logical_id, resource["Type"], name, attributes=attributes, changed=changed)


@handles("AWS::SNS::Topic")
def _topic(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    name = props.get("TopicName") or physical_name(p.stack_name, logical_id, max_length=256)
    sns = p.clients.client("sns")
    arn = f"arn:aws:sns:{p.region}:{ACCOUNT}:{name}"
    existing = {t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]}
    changed = arn not in existing
    if changed:
        arn = sns.create_topic(Name=name)["TopicArn"]
    return ProvisionedResource(
        logical_id, resource["Type"], arn, attributes={"TopicArn": arn, "TopicName": name}, changed=changed
    )


# --- Step Functions, EventBridge ---------------------------------------------------------------


@handles("AWS::StepFunctions::StateMachine")
def _state_machine(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    """The deployed definition, substitutions applied; moto's interpreter runs it as written."""
    name = props.get("StateMachineName") or physical_name(p.stack_name, logical_id, max_length=80)
    definition = props.get("DefinitionString") or json.dumps(props.get("Definition", {}))
    if not isinstance(definition, str):
        definition = json.dumps(definition)
    for key, value in props.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    sfn = p.clients.client("stepfunctions")
    arn = f"arn:aws:states:{p.region}:{ACCOUNT}:stateMachine:{name}"
    changed = False
    try:
        current = sfn.describe_state_machine(stateMachineArn=arn)
        if (
            json.loads(current["definition"]) != json.loads(definition)
            or current["roleArn"] != props["RoleArn"]
        ):
            sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=props["RoleArn"])
            changed = True
    except ClientError:
        arn = sfn.create_state_machine(
            name=name,
            definition=definition,
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        changed = True
    return ProvisionedResource(
        logical_id,
        resource["Type"],
        arn,
        attributes={"Arn": arn, "Name": name},
        local={"definition": json.loads(definition)},
        changed=changed,
    )


@handles("AWS::Events::Rule")
def _rule(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    """The rule and its targets in moto; the local scheduler fires schedule rules' targets."""
    name = props.get("Name") or physical_name(p.stack_name, logical_id, max_length=64)
    events = p.clients.client("events")
    arguments: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED")}
    for key in ("ScheduleExpression", "Description"):
        if key in props:
            arguments[key] = props[key]
    if "EventPattern" in props:
        arguments["EventPattern"] = json.dumps(props["EventPattern"])
    try:
        current = events.describe_rule(Name=name)
        changed = any(current.get(k) != v for k, v in arguments.items() if k != "Name")
    except ClientError:
        changed = True
    if changed:
        events.put_rule(**arguments)
    targets = [
        {
            k: (json.dumps(v) if k == "Input" and not isinstance(v, str) else v)
            for k, v in target.items()
            if k in ("Id", "Arn", "RoleArn", "Input", "InputPath")
        }
        for target in props.get("Targets", [])
    ]
    if targets and changed:
        events.put_targets(Rule=name, Targets=targets)
    arn = f"arn:aws:events:{p.region}:{ACCOUNT}:rule/{name}"
    return ProvisionedResource(
        logical_id,
        resource["Type"],
        name,
        attributes={"Arn": arn},
        local={"schedule": props.get("ScheduleExpression"), "state": arguments["State"], "targets": targets},
        changed=changed,
    )


# --- API Gateway (REST): recorded for the local gateway ------------------------------------------


@handles("AWS::ApiGateway::*")
def _api_gateway(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    resource_type = resource["Type"]
    physical_id = hashlib.sha1(f"{p.stack_name}/{logical_id}".encode()).hexdigest()[:10]
    attributes: dict[str, Any] = {}
    local: dict[str, Any] = dict(props)
    if resource_type == "AWS::ApiGateway::RestApi":
        attributes["RootResourceId"] = f"{physical_id}-root"
    elif resource_type == "AWS::ApiGateway::ApiKey":
        local["value"] = (
            props.get("Value") or hashlib.sha256(f"local-key/{physical_id}".encode()).hexdigest()[:40]
        )
    return ProvisionedResource(logical_id, resource_type, physical_id, attributes=attributes, local=local)


@handles("Custom::*")
def _custom(
    p: Provisioner, logical_id: str, props: dict[str, Any], resource: dict[str, Any]
) -> ProvisionedResource:
    return ProvisionedResource(
        logical_id,
        resource["Type"],
        physical_name(p.stack_name, logical_id),
        note="custom resource not run locally",
    )


def clean_state(state_dir: Path) -> None:
    if state_dir.exists():
        shutil.rmtree(state_dir)
