"""Which requirements a bundle installs for its target Python, and the extensions stripped of
their debug information."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.bundling import FUNCTIONS_DIR, strip_debug_info
from infra.target_requirements import target_requirements


def test_markers_are_evaluated_for_the_target_not_this_interpreter(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# a comment\n"
        "numpy==2.4.*\n"
        "\n"
        'pysimdjson==7.0.2; python_version < "3.14"  # no wheel for 3.14\n'
        "aws-lambda-powertools[tracer]==3.37.0\n"
        "only-on-x86==1.0; platform_machine == 'x86_64'\n"
    )
    common = ["numpy==2.4.*", "aws-lambda-powertools[tracer]==3.37.0"]
    assert target_requirements(requirements, python_version="3.13", machine="aarch64") == [
        "numpy==2.4.*",
        "pysimdjson==7.0.2",
        "aws-lambda-powertools[tracer]==3.37.0",
    ]
    assert target_requirements(requirements, python_version="3.14", machine="aarch64") == common
    assert target_requirements(requirements, python_version="3.14", machine="x86_64") == [
        *common,
        "only-on-x86==1.0",
    ]


@pytest.mark.parametrize("python_version", ["3.12", "3.13", "3.14"])
def test_the_inference_function_parses_large_bodies_where_a_wheel_exists(python_version: str) -> None:
    wanted = target_requirements(
        FUNCTIONS_DIR / "inference" / "requirements.txt", python_version=python_version, machine="aarch64"
    )
    assert ("pysimdjson==7.0.2" in wanted) is (python_version != "3.14")
    assert "orjson==3.13.0" in wanted


def test_an_extension_shipped_with_debug_information_is_stripped_of_it(tmp_path: Path) -> None:
    simdjson = pytest.importorskip("csimdjson", reason="pysimdjson is not installed")
    if shutil.which("strip") is None:
        pytest.skip("no binutils strip on this machine")
    copy = tmp_path / Path(str(simdjson.__file__)).name
    shutil.copyfile(str(simdjson.__file__), copy)
    strip_debug_info(tmp_path)
    assert copy.stat().st_size < Path(str(simdjson.__file__)).stat().st_size
