"""Athena over the log bucket: a Glue database with one table per prefix the reports read, and a
workgroup the reports run their queries in (docs/queries.md).

    prediction-log/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz   -> table prediction_log (one row per answered row)
    feedback/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz         -> table feedback (ground-truth labels)
    records/dt=YYYY-MM-DD/hour=HH/*.jsonl.gz          -> table shadow_records (live and shadow answers)

The tables read the objects where the functions write them (gzip JSON Lines, the OpenX JSON SerDe,
malformed lines read as empty rows the queries skip). Partitions are projected from `dt` (a date)
and `hour` (an integer, two digits): no crawler and no MSCK REPAIR, and a query names the
partitions of its window, so Athena lists and scans only those. Query results go to
`athena-results/` in the log bucket, encrypted (SSE-S3, as the bucket), and expire; the workgroup
enforces its configuration (clients cannot send results elsewhere or unencrypted) and cancels a
query past its bytes-scanned cutoff.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common.layout import FEEDBACK_PREFIX, PREDICTION_LOG_PREFIX, QUERY_RESULTS_PREFIX, RECORDS_PREFIX
from infra.constructs.buckets import expiry

PREDICTION_LOG_TABLE = "prediction_log"
FEEDBACK_TABLE = "feedback"
SHADOW_RECORDS_TABLE = "shadow_records"
DEFAULT_BYTES_SCANNED_CUTOFF = 100 * 1024**3
"""100 GiB (`serving.prediction_log_query_scan_cutoff_gb`): a 30-day report at a million requests a
day scans a few GB (docs/queries.md)."""
QUERY_RESULTS_EXPIRATION_DAYS = 7
PROJECTION_START = "2024-01-01"

_S, _I, _D, _ARRAY = glue.Schema.STRING, glue.Schema.INTEGER, glue.Schema.DOUBLE, glue.Schema.array


def _columns(**types: glue.Type) -> list[glue.Column]:
    return [glue.Column(name=name, type=kind) for name, kind in types.items()]


# fmt: off
_ANSWER = glue.Schema.struct(_columns(
    predictions=_ARRAY(_S), probabilities=_ARRAY(_ARRAY(_D)), inference_ms=_D, model_version=_S,
    function_version=_S,
))
TABLE_COLUMNS: Mapping[str, list[glue.Column]] = {
    # `prediction`: a class label (int or text) or a regressor's number, as its JSON text (the queries cast).
    PREDICTION_LOG_TABLE: _columns(
        request_id=_S, row=_I, requested_at=_S, model_version=_S, function_version=_S, task=_S,
        prediction=_S, probabilities=_ARRAY(_D), features=_ARRAY(_D), shadow_candidate=_S,
    ),
    FEEDBACK_TABLE: _columns(
        schema_version=_I, request_id=_S, row=_I, label=_S, received_at=_S, reward=_D
    ),
    SHADOW_RECORDS_TABLE: _columns(
        record_id=_S, request_id=_S, part=_I, parts=_I, row_offset=_I, timestamp=_S,
        inputs=_ARRAY(_ARRAY(_D)), live=_ANSWER, shadow=_ANSWER,
    ),
}
# fmt: on
TABLE_PREFIXES = {
    PREDICTION_LOG_TABLE: PREDICTION_LOG_PREFIX,
    FEEDBACK_TABLE: FEEDBACK_PREFIX,
    SHADOW_RECORDS_TABLE: RECORDS_PREFIX,
}
TABLE_DESCRIPTIONS = {
    PREDICTION_LOG_TABLE: "Every answered row: request, versions, prediction (the recorder's objects)",
    FEEDBACK_TABLE: "Ground-truth labels sent to POST /feedback, by hour of receipt",
    SHADOW_RECORDS_TABLE: "Mirrored requests with the live and the shadow model's answers",
}


class LogQueries(Construct):
    """The Glue database and tables over the log bucket, and the Athena workgroup of the reports."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        log_bucket: s3.Bucket,
        bytes_scanned_cutoff: int = DEFAULT_BYTES_SCANNED_CUTOFF,
    ) -> None:
        super().__init__(scope, construct_id)
        self.database = glue.Database(
            self, "Database", description="The prediction log, feedback and shadow records (Athena)"
        )
        self.tables = {
            name: self._table(name, log_bucket, columns) for name, columns in TABLE_COLUMNS.items()
        }
        log_bucket.add_lifecycle_rule(
            **expiry("ExpireQueryResults", QUERY_RESULTS_PREFIX, QUERY_RESULTS_EXPIRATION_DAYS)
        )
        self.work_group = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=cdk.Fn.join("-", [cdk.Aws.STACK_NAME, "reports"]),
            description="modelctl reports over the log bucket (docs/queries.md)",
            recursive_delete_option=True,
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=log_bucket.s3_url_for_object(QUERY_RESULTS_PREFIX),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )

    def outputs(self) -> dict[str, tuple[str, str]]:
        """Stack outputs `modelctl report --engine athena` reads (name -> value, description)."""
        tables = {name: table.table_name for name, table in self.tables.items()}
        return {
            "QueryWorkGroup": (self.work_group.ref, "Athena workgroup of the reports (docs/queries.md)"),
            "QueryDatabase": (self.database.database_name, "Glue database over the log bucket"),
            "PredictionLogTable": (tables[PREDICTION_LOG_TABLE], "Glue table of the prediction log"),
            "FeedbackTable": (tables[FEEDBACK_TABLE], "Glue table of the feedback"),
            "ShadowRecordsTable": (tables[SHADOW_RECORDS_TABLE], "Glue table of the shadow records"),
        }

    def _table(self, name: str, bucket: s3.Bucket, columns: list[glue.Column]) -> glue.S3Table:
        prefix = TABLE_PREFIXES[name]
        table = glue.S3Table(
            self,
            f"{name.title().replace('_', '')}Table",
            database=self.database,
            table_name=name,
            description=TABLE_DESCRIPTIONS[name],
            storage=glue.S3TableStorage.from_bucket(bucket),
            s3_prefix=prefix,
            columns=columns,
            partition_keys=[
                glue.Column(name="dt", type=glue.Schema.STRING),
                glue.Column(name="hour", type=glue.Schema.INTEGER),
            ],
            partition_projection={
                "dt": glue.PartitionProjectionConfiguration.date(
                    min=PROJECTION_START,
                    max="NOW",
                    format="yyyy-MM-dd",
                    step=glue.DateProjectionStep(interval=1, interval_unit=glue.DateIntervalUnit.DAYS),
                ),
                "hour": glue.PartitionProjectionConfiguration.integer(min=0, max=23, digits=2),
            },
            data_format=glue.DataFormat.JSON,
            compressed=True,
        )
        cfn = table.node.default_child
        assert isinstance(cfn, glue.CfnTable)
        location = f"s3://{bucket.bucket_name}/{prefix}"
        cfn.add_property_override(
            "TableInput.Parameters.storage\\.location\\.template",
            f"{location}dt=${{dt}}/hour=${{hour}}/",
        )
        # A malformed line reads as a row of nulls (the queries skip rows without a request id), as the
        # in-process reader counts and skips it; `row` and `timestamp` are plain keys in the JSON.
        cfn.add_property_override(
            "TableInput.StorageDescriptor.SerdeInfo.Parameters",
            {"ignore.malformed.json": "true", "case.insensitive": "true"},
        )
        return table
