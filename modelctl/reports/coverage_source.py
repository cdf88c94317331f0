"""The coverage section from the CLI's collaborators: the serving function's counter (its metrics
namespace and service from its configuration) read with the factory's CloudWatch client."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelctl.reports.coverage import SERVED_METRIC, CounterSource, RequestCounter, measure

if TYPE_CHECKING:
    from modelctl.factory import Factory


def served_coverage(
    factory: Factory,
    counter: RequestCounter,
    *,
    since: datetime,
    until: datetime,
    found_what: str,
    metric: str = SERVED_METRIC,
) -> dict[str, Any]:
    """`coverage.measure` for the serving function of the factory's shadow target."""
    clients = factory.clients
    source: CounterSource | Exception
    try:
        source = CounterSource.of_function(clients.lambda_, factory.shadow_target.function_name, metric)
    except Exception as exc:  # no function, no permission: the section says so
        source = exc
    return measure(
        cloudwatch=clients.cloudwatch,
        source=source,
        counter=counter,
        since=since,
        until=until,
        found_what=found_what,
    )
