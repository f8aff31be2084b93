"""`make review BASE=HEAD~1` in a throw-away git repository (a copy of this repository's tracked files whose
app.py is tests/apps/memory_stages.py, the product's memory stack alone, and one stage, to keep the three
syntheses short): a new wildcard is a security change, a renamed memory is a replacement that
blocks the retained stage unless acknowledged, an unrelated commit changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

# One worker runs them in order: each review's base is the previous one's head, kept in the review cache.
pytestmark = pytest.mark.xdist_group("change-review")

# Appended to app.py by the commits under test: each wraps build_app the way a code change would alter it.
WILDCARD = """
def _with_wildcard(build):
    def wrapped(app):
        import aws_cdk as cdk
        from aws_cdk import aws_iam as iam

        stages = build(app)
        for stage in stages:
            # Its own policy: the stage's policies accept only the allow-listed wildcards.
            role = next(c for c in stage.memory.node.find_all() if isinstance(c, iam.Role))
            probe = iam.Policy(
                stage.memory,
                "Probe",
                roles=[role],
                statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"])],
            )
            for rule in ("AwsSolutions-IAM5[Resource::*]", "NIST.800.53.R5-IAMNoInlinePolicy"):
                cdk.Validations.of(probe).acknowledge(
                    cdk.Acknowledgment(id=rule, reason="probe of the change review")
                )
        return stages

    return wrapped


build_app = _with_wildcard(build_app)
"""
RENAME = """
def _with_renamed_memory(build):
    def wrapped(app):
        import aws_cdk as cdk

        stages = build(app)
        for stage in stages:
            memory = next(
                c for c in stage.memory.node.find_all()
                if cdk.CfnResource.is_cfn_resource(c)
                and c.cfn_resource_type == "AWS::BedrockAgentCore::Memory"
            )
            memory.add_property_override("Name", f"agentcore_{stage.stage_name}_memory_renamed")
        return stages

    return wrapped


