"""scripts/evaluate.py against the local stage (real agent process, OIDC login, gateway on the real handlers,
scripted model): the versioned set passes, a set the agent cannot satisfy fails the gate."""

from __future__ import annotations

import io
import json
import os
import signal
import sys

import pytest

from tests.conftest import ROOT
from tests.local.test_local_stage import start

sys.path.insert(0, str(ROOT / "scripts"))
import evaluate

FAILING = {
    "version": 1,
    "pass_threshold": 0.5,
    "cases": [
        {"id": "wrong-tool", "prompt": "Where is my order ORD-1001?", "tool": "cancel_order",
         "must_contain": ["ORD-1001"], "must_not_contain": []},
        {"id": "missing-fact", "prompt": "Is SKU-1001 in stock?", "tool": "check_stock",
         "must_contain": ["SKU-9999"], "must_not_contain": []},
        {"id": "forbidden-phrase", "prompt": "Where is my order ORD-1001?", "tool": "get_order",
         "must_contain": [], "must_not_contain": ["delivered"]},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def local_stage(tmp_path_factory, synthesized):
    state = tmp_path_factory.mktemp("eval-stage")
    running = start(state, synthesized.outdir)
    yield state
    os.killpg(running.process.pid, signal.SIGINT)
    running.process.wait(timeout=60)


def _run(state, *args):
    out = io.StringIO()
    code = evaluate.main(["--local", *args], out=out, environ={"LOCAL_STATE_DIR": str(state)})
    return code, out.getvalue()


def test_the_versioned_cases_pass_through_the_real_invocation_path(local_stage, tmp_path):
    code, out = _run(local_stage, "--report", str(tmp_path / "report.json"))
    assert code == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["pass_rate"] == 1.0 and report["version"] == 1
    assert all(r["passed"] and r["tools"] for r in report["results"])


def test_a_set_below_the_threshold_fails_the_gate(local_stage, tmp_path):
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps(FAILING))
    code, out = _run(local_stage, "--cases", str(cases), "--report", str(tmp_path / "report.json"))
    assert code == evaluate.BELOW_THRESHOLD, out
    assert "wrong-tool: FAIL: did not use cancel_order (used: get_order)" in out
    assert "missing-fact: FAIL: missing fact 'SKU-9999'" in out
    assert "forbidden-phrase: FAIL: said 'delivered'" in out
    assert "evaluation FAILED: 0% of 3 cases" in out
    # The same answers pass a threshold of zero: the gate, not the runner, decides.
    code, out = _run(local_stage, "--cases", str(cases), "--threshold", "0")
    assert code == 0


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"cases": []}, "expected a non-empty 'cases' list"),
        ({"cases": [{"id": "x", "prompt": "p"}]}, "case 0 needs 'tool'"),
        (
            {"pass_threshold": 2, "cases": FAILING["cases"]},
            "'pass_threshold' must be a number between 0 and 1",
        ),
    ],
)
def test_bad_case_files_are_one_line(tmp_path, document, message):
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps(document))
    code, out = _run(tmp_path, "--cases", str(cases))
    assert code == 2 and message in out and out.count("\n") == 1
