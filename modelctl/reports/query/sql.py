"""The reports' aggregations as SQL for Athena (Trino dialect) over the Glue tables of the log
bucket (infra/constructs/query.py). Each query returns small aggregates (counts, sums, sums of
squares, confusion counts) from which `modelctl.reports.query` builds the same documents the
in-process readers build.

Semantics kept from the in-process code:
- a window is [since, until) of the request time; every query names the hour partitions of its
  window (`partition_filter`), so Athena scans those objects only;
- a prediction row counts once per (request id, row), a shadow record once per record id (copies
  are counted as duplicates);
- feedback is read from the hour of `since` up to `feedback_until` (or `until` if later), and the
  latest label per (request id, row) wins (`max_by` on the time of receipt);
- a malformed line (the SerDe reads it as nulls) is skipped.

Literals are formatted here (never user text: times, versions and edges the CLI computed), the
`row` and `timestamp` columns are quoted (keywords in Trino).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from common.mirror.message import format_timestamp

ISO_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class Tables:
    """Where the queries read: the Glue database and its three tables (the shadow stack's outputs)."""

    database: str
    prediction_log: str = "prediction_log"
    feedback: str = "feedback"
    shadow_records: str = "shadow_records"

    def name(self, table: str) -> str:
        return f'"{self.database}"."{table}"'


def text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def double(value: float) -> str:
    """A DOUBLE literal that reads back as exactly `value` (exponent form: never a DECIMAL)."""
    return f"{value:.17e}"


def epoch_us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def partition_filter(since: datetime, until: datetime) -> str:
    """The hour partitions holding moments in [since, until): `dt` (a yyyy-MM-dd string) and
    `hour` (an integer), as partition projection prunes them."""
    first = since.astimezone(UTC)
    last = (until - timedelta(microseconds=1)).astimezone(UTC)
    if last < first:
        last = first
    d0, d1 = text(f"{first:%Y-%m-%d}"), text(f"{last:%Y-%m-%d}")
    return (
        f"dt BETWEEN {d0} AND {d1} AND (dt > {d0} OR hour >= {first.hour}) "
        f"AND (dt < {d1} OR hour <= {last.hour})"
    )


def _at_ms(column: str) -> str:
    """Milliseconds since the epoch of an ISO time column; NULL when it is not one."""
    return (
        f"CASE WHEN regexp_like({column}, {text(ISO_TIME)}) THEN CAST(floor(to_unixtime("
        f"from_iso8601_timestamp({column})) * 1000 + 0.5) AS BIGINT) END"
    )


def _window_ms(since: datetime, until: datetime) -> tuple[int, int]:
    """[since, until) in whole milliseconds (the log's precision): a row's time t (ms) is in the
    window when since_ms <= t < until_ms (ceilings: a time in ms is >= since iff >= ceil(since))."""
    return -(-epoch_us(since) // 1000), -(-epoch_us(until) // 1000)


def _joined(
    tables: Tables, *, since: datetime, until: datetime, feedback_until: datetime, window: timedelta
) -> str:
    """CTEs: `rows_in` (the window's log rows, every copy, with `copy` = 1 for the first),
    `feedback_items` (valid feedback lines), `labels` (latest label per key), `joined`."""
    since_ms, until_ms = _window_ms(since, until)
    window_us = max(1, int(window / timedelta(microseconds=1)))
    feedback_end = max(feedback_until, until)
    return f"""WITH log AS (
  SELECT request_id, "row", model_version, function_version, task, prediction, features,
    {_at_ms("requested_at")} AS at_ms
  FROM {tables.name(tables.prediction_log)}
  WHERE {partition_filter(since, until)}
    AND request_id IS NOT NULL AND "row" IS NOT NULL AND "row" >= 0
    AND model_version IS NOT NULL AND function_version IS NOT NULL
),
rows_in AS (
  SELECT *, row_number() OVER (PARTITION BY request_id, "row") AS copy,
    CAST(floor(CAST(at_ms * 1000 - {epoch_us(since)} AS DOUBLE) / {window_us}) AS BIGINT) AS window_index
  FROM log WHERE at_ms >= {since_ms} AND at_ms < {until_ms}
),
feedback_items AS (
  SELECT request_id, "row", label, received_at
  FROM {tables.name(tables.feedback)}
  WHERE {partition_filter(since, feedback_end)}
    AND schema_version = 1 AND request_id IS NOT NULL AND request_id <> '' AND "row" IS NOT NULL
    AND "row" >= 0 AND label IS NOT NULL AND received_at IS NOT NULL
),
labels AS (
  SELECT request_id, "row", max_by(label, received_at) AS label
  FROM feedback_items GROUP BY request_id, "row"
),
joined AS (
  SELECT r.*, l.label,
    CASE WHEN r.task = 'regression' AND l.label IS NOT NULL
      THEN try_cast(r.prediction AS DOUBLE) - try_cast(l.label AS DOUBLE) END AS error
  FROM rows_in r LEFT JOIN labels l ON r.request_id = l.request_id AND r."row" = l."row"
)"""


def cells_query(
    tables: Tables, *, since: datetime, until: datetime, feedback_until: datetime, window: timedelta
) -> str:
    """One row per (window, model version, function version, task, label, prediction) of a
    classifier (label and prediction NULL for a regressor's cells), with its prediction rows,
    labelled rows and error sums; and one row of `kind` 'feedback' with the feedback's counts.

    Columns: kind, window_index, model_version, function_version, task, label, prediction,
    predictions, duplicates, labelled, scored, error_sum, absolute_sum, squared_sum."""
    joined = _joined(tables, since=since, until=until, feedback_until=feedback_until, window=window)
    classifier = "task IS DISTINCT FROM 'regression'"
    return f"""{joined}
SELECT 'cell' AS kind, window_index, model_version, function_version, task,
  CASE WHEN {classifier} THEN label END AS label,
  CASE WHEN {classifier} THEN prediction END AS prediction,
  count_if(copy = 1) AS predictions,
  count_if(copy > 1) AS duplicates,
  count_if(copy = 1 AND label IS NOT NULL) AS labelled,
  count_if(copy = 1 AND error IS NOT NULL) AS scored,
  sum(CASE WHEN copy = 1 THEN error END) AS error_sum,
  sum(CASE WHEN copy = 1 THEN abs(error) END) AS absolute_sum,
  sum(CASE WHEN copy = 1 THEN error * error END) AS squared_sum
FROM joined
GROUP BY window_index, model_version, function_version, task,
  CASE WHEN {classifier} THEN label END, CASE WHEN {classifier} THEN prediction END
UNION ALL
SELECT 'feedback', NULL, NULL, NULL, NULL, NULL, NULL,
  (SELECT count(*) FROM labels), NULL, count(*), NULL, NULL, NULL, NULL
FROM feedback_items"""


@dataclass(frozen=True)
class VersionBaseline:
    """A model version's drift bins: per feature (0-based, in the model's order) its edges; the
    row width a model of that version sees."""

    model_version: str
    width: int
    edges: Mapping[int, Sequence[float]]


def drift_query(
    tables: Tables,
    baselines: Sequence[VersionBaseline],
    *,
    since: datetime,
    until: datetime,
    window: timedelta,
) -> str:
    """Bin counts per (window, model version, feature, bin) of the rows that carry inputs of the
    model's width; bin i holds edges[i-1] <= x < edges[i] (bisect_right: edges <= x).

    Columns: window_index, model_version, feature (0-based), bin, rows."""
    values = ",\n    ".join(
        f"({text(b.model_version)}, {index + 1}, {b.width}, "
        f"ARRAY[{', '.join(double(edge) for edge in edges)}])"
        for b in baselines
        for index, edges in sorted(b.edges.items())
        if edges
    )
    joined = _joined(tables, since=since, until=until, feedback_until=until, window=window)
    return f"""{joined},
baseline (model_version, feature, width, edges) AS (
  VALUES
    {values}
)
SELECT window_index, model_version, feature, bin, count(*) AS rows
FROM (
  SELECT r.window_index, r.model_version, b.feature - 1 AS feature,
    cardinality(filter(b.edges, e -> e <= f.value)) AS bin
  FROM rows_in r
  CROSS JOIN UNNEST(r.features) WITH ORDINALITY AS f (value, feature)
  JOIN baseline b ON b.model_version = r.model_version AND b.feature = f.feature
  WHERE r.copy = 1 AND r.features IS NOT NULL AND cardinality(r.features) = b.width
) binned
GROUP BY window_index, model_version, feature, bin"""


def _records(tables: Tables, since: datetime, until: datetime) -> str:
    rows = "cardinality(live.predictions)"
    return f"""WITH records AS (
  SELECT record_id, request_id, part, row_offset, "timestamp", inputs, live, shadow,
    row_number() OVER (PARTITION BY record_id) AS copy
  FROM {tables.name(tables.shadow_records)}
  WHERE {partition_filter(since, until)}
    AND record_id IS NOT NULL AND record_id <> '' AND "timestamp" IS NOT NULL
    AND "timestamp" >= {text(format_timestamp(since.timestamp()))}
    AND "timestamp" < {text(format_timestamp(until.timestamp()))}
    AND live IS NOT NULL AND shadow IS NOT NULL AND live.inference_ms IS NOT NULL
    AND shadow.inference_ms IS NOT NULL AND {rows} > 0
    AND cardinality(shadow.predictions) = {rows} AND cardinality(live.probabilities) = {rows}
    AND cardinality(shadow.probabilities) = {rows}
)"""


def shadow_records_query(tables: Tables, *, since: datetime, until: datetime) -> str:
    """Per hour of request time: records (first copies), duplicates, requests (part 0), and the live
    (part 0) and shadow inference times' counts and sums.

    Columns: hour, records, duplicates, requests, live_ms_count, live_ms_sum, shadow_ms_count,
    shadow_ms_sum."""
    live_ms = "CASE WHEN copy = 1 AND part = 0 THEN live.inference_ms END"
    shadow_ms = "CASE WHEN copy = 1 THEN shadow.inference_ms END"
    return f"""{_records(tables, since, until)}
SELECT substr("timestamp", 1, 13) AS hour,
  count_if(copy = 1) AS records, count_if(copy > 1) AS duplicates,
  count_if(copy = 1 AND part = 0) AS requests,
  count({live_ms}) AS live_ms_count, sum({live_ms}) AS live_ms_sum,
  count({shadow_ms}) AS shadow_ms_count, sum({shadow_ms}) AS shadow_ms_sum
FROM records
GROUP BY substr("timestamp", 1, 13)"""


def shadow_totals_query(tables: Tables, *, since: datetime, until: datetime) -> str:
    """Over the window, in one pass: the inference times' (live: part 0; each record's first row
    carries its times) and the probability differences' approximate quantiles (`approx_percentile`)
    and maxima.

    Columns: live_p50, live_p99, live_max, shadow_p50, shadow_p99, shadow_max, difference_p50,
    difference_p90, difference_p99, difference_max."""
    live = "CASE WHEN i = 1 AND part = 0 THEN live_ms END"
    shadow = "CASE WHEN i = 1 THEN shadow_ms END"
    return f"""{_scored(tables, since, until)}
SELECT approx_percentile({live}, 0.5) AS live_p50, approx_percentile({live}, 0.99) AS live_p99,
  max({live}) AS live_max,
  approx_percentile({shadow}, 0.5) AS shadow_p50, approx_percentile({shadow}, 0.99) AS shadow_p99,
  max({shadow}) AS shadow_max,
  approx_percentile(difference, 0.5) AS difference_p50, approx_percentile(difference, 0.9) AS difference_p90,
  approx_percentile(difference, 0.99) AS difference_p99, max(difference) AS difference_max
FROM scored"""


def shadow_top_query(tables: Tables, *, since: datetime, until: datetime, top: int) -> str:
    """The `top` rows that differ most: label disagreements first, then by probability difference.

    Columns: request_id, row, timestamp, live_label, shadow_label, live_probabilities,
    shadow_probabilities, difference, inputs."""
    return f"""{_scored(tables, since, until)}
SELECT request_id, coalesce(row_offset, 0) + i - 1 AS "row", "timestamp", live_label, shadow_label,
  lp AS live_probabilities, sp AS shadow_probabilities, difference, input AS inputs
FROM scored
WHERE difference IS NOT NULL
ORDER BY CASE WHEN live_label = shadow_label THEN 0 ELSE 1 END DESC, difference DESC
LIMIT {int(top)}"""


def _scored(tables: Tables, since: datetime, until: datetime) -> str:
    """CTEs `records` and `scored`: one row per answered row of the first copies, with its labels,
    probabilities, probability difference (max over classes of |p_shadow - p_live|) and the second
    class's signed difference (two classes)."""
    difference = (
        "CASE WHEN cardinality(lp) = cardinality(sp) AND cardinality(lp) > 0 THEN "
        "array_max(transform(sequence(1, cardinality(lp)), k -> abs(sp[k] - lp[k]))) END"
    )
    return f"""{_records(tables, since, until)},
answers AS (
  SELECT r.request_id, r.row_offset, r."timestamp", r.part, u.i, substr(r."timestamp", 1, 13) AS hour,
    r.live.inference_ms AS live_ms, r.shadow.inference_ms AS shadow_ms,
    coalesce(r.live.model_version, 'None') AS live_model,
    coalesce(r.shadow.model_version, 'None') AS shadow_model,
    coalesce(r.live.function_version, 'None') AS live_function,
    element_at(r.live.predictions, u.i) AS live_label,
    element_at(r.shadow.predictions, u.i) AS shadow_label,
    element_at(r.live.probabilities, u.i) AS lp,
    element_at(r.shadow.probabilities, u.i) AS sp,
    CASE WHEN cardinality(r.inputs) >= u.i THEN element_at(r.inputs, u.i) END AS input
  FROM records r
  CROSS JOIN UNNEST(sequence(1, cardinality(r.live.predictions))) AS u (i)
  WHERE r.copy = 1
),
scored AS (
  SELECT *, {difference} AS difference,
    CASE WHEN cardinality(lp) = 2 AND cardinality(sp) = 2 THEN sp[2] - lp[2] END AS signed
  FROM answers
)"""


def shadow_rows_query(tables: Tables, *, since: datetime, until: datetime) -> str:
    """Per (hour, live model, shadow model, live function version, live label, shadow label,
    histogram bin): rows, the probability differences' count and sum (max over classes of
    |p_shadow - p_live|; bin = which of 20 equal bins over [0, 1] it falls in), the second class's
    signed difference (two classes), and rows whose answer looks like a regressor's (a number with
    a fraction or an exponent).

    Columns: hour, live_model, shadow_model, live_function, live_label, shadow_label, bin, rows,
    differences, difference_sum, signed_count, signed_sum, numeric_answers."""
    bins = HISTOGRAM_BINS
    return f"""{_scored(tables, since, until)}
SELECT hour, live_model, shadow_model, live_function, live_label, shadow_label,
  CASE WHEN difference >= 0 AND difference <= 1
    THEN least(CAST(floor(difference * {bins}) AS BIGINT), {bins - 1}) END AS bin,
  count(*) AS rows, count(difference) AS differences, sum(difference) AS difference_sum,
  count(signed) AS signed_count, sum(signed) AS signed_sum,
  count_if(regexp_like(live_label, '^-?[0-9]+[.eE]|^-?[0-9]*[.][0-9]')) AS numeric_answers
FROM scored
GROUP BY hour, live_model, shadow_model, live_function, live_label, shadow_label,
  CASE WHEN difference >= 0 AND difference <= 1
    THEN least(CAST(floor(difference * {bins}) AS BIGINT), {bins - 1}) END"""
