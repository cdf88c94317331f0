"""`modelctl publish`: validate an artifact, upload it immutably, publish a version that pins it.

A function version is $LATEST's code and configuration frozen, so publishing sets $LATEST's
MODEL_URI to the artifact (keeping every other variable) and publishes. If a version with exactly
that code and configuration already exists, it is reused: publishing the same artifact twice is
idempotent, from the upload to the version number.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from common.layout import METADATA_FILE, MODEL_FILE, model_key, model_prefix
from common.model.metadata import MetadataError, ModelMetadata, read_metadata
from release.aws import aws_errors, error_code, error_message
from release.clock import Clock
from release.errors import ArtifactError, AwsCallError, ConcurrentUpdateError, RefusedError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client

MAX_PARITY_TOLERANCE = 1e-4
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# What makes two versions the same function: code and configuration (MODEL_URI included).
_SAME_VERSION_FIELDS = ("CodeSha256", "Handler", "Runtime", "MemorySize", "Timeout", "Role")


@dataclass(frozen=True)
class ValidatedArtifact:
    directory: Path
    metadata: ModelMetadata
    files: dict[str, bytes]
    checks: tuple[str, ...]

    @property
    def version(self) -> str:
        return self.metadata.version


def validate_artifact(directory: Path) -> ValidatedArtifact:
    """Every check publish makes before touching AWS; ArtifactError names the first failure."""
    import numpy as np  # numpy and onnxruntime: loaded only to publish

    from common.model.onnx_model import ModelLoadError, OnnxModel

    if not directory.is_dir():
        raise ArtifactError(f"{directory} is not a directory: give model_artifacts/<version>/")
    try:
        metadata = read_metadata(directory)
    except MetadataError as exc:
        raise ArtifactError(f"{directory}: {exc}") from exc
    checks = [f"metadata complete (schema {metadata.schema_version}, {metadata.n_features} features)"]
    if _VERSION_RE.fullmatch(metadata.version) is None:
        raise ArtifactError(
            f"{directory}: metadata version {metadata.version!r} is not a valid artifact name"
        )
    try:
        model = OnnxModel.load(directory)
    except ModelLoadError as exc:
        raise ArtifactError(f"{directory}: {exc}") from exc
    checks.append("model.onnx matches its recorded sha256 and loads in onnxruntime")
    checks.append(f"model input {metadata.input_name!r} takes {metadata.n_features} float32 features")
    checks.append(_check_parity(directory, metadata))
    rows = metadata.sample_rows
    if not rows:
        raise ArtifactError(
            f"{directory}: metadata has no sample_rows; the pre-traffic check sends them to the new version"
        )
    if any(len(row) != metadata.n_features for row in rows):
        raise ArtifactError(f"{directory}: sample_rows do not all have {metadata.n_features} values")
    try:
        prediction = model.predict(np.asarray(rows, dtype=np.float32))
    except Exception as exc:  # onnxruntime's own error types
        raise ArtifactError(f"{directory}: the model fails on its own sample_rows: {exc}") from exc
    probabilities = np.asarray(prediction.probabilities)
    if len(prediction.labels) != len(rows) or probabilities.shape != (len(rows), len(metadata.class_labels)):
        raise ArtifactError(
            f"{directory}: the model answered {len(rows)} sample rows with {len(prediction.labels)} labels "
            f"and probabilities of shape {probabilities.shape}"
        )
    checks.append(f"predicts its {len(rows)} sample rows")
    files = {name: (directory / name).read_bytes() for name in (MODEL_FILE, METADATA_FILE)}
    return ValidatedArtifact(directory=directory, metadata=metadata, files=files, checks=tuple(checks))


def _check_parity(directory: Path, metadata: ModelMetadata) -> str:
    parity: dict[str, Any] = metadata.parity or {}
    if metadata.task == "regression":
        return _check_regression_parity(directory, parity)
    needed = ("rows", "labels_equal", "max_abs_probability_diff", "tolerance")
    rows, tolerance = _parity_basics(directory, parity, needed)
    diff = float(parity["max_abs_probability_diff"])
    if parity["labels_equal"] is not True or not diff <= tolerance:
        raise ArtifactError(
            f"{directory}: parity failed (labels equal: {parity['labels_equal']}, probabilities differ by "
            f"{diff:.3g}, tolerance {tolerance:g}): the ONNX model does not match the trained one"
        )
    return f"parity recorded: {rows} holdout rows, labels equal, max |dp| {diff:.2g} <= {tolerance:g}"


def _check_regression_parity(directory: Path, parity: dict[str, Any]) -> str:
    """A regressor's parity: every holdout row within tolerance x max(1, |y_sklearn|) (docs/training.md)."""
    rows, tolerance = _parity_basics(directory, parity, ("rows", "max_rel_diff", "tolerance"))
    diff = float(parity["max_rel_diff"])
    if not diff <= tolerance:
        raise ArtifactError(
            f"{directory}: parity failed (predictions differ by {diff:.3g} relative to max(1, |y|), "
            f"tolerance {tolerance:g}): the ONNX model does not match the trained one"
        )
    return f"parity recorded: {rows} holdout rows, max relative |dy| {diff:.2g} <= {tolerance:g}"


