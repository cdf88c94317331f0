"""checkov, an independent IaC scanner, on every synthesized template of each set of options.

It runs from its own environment (`.venv-checkov/`, built by `make test` from
requirements-checkov.txt) so its pins never touch the project's. Every finding is fixed or skipped on
its resource's `Metadata.checkov.skip` with a reason (`infra.nag.checkov_skip`), and every skipped
check is listed in docs/security.md.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from tests.unit.infra.infra_support import REPO_ROOT, SynthesizedApp

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
SECURITY_DOC = REPO_ROOT / "docs" / "security.md"


def write_templates(app: SynthesizedApp, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for stack in (child for child in app.app.node.children if isinstance(child, cdk.Stack)):
        template = Template.from_stack(stack).to_json()
        (folder / f"{stack.stack_name}.template.json").write_text(json.dumps(template), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def checkov_report(
    synthesized: SynthesizedApp,
    iam_cors_app: SynthesizedApp,
    open_app: SynthesizedApp,
    tmp_path_factory: pytest.TempPathFactory,
) -> list[dict[str, Any]]:
    if not CHECKOV.exists():
        pytest.skip(f"checkov's tool environment is absent ({CHECKOV}); `make test` creates it")
    root = tmp_path_factory.mktemp("checkov")
    folders = [
        write_templates(app, root / name)
        for name, app in (("default", synthesized), ("iam_cors", iam_cors_app), ("open", open_app))
    ]
    command = [str(CHECKOV), "--framework", "cloudformation", "--output", "json", "--compact"]
    for folder in folders:
        command += ["--directory", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert done.stdout.strip(), done.stderr[-2000:]
    return parse_reports(done.stdout)


def parse_reports(output: str) -> list[dict[str, Any]]:
    """checkov prints one JSON report per scanned folder, one after the other."""
    decoder, reports, at = json.JSONDecoder(), [], 0
    while at < len(output):
        if output[at].isspace():
            at += 1
            continue
        report, at = decoder.raw_decode(output, at)
        reports.extend(report if isinstance(report, list) else [report])
    return reports


def test_checkov_finds_nothing_unskipped(checkov_report: list[dict[str, Any]]) -> None:
    assert len(checkov_report) == 3
    failed = [
        (check["check_id"], check["file_path"], check["resource"])
        for report in checkov_report
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    for report in checkov_report:
        assert report["summary"]["resource_count"] > 100  # all five stacks were read


def test_every_checkov_skip_has_its_reason_and_is_documented(checkov_report: list[dict[str, Any]]) -> None:
    skipped = [check for report in checkov_report for check in report["results"].get("skipped_checks", [])]
    assert skipped, "the templates declare skips: checkov did not read their metadata"
    documented = SECURITY_DOC.read_text(encoding="utf-8")
    for check in skipped:
        reason = check.get("check_result", {}).get("suppress_comment", "")
        assert len(reason) > 40, (check["check_id"], check["resource"], reason)
        assert f"`{check['check_id']}`" in documented, check["check_id"]
