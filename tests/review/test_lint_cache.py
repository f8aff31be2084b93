"""cfn-lint findings kept by template content: a template linted before is not linted again; a changed one
is."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from review import lint
from review.assembly import Stack, Stage

BROKEN = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"NoSuchProperty": 1}}}}
CLEAN = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git checkout as the working directory: its git directory holds the kept findings."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def processes(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The cfn-lint command lines started (they still run)."""
    started: list[list[str]] = []
    real = subprocess.Popen

    def popen(command, *args, **kwargs):
        if str(command[0]).endswith("cfn-lint"):
            started.append(command)
        return real(command, *args, **kwargs)

    monkeypatch.setattr(lint.subprocess, "Popen", popen)
    return started


def _stage(path: Path, template: dict) -> list[Stage]:
    path.write_text(json.dumps(template))
    return [Stage("dev", [Stack("dev/Topic", "dev-Topic", "dev", "us-east-1", path, {})])]


def test_a_template_linted_before_is_answered_from_the_store_and_a_changed_one_is_linted(repo, processes):
    first = lint.LintRun(_stage(repo / "a.json", BROKEN)).findings()
    assert [(f.stack, f.rule) for f in first if "NoSuchProperty" in f.message] == [("dev/Topic", "E3002")]
    assert len(processes) == 1
    # Same bytes elsewhere, under another stack id: the same findings, no cfn-lint process.
    stage = _stage(repo / "b.json", BROKEN)
    stage[0].stacks[0].id = "prod/Topic"
    again = lint.LintRun(stage).findings()
    assert len(processes) == 1
    assert [(f.stack, f.rule, f.message) for f in again] == [("prod/Topic", f.rule, f.message) for f in first]
    # Changed bytes: linted; its clean result is kept too.
    assert lint.LintRun(_stage(repo / "a.json", CLEAN)).findings() == []
    assert lint.LintRun(_stage(repo / "a.json", CLEAN)).findings() == []
    assert len(processes) == 2


def test_the_key_covers_the_region(repo):
    (stack,) = _stage(repo / "a.json", CLEAN)[0].stacks
    key = lint._key(stack)
    stack.region = "eu-west-1"
    assert lint._key(stack) != key


def test_outside_git_nothing_is_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert lint._store() is None
