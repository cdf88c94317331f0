"""The reports' Athena SQL run by DuckDB over local copies of the log bucket's objects: the Trino
text is transpiled with sqlglot and the Glue tables become views over `read_json` with the same
columns, hive partitions (dt, hour) and malformed lines read as nulls, as the OpenX SerDe reads them.
Results come back as text, as Athena's GetQueryResults gives them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import sqlglot

from modelctl.reports.query.athena import QueryStats

DATABASE = "reports"
ANSWER = (
    "STRUCT(predictions VARCHAR[], probabilities DOUBLE[][], inference_ms DOUBLE, "
    "model_version VARCHAR, function_version VARCHAR)"
)
COLUMNS = {
    "prediction_log": {
        "request_id": "VARCHAR",
        "row": "INTEGER",
        "requested_at": "VARCHAR",
        "model_version": "VARCHAR",
        "function_version": "VARCHAR",
        "task": "VARCHAR",
        "prediction": "VARCHAR",
        "probabilities": "DOUBLE[]",
        "features": "DOUBLE[]",
        "shadow_candidate": "VARCHAR",
    },
    "feedback": {
        "schema_version": "INTEGER",
        "request_id": "VARCHAR",
        "row": "INTEGER",
        "label": "VARCHAR",
        "received_at": "VARCHAR",
        "reward": "DOUBLE",
    },
    "shadow_records": {
        "record_id": "VARCHAR",
        "request_id": "VARCHAR",
        "part": "INTEGER",
        "parts": "INTEGER",
        "row_offset": "INTEGER",
        "timestamp": "VARCHAR",
        "inputs": "DOUBLE[][]",
        "live": ANSWER,
        "shadow": ANSWER,
    },
}
PREFIXES = {"prediction_log": "prediction-log", "feedback": "feedback", "shadow_records": "records"}


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    return str(value)


class DuckRunner:
    """`QueryRunner` over a folder laid out as the log bucket."""

    def __init__(self, root: Path) -> None:
        self.connection = duckdb.connect()
        self.connection.execute(f"CREATE SCHEMA {DATABASE}")
        self.queries: list[str] = []
        self.stats = QueryStats()
        for table, columns in COLUMNS.items():
            folder = root / PREFIXES[table]
            folder.mkdir(parents=True, exist_ok=True)
            spec = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"
            pattern = str(folder / "*" / "*" / "*.jsonl.gz")
            has_files = any(folder.glob("*/*/*.jsonl.gz"))
            source = (
                f"read_json('{pattern}', format='newline_delimited', hive_partitioning=true, "
                f"hive_types={{'dt': 'VARCHAR', 'hour': 'INTEGER'}}, ignore_errors=true, columns={spec})"
                if has_files
                else "(SELECT "
                + ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in columns.items())
                + ", CAST(NULL AS VARCHAR) AS dt, CAST(NULL AS INTEGER) AS hour WHERE false)"
            )
            self.connection.execute(f'CREATE VIEW {DATABASE}."{table}" AS SELECT * FROM {source}')

    def rows(self, sql: str) -> list[dict[str, str | None]]:
        self.queries.append(sql)
        self.stats.queries += 1
        (translated,) = sqlglot.transpile(sql, read="trino", write="duckdb")
        cursor = self.connection.execute(translated)
        names = [column[0] for column in cursor.description]
        return [{n: _text(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]
