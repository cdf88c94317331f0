"""Which engine a report runs on: `--engine local` reads the log bucket in this process, `athena`
runs the report's SQL in the shadow stack's Athena workgroup, `auto` takes Athena when the window is
longer than `AUTO_ATHENA_AFTER` and the stack has the workgroup, and the in-process reader
otherwise. The local cloud (an endpoint on this machine: moto has no Athena engine) always reads in
process; asking it for `athena` is refused."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

from modelctl.reports.query.athena import AthenaRunner
from modelctl.reports.query.sql import Tables
from release.aws import aws_errors
from release.errors import ReleaseError, ShadowError
from release.target import OutputsSource

AUTO_ATHENA_AFTER = timedelta(days=7)
OUTPUTS = {
    "work_group": "QueryWorkGroup",
    "database": "QueryDatabase",
    "prediction_log": "PredictionLogTable",
    "feedback": "FeedbackTable",
    "shadow_records": "ShadowRecordsTable",
}


class Engine(StrEnum):
    LOCAL = "local"
    ATHENA = "athena"
    AUTO = "auto"


ENGINE_HELP = (
    "where the aggregation runs: local (read the log in this process), athena (the shadow stack's "
    f"workgroup) or auto (athena for windows over {AUTO_ATHENA_AFTER.days} days when deployed)"
)


@dataclass(frozen=True)
class QueryTarget:
    work_group: str
    tables: Tables


def is_local_endpoint(env: Mapping[str, str]) -> bool:
    host = urlparse(env.get("AWS_ENDPOINT_URL", "")).hostname
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def query_target(source: OutputsSource, shadow_stack: str) -> QueryTarget | None:
    """The workgroup and tables from the shadow stack's outputs; None when it has none (deployed
    before the query construct)."""
    with aws_errors(f"reading the outputs of {shadow_stack}", ShadowError):
        outputs = source.outputs(shadow_stack)
    if not all(outputs.get(name) for name in OUTPUTS.values()):
        return None
    return QueryTarget(
        work_group=outputs[OUTPUTS["work_group"]],
        tables=Tables(
            database=outputs[OUTPUTS["database"]],
            prediction_log=outputs[OUTPUTS["prediction_log"]],
            feedback=outputs[OUTPUTS["feedback"]],
            shadow_records=outputs[OUTPUTS["shadow_records"]],
        ),
    )


def choose(
    engine: str,
    *,
    span: timedelta,
    env: Mapping[str, str],
    target: Callable[[], QueryTarget | None],
) -> QueryTarget | None:
    """The Athena target to run on, or None for the in-process reader."""
    try:
        chosen = Engine(engine)
    except ValueError:
        raise ShadowError(f"--engine {engine!r} is not one of local, athena, auto") from None
    if chosen is Engine.LOCAL:
        return None
    if is_local_endpoint(env):
        if chosen is Engine.ATHENA:
            raise ShadowError(
                "--engine athena: the local cloud has no Athena engine (moto runs no queries); "
                "use --engine local or auto"
            )
        return None
    if chosen is Engine.AUTO:
        if span <= AUTO_ATHENA_AFTER:
            return None
        try:
            return target()
        except ReleaseError:  # outputs unreadable: the in-process reader says what is missing, if anything
            return None
    found = target()
    if found is None and chosen is Engine.ATHENA:
        raise ShadowError(
            "--engine athena: the shadow stack has no QueryWorkGroup output: deploy it with this "
            "version (`make deploy`), or use --engine local"
        )
    return found


def row_engine(engine: str, *, per_row: bool) -> str:
    """The engine of a report that needs every labelled row (a business metric: a cost matrix, a
    reward or the user's function): `local`; asking for `athena` is refused."""
    if not per_row:
        return engine
    if engine == Engine.ATHENA:
        raise ShadowError(
            "--engine athena computes the reports from aggregates; a business metric (--cost-matrix, "
            "--business-metric) needs every labelled row: use --engine local or auto"
        )
    return Engine.LOCAL.value


def runner(athena: Any, target: QueryTarget) -> AthenaRunner:
    return AthenaRunner(athena, work_group=target.work_group, database=target.tables.database)


def for_report(factory: Any, engine: str, span: timedelta) -> tuple[AthenaRunner, Tables] | None:
    """The Athena runner and tables a report command runs on, or None for the in-process reader
    (`factory`: the CLI's `modelctl.factory.Factory`)."""
    from release.shadow.resources import SHADOW_OTHERWISE

    def found() -> QueryTarget | None:
        return query_target(factory.outputs(SHADOW_OTHERWISE), factory.shadow_target.shadow_stack)

    target = choose(engine, span=span, env=factory.env, target=found)
    if target is None:
        return None
    return runner(factory.shadow_clients.client("athena"), target), target.tables
