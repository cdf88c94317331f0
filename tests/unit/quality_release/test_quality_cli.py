"""`modelctl canary|shift --quality-gate ...`: the options reach the plan; bad ones are one-line errors."""

from __future__ import annotations

import pytest

from modelctl.factory import Factory
from tests.unit.modelctl.world import World, run_cli


def factory(world: World) -> Factory:
    return world.factory(env={**world.env, "MODELCTL_LOG_BUCKET": "logs"})


def test_the_dry_run_shows_the_quality_gate(world: World) -> None:
    code, output, _ = run_cli(
        factory(world), "canary", "2", "--in-process", "--weight", "10", "--quality-gate", "accuracy",
        "--quality-max-wait", "30m", "--dry-run",
    )  # fmt: skip
    assert code == 0, output
    assert "quality gate: accuracy, margin 0.01, at least 200 labelled rows" in output
    assert "waiting at most 1800s" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("canary", "2", "--quality-gate", "mae"), "give --quality-margin"),
        (("canary", "2", "--quality-gate", "f1"), "is not one of accuracy, mae, rmse, business"),
        (("canary", "2", "--quality-margin", "0.1"), "need --quality-gate"),
        (("canary", "2", "--quality-gate", "business", "--quality-margin", "1"), "needs a business metric"),
        (("canary", "2", "--quality-gate", "business", "--quality-margin", "1", "--business-metric", "x:y"),
         "cannot import x"),
        (("bluegreen", "2", "--quality-gate", "accuracy"), "no step below 100%"),
        (("canary", "2", "--quality-gate", "accuracy", "--quality-max-wait", "soon"), "--quality-max-wait"),
    ],
)  # fmt: skip
def test_bad_quality_options_are_one_line_errors(world: World, args: tuple[str, ...], message: str) -> None:
    code, output, _ = run_cli(factory(world), *args, "--dry-run")
    assert code != 0 and message in output, output
    assert world.alias_routing() == ("1", {})
