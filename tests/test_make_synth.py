"""`make synth` is a gate: the exact CDK command it runs fails on an error annotation in any stage."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

from tests.conftest import ROOT

APP = ROOT / "tests" / "apps" / "two_stages.py"


def make_synth_command(*variables: str) -> list[str]:
    """The `cdk synth` command line `make synth` runs, as the Makefile prints it."""
    printed = subprocess.run(
        ["make", "-s", "synth-command", *variables], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return shlex.split(printed)


def test_an_error_annotation_in_a_later_stage_fails_the_synth_command(tmp_path):
    command = [*make_synth_command(), "--app", f"{sys.executable} {APP}", "--output", str(tmp_path / "out")]
    env = {**os.environ, "ANNOTATE_STAGE": "second"}

    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert result.returncode != 0, result.stdout + result.stderr
    assert "injected error annotation" in result.stdout + result.stderr
    assert "second/Stack" in result.stdout + result.stderr


def test_make_synth_runs_the_printed_command():
    dry_run = subprocess.run(["make", "-n", "synth"], cwd=ROOT, capture_output=True, text=True, check=True)
    commands = [shlex.split(line) for line in dry_run.stdout.splitlines()]
    assert make_synth_command() in commands


def test_stage_variable_reaches_the_app_as_the_stage_context_key():
    assert make_synth_command("STAGE=staging")[-2:] == ["--context", "agentcore:stage=staging"]
    assert "--context" not in make_synth_command()


def test_a_typo_in_cdk_json_keeps_the_last_good_assembly(tmp_path):
    """`make synth` in a scratch copy (.venv and node_modules linked, mtimes kept: nothing reinstalls)."""
    for name in ("Makefile", "requirements.txt", "package.json", "package-lock.json"):
        shutil.copy2(ROOT / name, tmp_path / name)
    for name in (".venv", "node_modules", "scripts", "stacks"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "cdk.json").write_text(
        '{"app": "python3 app.py", "context": {"agentcore:stages": {"dev": 1}}}'
    )
    last_good = tmp_path / "cdk.out" / "manifest.json"
    last_good.parent.mkdir()
    last_good.write_text("{}")
    result = subprocess.run(
        ["make", "-s", "synth"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "config error" in result.stderr or "config error" in result.stdout
    assert last_good.read_text() == "{}"


def test_image_variable_reaches_the_app_as_the_image_context_key():
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/agentcore-agent@sha256:" + "ab" * 32
    assert make_synth_command(f"IMAGE={image}")[-2:] == ["--context", f"agentcore:image={image}"]
