"""scripts/check_config.py: cdk.json problems in one line, before the CDK CLI reads the file."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, cdk_context

SCRIPT = ROOT / "scripts" / "check_config.py"


def _run(path) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=False
    )
    return result.returncode, result.stderr


def test_the_shipped_cdk_json_is_valid():
    assert _run(ROOT / "cdk.json") == (0, "")


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "cdk.json"
    path.write_text('{\n  "context": {\n    "agentcore:stages": {"dev": {},}\n  }\n}\n')
    code, err = _run(path)
    assert code == 2
    assert (
        err == "cdk.json line 3 column 36: invalid JSON (Expecting property name enclosed in double quotes)\n"
    )


def test_a_null_stage_and_a_misspelled_key_are_config_errors(tmp_path):
    path = tmp_path / "cdk.json"
    context = cdk_context()
    context["agentcore:stages"]["prod"] = None
    path.write_text(json.dumps({"context": context}))
    assert _run(path) == (2, "config error: stage 'prod': expected an object of settings, got null\n")
    context["agentcore:stages"]["prod"] = {"removl": "retain"}
    path.write_text(json.dumps({"context": context}))
    code, err = _run(path)
    assert code == 2 and "key 'removl': unknown key (did you mean 'removal'?)" in err


def test_make_synth_checks_cdk_json_before_the_cdk_cli_reads_it():
    commands = subprocess.run(
        ["make", "-n", "synth"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    check = next(i for i, line in enumerate(commands) if "scripts/check_config.py cdk.json" in line)
    synth = next(i for i, line in enumerate(commands) if " synth --quiet" in line)
    assert check < synth


def test_online_evaluation_without_trace_content_is_one_line(tmp_path):
    path = tmp_path / "cdk.json"
    context = cdk_context()
    context["agentcore:stages"]["prod"]["online_evaluation"] = True
    path.write_text(json.dumps({"context": context}))
    code, err = _run(path)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("config error: stage 'prod', key 'online_evaluation': needs trace_content: true")
