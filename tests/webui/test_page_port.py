"""`make local` with the chat page's port taken: one line naming LOCAL_PAGE_PORT, exit 2, nothing left."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.local.launcher import ROOT


def test_a_taken_page_port_is_one_line_that_suggests_local_page_port(synthesized, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "MODEL": "scripted",
            "LOCAL_STATE_DIR": str(tmp_path / "state"),
            "LOCAL_AGENT_PORT": "0",
            "LOCAL_PAGE_PORT": str(port),
            "CDK_OUT": str(synthesized.outdir),
        }
        ended = subprocess.run(
            [sys.executable, "-m", "local"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert ended.returncode == 2
    assert ended.stderr.splitlines() == [
        f"local: port {port} is in use (another make local?); stop it, or choose another port for the page "
        "with LOCAL_PAGE_PORT=<port> (0: any free port)"
    ]
    assert not (tmp_path / "state" / "stage.json").exists()  # the stage stopped and cleaned up


def test_a_page_port_that_is_no_port_is_one_line(tmp_path):
    environment = {**os.environ, "LOCAL_STATE_DIR": str(tmp_path), "LOCAL_PAGE_PORT": "80a"}
    ended = subprocess.run(
        [sys.executable, "-m", "local"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert (ended.returncode, ended.stderr) == (
        2,
        "local: LOCAL_PAGE_PORT='80a' is not a port number (0-65535)\n",
    )
