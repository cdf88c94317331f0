"""SnapStart on the inference function's published versions (`serving.snapstart`).

Set on the CloudFormation resource (`SnapStart: {ApplyOn: PublishedVersions}`): the function's
other properties are built by `python_function`, shared by every function of the app, and only
the inference function takes a snapshot. The config rejects what Lambda does not combine with
it (provisioned concurrency); the runtimes it allows (Python 3.12+) all support SnapStart.
docs/performance.md states the trade-offs; functions/inference/snapstart.py holds the hooks.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_

APPLY_ON = "PublishedVersions"


def apply_snapstart(function: lambda_.Function, *, enabled: bool) -> None:
    """SnapStart on every version published from now on; nothing when `enabled` is false."""
    if not enabled:
        return
    resource = function.node.default_child
    assert isinstance(resource, lambda_.CfnFunction)
    resource.snap_start = lambda_.CfnFunction.SnapStartProperty(apply_on=APPLY_ON)
