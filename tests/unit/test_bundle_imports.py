"""Each function's code imports only what its bundle ships (functions/<name>/requirements.txt).

A shared module in functions/common that starts importing a third-party package breaks every
function that imports it without shipping that package, and only at deploy time (the local cloud's
workers run with this project's virtualenv, which has everything). Here each function's modules are
imported in a fresh interpreter in which the third-party packages its requirements do not name
cannot be imported.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
THIRD_PARTY = ("numpy", "orjson", "onnxruntime", "pyarrow", "sklearn", "scipy", "pandas")
"""Packages some bundle ships and another does not (boto3 is in every Lambda runtime)."""
DOMAIN_MODULES = {
    "inference": [
        "inference.api",
        "inference.decode",
        "inference.service",
        "inference.log_lines",
        "inference.record_line",
    ],
    "feedback": ["feedback.api", "feedback.service"],
    "monitor": ["monitor.monitor"],
    "shadow": ["shadow.consumer", "shadow.models", "shadow.writer"],
    "precompute_control": ["precompute_control.planner", "precompute_control.switch"],
    "precompute_score": ["precompute_score.scorer"],
    "predictions": ["predictions.lookup"],
    "recorder": ["recorder.recorder", "recorder.lines", "recorder.rows"],
}
"""The modules each handler imports (the handlers themselves read their environment at import)."""


def shipped(function: str) -> set[str]:
    """The packages a function's requirements.txt names (none without one: the runtime's own)."""
    requirements = FUNCTIONS / function / "requirements.txt"
    names: set[str] = set()
    if not requirements.is_file():
        return names
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(re.split(r"[\[=<>~! ]", line, maxsplit=1)[0].lower().replace("-", "_"))
    return names


@pytest.mark.parametrize("function", sorted(DOMAIN_MODULES))
def test_a_function_imports_only_what_its_bundle_ships(function: str) -> None:
    blocked = sorted(set(THIRD_PARTY) - shipped(function))
    probe = (
        "import importlib.abc, sys\n"
        f"blocked = {blocked!r}\n"
        "class NotInTheBundle(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in blocked:\n"
        "            raise ImportError(f'{name} is not in this bundle')\n"
        "        return None\n"
        "sys.meta_path.insert(0, NotInTheBundle())\n"
        + "".join(f"import {module}\n" for module in DOMAIN_MODULES[function])
    )
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(FUNCTIONS)}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{function} (blocked: {blocked}):\n{result.stderr[-2000:]}"


def test_every_bundled_function_is_checked() -> None:
    bundled = {path.parent.name for path in FUNCTIONS.glob("*/handler.py")} - {"retraining"}
    assert bundled == set(DOMAIN_MODULES)  # retraining is a container image with its own pins
