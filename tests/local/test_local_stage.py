"""`python -m local` end to end: the real agent process, the emulators, invoke.py --local, the scripted model.

One stage is started for the module (tests/local/launcher.py) from the synthesized dev stage, configured
with an allowed site for the browser (`shop.localhost`, which Chromium resolves to 127.0.0.1, served by a
local site here); the tests share it. The restart test stops it with Ctrl-C, checks that nothing is left,
and hands the restarted stage on. MODEL=openai needs a stage of its own.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.chromium import chromium_path
from local.http_server import JsonHandler, LocalServer
from local.traces import TRACES_FILE, print_turn
from tests.local.launcher import ROOT, LocalProcess, start
from tests.local.patched_stage import with_runtime_environment

SITE = "shop.localhost"
PAGE = b"<html><head><title>Lighthouse Shop</title></head><body><p>Open 9am to 5pm.</p></body></html>"


def with_allowed_sites(outdir: Path, target: Path, domains: str) -> Path:
    """The dev stage with `browser_allowed_domains` (tests/stacks/test_browser_options.py)."""
    return with_runtime_environment(outdir, target, BROWSER_ALLOWED_DOMAINS=domains)


class Stage:
    """The module's running stage; the restart test replaces it."""

    def __init__(self, running: LocalProcess, cdk_out: Path) -> None:
        self.running, self.cdk_out = running, cdk_out


@pytest.fixture(scope="module")
def stage(synthesized, tmp_path_factory) -> Iterator[Stage]:
    cdk_out = with_allowed_sites(synthesized.outdir, tmp_path_factory.mktemp("cdk.out"), SITE)
    shared = Stage(start(tmp_path_factory.mktemp("local") / "state", CDK_OUT=str(cdk_out)), cdk_out)
    yield shared
    shared.running.interrupt()


@pytest.fixture(scope="module")
def site() -> Iterator[LocalServer]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            self.send_bytes(200, PAGE, {"Content-Type": "text/html"})

    with LocalServer(Handler, name="test-site") as server:
        yield server


def test_every_component_reports_one_line_and_the_ready_line_names_the_agent(stage):
    components = [line.split()[0] for line in stage.running.lines if line[:1].isalpha()]
    assert components[:-1] == sorted(set(components[:-1]), key=components.index)  # one line each
    expected = {"identity", "memory", "model", "traces", "off", "dynamodb", "gateway", "agent"}
    if chromium_path() is not None:  # else the browser is one of the tools that are off locally
        expected.add("browser")
    assert expected <= set(components)
    assert components[-1] == "ready"
    assert f"agent at http://127.0.0.1:{stage.running.port}/invocations" in stage.running.lines[-1]


def test_a_customers_question_is_answered_with_a_tool_call_on_the_local_table(stage):
    status, out, err = stage.running.ask("Where is my order ORD-1001?")  # alice by default
    assert status == 0, err
    assert "[using tool orders___get_order]" in err
    assert '"order_id": "ORD-1001"' in out and '"status": "DELIVERED"' in out  # lambdas/orders/seed.json
    status, out, err = stage.running.ask("Is SKU-1001 in stock?", "--user", "alice")
    assert status == 0 and "[using tool inventory___check_stock]" in err, err
    assert '"sku": "SKU-1001"' in out and '"available": 42' in out  # lambdas/inventory/seed.json


def test_a_cross_customer_call_stays_refused(stage):
    status, out, err = stage.running.ask("Where is my order ORD-1001?", "--user", "bob")  # alice's order
    assert status == 0, err
    assert "[using tool orders___get_order]" in err
    assert "PERMISSION_DENIED" in out and "Bristol" not in out  # refused, nothing of alice's leaked


def test_code_execution_is_off_and_the_agent_says_so(stage):
    assert any(line.startswith("off ") and "code execution is off" in line for line in stage.running.lines)
    status, out, _ = stage.running.ask("Can you run some Python code for me?")
    assert status == 0
    assert "code execution is off (model-written code is never run unsandboxed on this machine)" in out


@pytest.mark.skipif(
    chromium_path() is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_the_agent_reads_an_allowed_site_in_a_local_headless_chromium(stage, site):
    url = f"http://{SITE}:{site.port}/hours"
    status, out, err = stage.running.ask(f"What does {url} say?")
    assert status == 0, err
    assert "[using tool browse_web]" in err
    assert "Title: Lighthouse Shop" in out and "Open 9am to 5pm." in out
    status, out, _ = stage.running.ask(f"What does http://elsewhere.localhost:{site.port}/ say?")
    assert status == 0 and "is not an allowed site" in out


def test_an_unknown_user_is_a_one_line_error(stage):
    status, _, err = stage.running.ask("hi", "--user", "mallory")
    assert status == 2 and err.strip().splitlines()[-1].startswith(
        "error: 'mallory' (--user / AGENT_USERNAME) is not a local user"
    )


def test_ctrl_c_leaves_no_process_and_the_conversation_continues_after_a_restart(stage):
    first = stage.running
    status, _, err = first.ask("Is SKU-1001 in stock?", "--user", "bob")
    assert status == 0, err
    session = next(line.split()[1] for line in err.splitlines() if line.startswith("session:"))
    assert first.interrupt() == 130
    assert first.left_behind() == []  # the agent and every Chromium went with it
    assert not (first.state / "stage.json").exists()
    assert not any((first.state / "browser").glob("*"))  # no browser profile left behind
    spans = io.StringIO()  # the turns' traces were exported (flushed when the agent stopped)
    assert print_turn(first.state / TRACES_FILE, spans, session) == 0 and "invoke_agent" in spans.getvalue()
    # under opentelemetry-instrument, as in the image: one server span, no span per SSE event
    assert "POST /invocations  " in spans.getvalue() and "http send" not in spans.getvalue()

    # The same port again at once: the stopped stage's connections in TIME_WAIT must not block it.
    stage.running = start(first.state, port=first.port, CDK_OUT=str(stage.cdk_out))
    status, out, err = stage.running.ask("what did I ask before?", "--user", "bob", "--session-id", session)
    assert status == 0, err
    assert "1 earlier user message(s)" in out and '"Is SKU-1001 in stock?"' in out


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


def test_model_openai_reaches_an_openai_compatible_server_with_the_key_from_local_identity(
    tmp_path, synthesized
):
    from tests.doubles.openai_server import OpenAIServer

    with OpenAIServer(api_key="sk-local-test", answers=["Hello from an OpenAI-compatible server."]) as server:
        running = start(
            tmp_path / "state",
            CDK_OUT=str(synthesized.outdir),
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
    assert any("web browsing is off (the dev stage allows no sites" in line for line in running.lines)


def test_list_my_orders_calls_the_tool_that_needs_no_ids_and_shows_only_the_callers_orders(stage):
    status, out, err = stage.running.ask("Please list my orders", "--user", "bob")
    assert status == 0, err
    assert "[using tool orders___list_orders]" in err
    assert "ORD-1004" in out and "ORD-1005" in out  # bob's (CUST-002)
    assert "ORD-1001" not in out and "CUST-001" not in out  # never alice's: the verified caller decides
