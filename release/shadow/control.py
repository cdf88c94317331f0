"""`modelctl shadow start/stop/status`: the active shadow configuration and what it relates to.

Starting a shadow writes one S3 object (`control/shadow.json` in the shadow log bucket) and nothing
else: the alias, the function versions and what users receive are untouched. The inference
function picks the change up within its configuration TTL (`serving.shadow_config_ttl_seconds`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from common.layout import METADATA_FILE, MODEL_FILE, MODELS_PREFIX, hour_prefix, metadata_key, model_key
from common.mirror.config import INACTIVE, ShadowConfig, ShadowConfigStore
from common.mirror.message import format_timestamp
from common.model.metadata import MetadataError, ModelMetadata
from release.aws import aws_errors, error_code
from release.errors import ShadowError
from release.shadow.resources import ShadowTarget

_MODEL_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FUNCTION_VERSION_RE = re.compile(r"^[0-9]{1,10}$")


@dataclass(frozen=True)
class Candidate:
    model_version: str
    source: str
    metadata: ModelMetadata
    uploaded: bool = False


@dataclass(frozen=True)
class StartResult:
    config: ShadowConfig
    previous: ShadowConfig
    candidate: Candidate
    live_model_version: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QueueDepth:
    visible: int
    in_flight: int


@dataclass(frozen=True)
class ShadowStatus:
    config: ShadowConfig
    live_model_version: str | None
    queue: QueueDepth | None
    dead_letter: QueueDepth | None
    alarm_state: str | None
    record_objects_this_hour: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": json.loads(self.config.to_json()),
            "live_model_version": self.live_model_version,
            "queue": None if self.queue is None else vars(self.queue),
            "dead_letter_queue": None if self.dead_letter is None else vars(self.dead_letter),
            "dead_letter_alarm_state": self.alarm_state,
            "record_objects_this_hour": self.record_objects_this_hour,
        }


def _now() -> datetime:
    return datetime.now(tz=UTC)


class ShadowControl:
    def __init__(
        self,
        target: ShadowTarget,
        *,
        s3: Any,
        sqs: Any,
        lambda_: Any,
        cloudwatch: Any,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.target = target
        self.s3 = s3
        self.sqs = sqs
        self.lambda_ = lambda_
        self.cloudwatch = cloudwatch
        self._clock = clock
        self.store = ShadowConfigStore.from_uri(s3, target.config_uri)

    # -- commands ----------------------------------------------------------------------------------

    def start(
        self, candidate: str, *, sample_percent: float, artifacts_dir: Path | None = None
    ) -> StartResult:
        if not 0 <= sample_percent <= 100:
            raise ShadowError(f"--sample must be a percentage from 0 to 100, got {sample_percent}")
        chosen = self.resolve_candidate(candidate, artifacts_dir=artifacts_dir)
        live_version, live_metadata = self.live_model()
        warnings = self._compatibility(chosen.metadata, live_metadata)
        if chosen.model_version == live_version:
            warnings.append(
                f"the candidate is the live model {live_version}: the report will compare it with itself"
            )
        previous = self.read_config()
        now = format_timestamp(self._clock().timestamp())
        config = ShadowConfig(
            active=True,
            sample_percent=float(sample_percent),
            candidate_model_version=chosen.model_version,
            candidate_source=chosen.source,
            live_model_version=live_version,
            started_at=now,
            updated_at=now,
        )
        with aws_errors(f"writing {self.store.uri}", ShadowError):
            self.store.save(config)
        return StartResult(config, previous, chosen, live_version, warnings)

    def stop(self) -> tuple[ShadowConfig, ShadowConfig]:
        """(previous, now); stopping an inactive shadow changes nothing."""
        previous = self.read_config()
        if not previous.active:
            return previous, previous
        stopped = previous.stopped(format_timestamp(self._clock().timestamp()))
        with aws_errors(f"writing {self.store.uri}", ShadowError):
            self.store.save(stopped)
        return previous, stopped

    def status(self) -> ShadowStatus:
        config = self.read_config()
        try:
            live_version: str | None = self.live_model()[0]
        except ShadowError:
            live_version = None
        return ShadowStatus(
            config=config,
            live_model_version=live_version,
            queue=self._depth(self.target.queue_url),
            dead_letter=self._depth(self.target.dead_letter_queue_url),
            alarm_state=self._alarm_state(),
            record_objects_this_hour=self._objects_this_hour(),
        )

    # -- pieces ------------------------------------------------------------------------------------

    def read_config(self) -> ShadowConfig:
        with aws_errors(f"reading {self.store.uri}", ShadowError):
            try:
                return self.store.load()
            except ValueError as exc:
                raise ShadowError(f"{self.store.uri} is not a valid shadow configuration: {exc}") from exc

    def resolve_candidate(self, candidate: str, *, artifacts_dir: Path | None = None) -> Candidate:
        """A function version number (its pinned model) or a model version in the model store (uploaded
        from `artifacts_dir/<version>/` first when only that exists)."""
        uploaded = False
        if _FUNCTION_VERSION_RE.fullmatch(candidate):
            model_version = self._function_model(candidate)
            source = f"function version {candidate}"
        elif _MODEL_VERSION_RE.fullmatch(candidate):
            model_version, source = candidate, f"model {candidate}"
            if not self._in_store(model_version):
                uploaded = self._upload(model_version, artifacts_dir)
        else:
            raise ShadowError(
                f"{candidate!r} is neither a function version (e.g. 3) nor a model version "
                "(e.g. m-2f4854ecd677)"
            )
        return Candidate(model_version, source, self._metadata(model_version), uploaded)

    def live_model(self) -> tuple[str, ModelMetadata]:
        """The model the live alias's primary version serves."""
        target = self.target
        with aws_errors(f"reading alias {target.function_name}:{target.alias_name}", ShadowError):
            alias = self.lambda_.get_alias(FunctionName=target.function_name, Name=target.alias_name)
        version = self._function_model(str(alias["FunctionVersion"]))
        return version, self._metadata(version)

    def _function_model(self, function_version: str) -> str:
        target = self.target
        with aws_errors(f"reading {target.function_name} version {function_version}", ShadowError):
            configuration = self.lambda_.get_function_configuration(
                FunctionName=target.function_name, Qualifier=function_version
            )
        uri = str(configuration.get("Environment", {}).get("Variables", {}).get("MODEL_URI", ""))
        prefix = f"s3://{target.model_bucket}/{MODELS_PREFIX}"
        version = uri[len(prefix) :].rstrip("/") if uri.startswith(prefix) else ""
        if not _MODEL_VERSION_RE.fullmatch(version):
            raise ShadowError(
                f"{target.function_name} version {function_version} has MODEL_URI {uri!r}, not a model in "
                f"{prefix}: the shadow function can only load models from the model store"
            )
        return version

    def _in_store(self, model_version: str) -> bool:
        for name in (METADATA_FILE, MODEL_FILE):
            try:
                self.s3.head_object(Bucket=self.target.model_bucket, Key=model_key(model_version, name))
            except Exception as exc:
                if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise ShadowError(f"reading models/{model_version}/{name}: {exc}") from exc
        return True

    def _upload(self, model_version: str, artifacts_dir: Path | None) -> bool:
        folder = (artifacts_dir or Path("model_artifacts")) / model_version
        if not ((folder / METADATA_FILE).is_file() and (folder / MODEL_FILE).is_file()):
            raise ShadowError(
                f"model {model_version} is not in the model store (s3://{self.target.model_bucket}/models/) "
                f"nor in {folder}: train it (`modelctl train`) or publish it first"
            )
        for name in (MODEL_FILE, METADATA_FILE):  # metadata last: a complete artifact or none
            key = model_key(model_version, name)
            with aws_errors(
                f"uploading {folder / name} to s3://{self.target.model_bucket}/{key}", ShadowError
            ):
                try:
                    # IfNoneMatch: a model in the store is never overwritten (docs/security.md).
                    self.s3.put_object(
                        Bucket=self.target.model_bucket,
                        Key=key,
                        Body=(folder / name).read_bytes(),
                        IfNoneMatch="*",
                    )
                except ClientError as exc:
                    if error_code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                        raise
                    # uploaded by someone else meanwhile: the store's copy stays
        return True

    def _metadata(self, model_version: str) -> ModelMetadata:
        key = metadata_key(model_version)
        with aws_errors(f"reading s3://{self.target.model_bucket}/{key}", ShadowError):
            body = self.s3.get_object(Bucket=self.target.model_bucket, Key=key)["Body"].read()
        try:
            metadata = ModelMetadata.from_dict(json.loads(body))
        except (ValueError, MetadataError, TypeError) as exc:
            raise ShadowError(
                f"s3://{self.target.model_bucket}/{key} is not valid model metadata: {exc}"
            ) from exc
        if metadata.version != model_version:
            raise ShadowError(f"{key} describes model {metadata.version!r}, not {model_version!r}")
        return metadata

    @staticmethod
    def _compatibility(candidate: ModelMetadata, live: ModelMetadata) -> list[str]:
        if candidate.feature_names != live.feature_names:
            raise ShadowError(
                f"candidate {candidate.version} takes features {candidate.feature_names[:5]}... "
                f"({candidate.n_features}) but live {live.version} is sent {live.feature_names[:5]}... "
                f"({live.n_features}): mirrored rows would not fit it"
            )
        if [str(c) for c in candidate.class_labels] != [str(c) for c in live.class_labels]:
            return [
                f"class labels differ (live {live.class_labels}, candidate {candidate.class_labels}): "
                "agreement compares labels as they are"
            ]
        return []

    def _depth(self, queue_url: str) -> QueueDepth | None:
        try:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
        except Exception:
            return None
        return QueueDepth(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )

    def _alarm_state(self) -> str | None:
        try:
            alarms = self.cloudwatch.describe_alarms(AlarmNames=[self.target.dead_letter_alarm_name])
        except Exception:
            return None
        found = alarms.get("MetricAlarms", [])
        return str(found[0]["StateValue"]) if found else None

    def _objects_this_hour(self) -> int | None:
        try:
            response = self.s3.list_objects_v2(
                Bucket=self.target.log_bucket, Prefix=hour_prefix(self._clock()), MaxKeys=1000
            )
        except Exception:
            return None
        return int(response.get("KeyCount", 0))


__all__ = ["INACTIVE", "Candidate", "ShadowControl", "ShadowStatus", "StartResult"]
