"""The stack's business metric: checked when the config is read, handed to the monitor as JSON."""

from __future__ import annotations

import json

import pytest

from infra.config.checks import ConfigError
from infra.config.monitor import MonitorConfig
from infra.constructs.monitor import business_metric_environment


def test_a_configured_metric_reaches_the_monitor_as_its_document() -> None:
    assert json.loads(business_metric_environment("reward")["BUSINESS_METRIC"]) == {
        "kind": "reward",
        "higher_is_better": True,
    }
    document = json.loads(
        business_metric_environment("!common.usermetrics.example:profit")["BUSINESS_METRIC"]
    )
    assert document == {
        "kind": "function",
        "function": "common.usermetrics.example:profit",
        "higher_is_better": False,
    }
    assert business_metric_environment("") == {}


@pytest.mark.parametrize(
    "spec", ["common.usermetrics.example:nothing", "no_module_here:f", '{"0": {"1": -2}}']
)
def test_a_bad_metric_fails_the_config_naming_the_key(spec: str) -> None:
    with pytest.raises(ConfigError, match="monitor_business_metric"):
        MonitorConfig(business_metric=spec)
