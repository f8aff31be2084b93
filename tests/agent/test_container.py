"""The agent image: arm64, non-root, pinned, started under ADOT on the Runtime's port."""

from __future__ import annotations

import re

from tests.conftest import ROOT

AGENT = ROOT / "agent_src"


def _instructions() -> list[tuple[str, str]]:
    text = (AGENT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [tuple(line.split(None, 1)) for line in lines]


def test_image_is_linux_arm64():
    (base,) = [args for op, args in _instructions() if op == "FROM"]
    assert base.startswith("--platform=linux/arm64 ")


def test_runs_as_a_non_root_user_after_installing():
    ops = [op for op, _ in _instructions()]
    users = [args for op, args in _instructions() if op == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert ops.index("USER") > max(i for i, op in enumerate(ops) if op == "RUN")


def test_starts_the_agent_under_adot_on_port_8080_in_container_mode():
    instructions = _instructions()
    assert ("CMD", '["opentelemetry-instrument", "python", "-m", "agentcore_agent"]') in instructions
    assert ("EXPOSE", "8080") in instructions
    env = " ".join(args for op, args in instructions if op == "ENV")
    assert "DOCKER_CONTAINER=1" in env


def test_the_agent_code_is_compiled_once_at_build_not_in_every_session():
    """PYTHONDONTWRITEBYTECODE keeps a session from writing bytecode, so it must be in the image already."""
    instructions = _instructions()
    copied = instructions.index(("COPY", "--chown=agent:agent agentcore_agent/ ./agentcore_agent/"))
    compiled = [i for i, (op, args) in enumerate(instructions) if op == "RUN" and "compileall" in args]
    assert compiled and compiled[0] > copied
    assert "agentcore_agent" in instructions[compiled[0]][1]


def test_every_runtime_dependency_is_pinned():
    requirements = [
        line.split("#")[0].strip()
        for line in (AGENT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert requirements
    for requirement in requirements:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[A-Za-z0-9_,\-]+\])?==[\w.]+", requirement), requirement


def test_build_context_excludes_local_state():
    ignored = (AGENT / ".dockerignore").read_text()
    for pattern in ("__pycache__", ".agentcore.json", ".venv"):
        assert pattern in ignored


def test_the_image_has_the_browser_client_and_openai_but_no_browser():
    """The AgentCore Browser runs in AgentCore: the image needs Playwright's client, never a Chromium."""
    requirements = (AGENT / "requirements.txt").read_text()
    assert re.search(r"^playwright==[\d.]+$", requirements, flags=re.MULTILINE)
    assert re.search(r"^openai==[\d.]+$", requirements, flags=re.MULTILINE)
    assert "strands-agents-tools" not in requirements  # its extra dependencies would exceed the size goal
    run_lines = " ".join(args for op, args in _instructions() if op == "RUN")
    assert "playwright install" not in run_lines and "chromium" not in run_lines.lower()
