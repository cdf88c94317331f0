"""The requirement lines of a Lambda function that apply to its target Python and machine.

pip evaluates a line's environment marker against the interpreter running it, not against
`--python-version` and `--platform`, so a dependency with no wheel for one target Python
(`name==1.0; python_version < "3.14"`) would make it look for a wheel that cannot exist. The
bundler selects the lines here, for the target, and passes pip the requirements without markers.
"""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement


def marker_environment(*, python_version: str, machine: str) -> dict[str, str]:
    """What a marker is evaluated against on Lambda: CPython `python_version` on Linux, `machine`."""
    return {
        "implementation_name": "cpython",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "python_full_version": f"{python_version}.0",
        "python_version": python_version,
        "sys_platform": "linux",
    }


def target_requirements(path: Path, *, python_version: str, machine: str) -> list[str]:
    """The requirements of a requirements file (one per line, `#` comments) whose markers hold for
    the target, without their markers."""
    environment = marker_environment(python_version=python_version, machine=machine)
    selected = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        requirement.marker = None
        selected.append(str(requirement))
    return selected