def _parity_basics(directory: Path, parity: dict[str, Any], needed: tuple[str, ...]) -> tuple[int, float]:
    missing = [key for key in needed if key not in parity]
    if missing:
        raise ArtifactError(f"{directory}: parity is not recorded (missing {', '.join(missing)})")
    rows, tolerance = int(parity["rows"]), float(parity["tolerance"])
    if rows <= 0:
        raise ArtifactError(f"{directory}: parity was checked on {rows} rows")
    if tolerance > MAX_PARITY_TOLERANCE:
        raise ArtifactError(
            f"{directory}: parity tolerance {tolerance:g} is looser than {MAX_PARITY_TOLERANCE:g}"
        )
    return rows, tolerance


def check_compatible(new: ModelMetadata, live: ModelMetadata) -> None:
    """Clients send rows in the live model's feature order and read the answer's shape: a new model
    must take the same features and do the same task (classification or regression)."""
    if new.task != live.task:
        raise RefusedError(
            f"model {new.version} is a {new.task} model but the live model {live.version} is a {live.task} "
            "model: clients would get answers of another shape; serve it from its own stack"
        )
    if list(new.feature_names) != list(live.feature_names):
        added = sorted(set(new.feature_names) - set(live.feature_names))
        dropped = sorted(set(live.feature_names) - set(new.feature_names))
        detail = (
            f"added {added}, dropped {dropped}" if added or dropped else "the same features in another order"
        )
        raise RefusedError(
            f"model {new.version} takes different features than the live model {live.version} ({detail}): "
            "clients would break; pass --allow-feature-change if they are ready"
        )


@dataclass(frozen=True)
class ObjectUpload:
    key: str
    action: str  # "upload" or "unchanged"
    sha256: str


class ModelStoreUploader:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def model_uri(self, version: str) -> str:
        return f"s3://{self.bucket}/{model_prefix(version)}"

    def plan(self, artifact: ValidatedArtifact) -> list[ObjectUpload]:
        """What upload would do; refuses if an object exists with other content (artifacts are immutable).

        The version names model.onnx's bytes, so those must be identical. The same model trained
        again (elsewhere, later) has a metadata.json that differs only in when and with which
        library builds it was written: the stored one is kept. Any other difference is refused.
        """
        planned = []
        for name in (MODEL_FILE, METADATA_FILE):  # metadata last: it marks the artifact complete
            key = model_key(artifact.version, name)
            digest = hashlib.sha256(artifact.files[name]).hexdigest()
            existing = self._existing(key)
            if existing is None:
                planned.append(ObjectUpload(key, "upload", digest))
                continue
            stored = hashlib.sha256(existing).hexdigest()
            if stored == digest:
                planned.append(ObjectUpload(key, "unchanged", digest))
                continue
            differing = (
                _metadata_differences(existing, artifact.files[name]) if name == METADATA_FILE else None
            )
            if differing == []:
                planned.append(ObjectUpload(key, "unchanged", stored))
                continue
            detail = (
                f" in {', '.join(differing)}"
                if differing
                else f" (sha256 {stored[:12]}..., yours {digest[:12]}...)"
            )
            raise RefusedError(
                f"s3://{self.bucket}/{key} already exists and differs{detail}: artifacts are immutable; "
                "train a new version"
            )
        return planned

    def upload(self, artifact: ValidatedArtifact) -> list[ObjectUpload]:
        done: list[ObjectUpload] = []
        for item in self.plan(artifact):
            if item.action == "upload":
                name = item.key.rsplit("/", 1)[-1]
                try:
                    # IfNoneMatch: S3 refuses if another publish created the object since our check.
                    self.s3.put_object(
                        Bucket=self.bucket, Key=item.key, Body=artifact.files[name], IfNoneMatch="*"
                    )
                except ClientError as exc:
                    if error_code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                        raise AwsCallError(
                            f"uploading s3://{self.bucket}/{item.key}: "
                            f"{error_code(exc)}: {error_message(exc)}"
                        ) from exc
                    # Re-check what the other publish wrote: identical bytes are fine (and the
                    # remaining files are still uploaded), anything else is refused.
                    item = next(again for again in self.plan(artifact) if again.key == item.key)
            done.append(item)
        return done

    def _existing(self, key: str) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise AwsCallError(
                f"reading s3://{self.bucket}/{key}: {error_code(exc)}: {error_message(exc)}"
            ) from exc


# Fields that say when and with which builds an artifact was written, not what it serves.
VOLATILE_METADATA = frozenset({"created_at", "libraries"})


def _metadata_differences(stored: bytes, mine: bytes) -> list[str] | None:
    """Metadata fields that differ, ignoring the volatile ones; None if either is not JSON."""
    try:
        old, new = json.loads(stored), json.loads(mine)
    except ValueError:
        return None
    if not isinstance(old, dict) or not isinstance(new, dict):
        return None
    return sorted(k for k in set(old) | set(new) if k not in VOLATILE_METADATA and old.get(k) != new.get(k))


