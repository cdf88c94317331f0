"""CloudWatch: metric alarms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from localcloud.provision import ACCOUNT, Handler, ProvisionedResource, physical_name

if TYPE_CHECKING:
    from localcloud.provision.provisioner import Provisioner


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


HANDLERS: dict[str, Handler] = {
    "AWS::CloudWatch::Alarm": _alarm,
}