build_app = _with_renamed_memory(build_app)
"""
ANCHOR = '\nif __name__ == "__main__":'


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm", message)


def _patch_app(repo: Path, code: str) -> None:
    app = repo / "app.py"
    source = app.read_text()
    assert ANCHOR in source
    app.write_text(source.replace(ANCHOR, code + ANCHOR, 1))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """Commits: base (memory stack, prod only) -> wildcard statement -> renamed memory -> README only."""
    repo = tmp_path_factory.mktemp("change-review") / "repo"
    for name in _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0"):
        if name and (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    shutil.copy2(ROOT / "tests" / "apps" / "memory_stages.py", repo / "app.py")
    for name in (".venv", "node_modules"):
        (repo / name).symlink_to((ROOT / name).resolve())
    cdk_json = json.loads((repo / "cdk.json").read_text())
    stages = cdk_json["context"]["agentcore:stages"]
    cdk_json["context"]["agentcore:stages"] = {"prod": stages["prod"]}
    (repo / "cdk.json").write_text(json.dumps(cdk_json, indent=2))
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, "base")
    _patch_app(repo, WILDCARD)
    _commit(repo, "wildcard")
    _patch_app(repo, RENAME)
    _commit(repo, "rename memory")
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nA line.\n")
    _commit(repo, "docs only")
    return repo


@dataclass
class Review:
    code: int
    report: str
    out: str
    err: str
    html: str = ""


def _review(repo: Path, commit: str) -> Review:
    """Check out `commit` (HEAD~n of main) and run `make review BASE=<commit>~1` there."""
    _git(repo, "checkout", "-q", "--detach", commit)
    # -o install: the copy shares this checkout's installed .venv and node_modules (nothing to install).
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", "install", "review", f"BASE={commit}~1"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))},
    )
    report, page = repo / "cdk.out" / "review" / "review.md", repo / "cdk.out" / "review" / "index.html"
    return Review(
        result.returncode,
        report.read_text() if report.exists() else "",
        result.stdout,
        result.stderr,
        page.read_text() if page.exists() else "",
    )


def _section(report: str, title: str) -> str:
    return report.split(f"### {title}", 1)[1].split("\n### ", 1)[0]


def _stateful_row(report: str) -> str:
    stateful = _section(report, "Stateful resources replaced or deleted")
    return next(line for line in stateful.splitlines() if "AWS::BedrockAgentCore::Memory" in line)


@pytest.fixture(scope="module")
def reviews(repo: Path) -> dict[str, Review]:
    """The commits reviewed in history order, as a developer would (each base is the previous head)."""
    done = {"wildcard": _review(repo, "main~2"), "rename": _review(repo, "main~1")}
    # Acknowledged: the same review (head already synthesized) run again with ALLOW_REPLACE.
    logical_id = _stateful_row(done["rename"].report).split("|")[2].strip()
    accepted = subprocess.run(
        [str(repo / ".venv/bin/python"), "-m", "review", "--base", "HEAD~1", "--allow-replace", logical_id],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    report = (repo / "cdk.out" / "review" / "review.md").read_text()
    done["accepted"] = Review(accepted.returncode, report, accepted.stdout, accepted.stderr)
    done["unchanged"] = _review(repo, "main")
    return done


def test_a_wildcard_statement_is_a_security_change(reviews):
    review = reviews["wildcard"]
    assert review.code == 0, review.err
    security = _section(review.report, "Security changes")
    row = next(line for line in security.splitlines() if "s3:GetObject" in line)
    assert row.startswith("| prod/Memory | + | ⚠️ **broadens** | Allow |") and "⚠️ **\\***" in row
    assert "Permissions broadened in: prod/Memory." in security
    assert "No stateful resource is replaced or deleted." in review.report


def test_a_renamed_memory_is_a_replacement_that_blocks_the_retained_stage(reviews):
    review = reviews["rename"]
    assert review.code != 0
    assert "prod/Memory: AWS::BedrockAgentCore::Memory" in review.err and "would be replaced" in review.err
    row = _stateful_row(review.report)
    assert "⚠️ **replaced**" in row and "| Name |" in row and "blocked: retained stage" in row
    assert "No security changes." in _section(review.report, "Security changes")
    accepted = reviews["accepted"]
    assert accepted.code == 0, accepted.err
    assert "accepted by ALLOW_REPLACE" in _section(accepted.report, "Stateful resources replaced or deleted")


def test_an_unrelated_commit_changes_nothing(reviews):
    review = reviews["unchanged"]
    assert review.code == 0, review.err
    assert "no changes." in review.report.split("### Security changes", 1)[0]
    assert "No security changes." in review.report and "No changes." in review.report


def test_each_commit_is_synthesized_once(reviews):
    """A reviewed head is kept and serves as the next review's base; an unchanged head is not synthesized."""
    assert "from the review cache" not in reviews["wildcard"].out  # its base was never synthesized before
    for name in ("rename", "accepted", "unchanged"):
        assert "from the review cache" in reviews[name].out, name
    assert "synth --quiet" in reviews["rename"].out  # app.py changed: the head is synthesized again
    assert "synth --quiet" not in reviews["unchanged"].out  # only README.md changed: cdk.out is current


def test_at_1280_px_the_first_screen_says_what_blocks_and_nothing_overflows(reviews, browser_page, tmp_path):
    """The page a reviewer opens (issue 26): the decision first, tables and raw diffs within the window."""
    review = reviews["rename"]
    page_file = tmp_path / "index.html"
    page_file.write_text(review.html)
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(page_file.as_uri(), wait_until="load")
    decision = page.locator("section#decision")
    assert decision.bounding_box()["y"] < 800
    assert "prod/Memory" in decision.inner_text() and "ALLOW_REPLACE=" in decision.inner_text()
    folds = page.locator("details")
    assert folds.count() > 0
    assert page.evaluate("[...document.querySelectorAll('details')].every(d => !d.open)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # raw diffs wrap too
    assert "CDKMetadata" not in review.html and "AWS::CDK::Metadata" not in review.html