@dataclass(frozen=True)
class PublishedVersion:
    version: str
    created: bool
    model_uri: str


class VersionPublisher:
    def __init__(
        self,
        lambda_client: LambdaClient,
        function: str,
        clock: Clock,
        *,
        poll_s: float = 1.0,
        timeout_s: float = 300.0,
    ) -> None:
        self.lambda_ = lambda_client
        self.function = function
        self.clock = clock
        self.poll_s = poll_s
        self.timeout_s = timeout_s

    def latest(self) -> dict[str, Any]:
        with aws_errors(f"reading the configuration of {self.function}"):
            return dict(self.lambda_.get_function_configuration(FunctionName=self.function))

    def find_existing(self, model_uri: str, latest: dict[str, Any] | None = None) -> str | None:
        """A published version with $LATEST's code and configuration and this MODEL_URI."""
        latest = latest or self.latest()
        wanted = _fingerprint(latest, model_uri)
        found: list[int] = []
        with aws_errors(f"listing versions of {self.function}"):
            for page in self.lambda_.get_paginator("list_versions_by_function").paginate(
                FunctionName=self.function
            ):
                for version in page["Versions"]:
                    number = version["Version"]
                    if number.isdigit() and _fingerprint(dict(version), None) == wanted:
                        found.append(int(number))
        return str(max(found)) if found else None

    def publish(self, model_uri: str, description: str) -> PublishedVersion:
        latest = self.latest()
        existing = self.find_existing(model_uri, latest)
        if existing is not None:
            return PublishedVersion(existing, False, model_uri)
        variables = dict((latest.get("Environment") or {}).get("Variables") or {})
        revision = latest.get("RevisionId")
        if variables.get("MODEL_URI") != model_uri:
            variables["MODEL_URI"] = model_uri
            arguments: dict[str, Any] = {
                "FunctionName": self.function,
                "Environment": {"Variables": variables},
            }
            if revision:
                arguments["RevisionId"] = revision
            try:
                updated = self.lambda_.update_function_configuration(**arguments)
            except ClientError as exc:
                raise self._conflict(exc, "setting MODEL_URI on $LATEST") from exc
            revision = updated.get("RevisionId") or revision
            revision = self._wait_updated() or revision
        publish_arguments: dict[str, Any] = {"FunctionName": self.function, "Description": description[:256]}
        if revision:
            publish_arguments["RevisionId"] = revision
        try:
            published = self.lambda_.publish_version(**publish_arguments)
        except ClientError as exc:
            raise self._conflict(exc, "publishing the version") from exc
        version = str(published["Version"])
        pinned = ((published.get("Environment") or {}).get("Variables") or {}).get("MODEL_URI")
        if pinned != model_uri:
            raise ConcurrentUpdateError(
                f"version {version} pins {pinned}, not {model_uri}: $LATEST was changed by someone else "
                "while publishing; publish again"
            )
        self._wait_active(version)
        return PublishedVersion(version, True, model_uri)

    def _conflict(self, exc: ClientError, action: str) -> Exception:
        code = error_code(exc)
        if code == "PreconditionFailedException":
            return ConcurrentUpdateError(
                f"{action}: $LATEST of {self.function} was changed by someone else meanwhile (RevisionId "
                "mismatch); nothing was published: try again"
            )
        if code == "ResourceConflictException":
            return ConcurrentUpdateError(
                f"{action}: {self.function} is being updated by someone else: {error_message(exc)}"
            )
        return AwsCallError(f"{action}: {code}: {error_message(exc)}")

    def _wait_updated(self) -> str | None:
        deadline = self.clock.monotonic() + self.timeout_s
        while True:
            latest = self.latest()
            status = latest.get("LastUpdateStatus") or "Successful"
            if status == "Successful":
                return str(latest.get("RevisionId") or "") or None
            if status == "Failed":
                reason = latest.get("LastUpdateStatusReason", "no reason given")
                raise AwsCallError(f"updating {self.function} failed: {reason}")
            if self.clock.monotonic() > deadline:
                raise AwsCallError(f"{self.function} is still updating after {self.timeout_s:g} s")
            self.clock.sleep(self.poll_s)

    def _wait_active(self, version: str) -> None:
        deadline = self.clock.monotonic() + self.timeout_s
        while True:
            with aws_errors(f"reading version {version}"):
                state = self.lambda_.get_function_configuration(FunctionName=self.function, Qualifier=version)
            if (state.get("State") or "Active") == "Active":
                return
            if state.get("State") == "Failed":
                raise AwsCallError(f"version {version} failed to become active: {state.get('StateReason')}")
            if self.clock.monotonic() > deadline:
                raise AwsCallError(f"version {version} is not active after {self.timeout_s:g} s")
            self.clock.sleep(self.poll_s)


def _fingerprint(configuration: dict[str, Any], model_uri: str | None) -> tuple[Any, ...]:
    variables = dict((configuration.get("Environment") or {}).get("Variables") or {})
    if model_uri is not None:
        variables["MODEL_URI"] = model_uri
    return (*(configuration.get(name) for name in _SAME_VERSION_FIELDS), tuple(sorted(variables.items())))
