"""`python -m local` end to end: the real agent process, the emulators, invoke.py --local, the scripted model.

Each test starts the launcher in its own process group on a free agent port with its own state directory,
reads its output line by line up to the ready line, and talks to it with `scripts/invoke.py --local`.
"""

from __future__ import annotations

import importlib.util
import io
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local.stage import free_port

ROOT = Path(__file__).resolve().parents[2]
READY_SECONDS = 120


def _invoke_module():
    spec = importlib.util.spec_from_file_location("invoke_script_local", ROOT / "scripts" / "invoke.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


invoke = _invoke_module()


@dataclass
class Running:
    process: subprocess.Popen
    lines: list[str]
    state: Path

    def ask(self, prompt: str, *extra: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        status = invoke.main(
            ["--local", *extra, prompt], out=out, err=err, environ={"LOCAL_STATE_DIR": str(self.state)}
        )
        return status, out.getvalue(), err.getvalue()

    def interrupt(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C: the whole foreground process group
        return self.process.wait(timeout=60)


def start(state: Path, cdk_out: Path, **env: str) -> Running:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "MODEL": "scripted",
        "LOCAL_STATE_DIR": str(state),
        "LOCAL_AGENT_PORT": str(free_port()),
        "CDK_OUT": str(cdk_out),
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # As a background job of a non-interactive shell (e.g. CI) starts it: with SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("ready"):
                ready.set()
        ready.set()  # the process ended

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(READY_SECONDS) or not any(line.startswith("ready") for line in lines):
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("no ready line:\n" + "\n".join(lines))
    return Running(process, lines, state)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def stage_dirs(tmp_path: Path, synthesized) -> Iterator[tuple[Path, Path]]:
    yield tmp_path / "state", synthesized.outdir


def test_questions_are_answered_from_local_tables_refusals_hold_and_ctrl_c_leaves_no_process(stage_dirs):
    state, cdk_out = stage_dirs
    running = start(state, cdk_out)
    try:
        components = [line.split()[0] for line in running.lines if not line.startswith("{")]
        assert {"dynamodb", "identity", "memory", "gateway", "model", "agent", "ready"} <= set(components)
        status, out, err = running.ask("Is SKU-1001 in stock?", "--user", "alice")
        assert status == 0, err
        assert "[using tool inventory___check_stock]" in err
        assert '"sku": "SKU-1001"' in out and '"available": 42' in out  # lambdas/inventory/seed.json
        status, out, err = running.ask("Where is my order ORD-1001?", "--user", "alice")
        assert status == 0, err
        assert "[using tool orders___get_order]" in err
        assert '"order_id": "ORD-1001"' in out and '"status": "DELIVERED"' in out  # lambdas/orders/seed.json
        status, out, err = running.ask("Where is my order ORD-1001?", "--user", "bob")  # alice's order
        assert status == 0, err
        assert "[using tool orders___get_order]" in err
        assert "PERMISSION_DENIED" in out and "Bristol" not in out  # refused, nothing of alice's leaked
        status, out, _ = running.ask("Can you run some Python code for me?")
        assert status == 0 and "code execution and web browsing are off" in out  # the agent says so
        status, _, err = running.ask("hi", "--user", "mallory")
        assert status == 2 and "not a local user" in err
    finally:
        code = running.interrupt()
    assert code == 130
    assert not group_alive(running.process.pid)  # the agent process went with it
    assert not (state / "stage.json").exists()
    spans = subprocess.run(  # the turn's trace was exported (spans are flushed when the agent stops)
        [sys.executable, "-m", "local", "spans"],
        cwd=ROOT,
        env={**os.environ, "LOCAL_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert spans.returncode == 0 and "invoke_agent" in spans.stdout


def test_the_conversation_continues_after_a_restart(stage_dirs):
    state, cdk_out = stage_dirs
    first = start(state, cdk_out)
    try:
        status, _, err = first.ask("Is SKU-1001 in stock?", "--user", "bob")
        assert status == 0, err
        session = next(line.split()[1] for line in err.splitlines() if line.startswith("session:"))
    finally:
        first.interrupt()
    second = start(state, cdk_out)
    try:
        status, out, err = second.ask("what did I ask before?", "--user", "bob", "--session-id", session)
        assert status == 0, err
        assert "1 earlier user message(s)" in out and '"Is SKU-1001 in stock?"' in out
    finally:
        second.interrupt()


def test_an_unknown_model_is_a_one_line_error(tmp_path, synthesized):
    result = subprocess.run(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env={
            **os.environ,
            "MODEL": "gpt",
            "LOCAL_STATE_DIR": str(tmp_path),
            "CDK_OUT": str(synthesized.outdir),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "local: MODEL='gpt' is not one of bedrock, openai, scripted"
    ]


def test_model_openai_reaches_an_openai_compatible_server_with_the_key_from_local_identity(stage_dirs):
    from tests.doubles.openai_server import OpenAIServer

    state, cdk_out = stage_dirs
    with OpenAIServer(api_key="sk-local-test", answers=["Hello from an OpenAI-compatible server."]) as server:
        running = start(
            state,
            cdk_out,
            MODEL="openai",
            OPENAI_MODEL="gpt-test",
            OPENAI_BASE_URL=server.base_url,
            OPENAI_API_KEY="sk-local-test",
        )
        try:
            status, out, err = running.ask("hello")
        finally:
            running.interrupt()
    assert status == 0, err
    assert "Hello from an OpenAI-compatible server." in out
    assert server.requests and server.requests[-1].body["model"] == "gpt-test"
    assert server.refused == 0  # the agent used the key local Identity served it
