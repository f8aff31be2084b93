"""The local agent's port is bound by the stage and held until the agent serves it (no choose-then-bind race).

A fresh-clone CI run once failed with `[Errno 98] ... address already in use`: the port was chosen free,
released, and the local DynamoDB's ephemeral port took it before the agent bound it. The stage now binds the
listening socket itself and hands it to the agent process.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from local.lambda_context import REPO_ROOT
from local.stage import LocalStage, LocalStageError, Options


def _stage(tmp_path, port: int) -> LocalStage:
    return LocalStage(Options(state_dir=tmp_path, cdk_out=tmp_path, model="scripted", agent_port=port))


def _bind(port: int) -> None:
    """Bind `port` as any other server would (SO_REUSEADDR, as uvicorn and moto's server do)."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", port))


def test_port_zero_gives_a_port_the_stage_holds_so_no_other_server_can_take_it(tmp_path):
    sock = _stage(tmp_path, 0)._bind_agent_socket()
    with sock:
        port = sock.getsockname()[1]
        assert port != 0
        with pytest.raises(OSError):  # taken: what the local DynamoDB hit when the port was only chosen
            _bind(port)


def test_a_port_in_use_is_one_line_that_suggests_local_agent_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalStageError) as refused:
            _stage(tmp_path, port)._bind_agent_socket()
    assert str(refused.value) == (
        f"port {port} is in use (another make local?); stop it, or choose another port with "
        "LOCAL_AGENT_PORT=<port> (0: any free port)"
    )


# A stand-in app served by the agent's `serve_on_socket`; it answers with what asyncio keys TCP_NODELAY on.
SERVE_HANDED_SOCKET = textwrap.dedent(
    """
    import socket, sys
    from agentcore_agent.__main__ import serve_on_socket

    listening = socket.socket(fileno=int(sys.argv[1]))

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = f"{listening.family.name} {listening.proto == socket.IPPROTO_TCP}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    serve_on_socket(app, listening)
    """
)


def test_the_agent_serves_the_socket_it_was_handed_and_frees_the_port_when_it_exits(tmp_path):
    stage = _stage(tmp_path, 0)
    sock = stage._bind_agent_socket()
    port = sock.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, "-c", SERVE_HANDED_SOCKET, str(sock.fileno())],
        cwd=REPO_ROOT / "agent_src",
        pass_fds=(sock.fileno(),),
    )
    sock.close()  # as the stage does: the child's copy is the only one
    try:
        # The socket listens already: this connection waits in its backlog until the child serves it.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=60) as response:
            assert response.read() == b"AF_INET True"  # so TCP_NODELAY is set
    finally:
        child.terminate()
        child.wait(timeout=30)
    _bind(port)  # the child has exited and the stage holds no copy: the port is free again
