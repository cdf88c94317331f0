"""The Glue database, tables (partition projection over the log bucket's prefixes) and the Athena
workgroup of the reports, in the shadow stack's template (docs/queries.md)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from common.layout import QUERY_RESULTS_PREFIX
from infra.constructs.query import FEEDBACK_TABLE, PREDICTION_LOG_TABLE, SHADOW_RECORDS_TABLE

LOG_BUCKET = {"Ref": Match.string_like_regexp("ShadowLogBucket")}


def _table(template: Template, name: str) -> dict[str, Any]:
    tables = template.find_resources("AWS::Glue::Table")
    (found,) = [t for t in tables.values() if t["Properties"]["TableInput"]["Name"] == name]
    return dict(found["Properties"]["TableInput"])


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        (PREDICTION_LOG_TABLE, "prediction-log/"),
        (FEEDBACK_TABLE, "feedback/"),
        (SHADOW_RECORDS_TABLE, "records/"),
    ],
)
def test_each_table_projects_its_prefix_partitions(shadow: Template, name: str, prefix: str) -> None:
    table = _table(shadow, name)
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.dt.type"] == "date"
    assert parameters["projection.dt.format"] == "yyyy-MM-dd"
    assert parameters["projection.dt.range"].endswith(",NOW")
    assert parameters["projection.hour.type"] == "integer"
    assert parameters["projection.hour.range"] == "0,23"
    assert parameters["projection.hour.digits"] == "2"
    template = parameters["storage.location.template"]["Fn::Join"][1]
    assert template[-1] == f"/{prefix}dt=${{dt}}/hour=${{hour}}/"
    assert [key["Name"] for key in table["PartitionKeys"]] == ["dt", "hour"]
    serde = table["StorageDescriptor"]["SerdeInfo"]
    assert serde["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert serde["Parameters"]["ignore.malformed.json"] == "true"
    assert table["StorageDescriptor"]["Compressed"] is True


def test_prediction_log_columns_follow_the_recorder_contract(shadow: Template) -> None:
    columns = {
        c["Name"]: c["Type"] for c in _table(shadow, PREDICTION_LOG_TABLE)["StorageDescriptor"]["Columns"]
    }
    assert columns == {
        "request_id": "string",
        "row": "int",
        "requested_at": "string",
        "model_version": "string",
        "function_version": "string",
        "task": "string",
        "prediction": "string",
        "probabilities": "array<double>",
        "features": "array<double>",
        "shadow_candidate": "string",
    }


def test_no_crawler_maintains_partitions(shadow: Template) -> None:
    shadow.resource_count_is("AWS::Glue::Crawler", 0)
    shadow.resource_count_is("AWS::Glue::Database", 1)


def test_workgroup_enforces_encrypted_results_and_a_scan_cutoff(shadow: Template) -> None:
    shadow.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": {
                "EnforceWorkGroupConfiguration": True,
                "PublishCloudWatchMetricsEnabled": True,
                "BytesScannedCutoffPerQuery": 100 * 1024**3,
                "ResultConfiguration": {
                    "OutputLocation": {"Fn::Join": ["", ["s3://", LOG_BUCKET, f"/{QUERY_RESULTS_PREFIX}"]]},
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                },
            }
        },
    )


def test_query_results_expire(shadow: Template) -> None:
    shadow.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [Match.object_like({"Id": "ExpireQueryResults", "Prefix": QUERY_RESULTS_PREFIX})]
                )
            }
        },
    )


def test_stack_outputs_name_the_workgroup_database_and_tables(shadow: Template) -> None:
    outputs = shadow.to_json()["Outputs"]
    for name in (
        "QueryWorkGroup",
        "QueryDatabase",
        "PredictionLogTable",
        "FeedbackTable",
        "ShadowRecordsTable",
    ):
        assert name in outputs
    assert set(outputs["QueryWorkGroup"]["Value"]) == {"Ref"}
