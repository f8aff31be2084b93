"""`python -m local` started as a developer starts it, for the local-stage tests and bench/bench_local.py.

`start()` runs it in its own process group with SIGINT ignored (how a background job of a non-interactive
shell starts it, e.g. in CI: the stage must still stop on Ctrl-C), with its own state directory,
MODEL=scripted, no AWS variables, LOCAL_AGENT_PORT=0 and LOCAL_PAGE_PORT=0 (the stage binds ports the system
chooses; the stage file and the `page` line say which); its output is read line by line on a thread until
the ready line (the readiness signal; no sleeping) and kept in `lines`. `ask()` talks to it with
`scripts/invoke.py --local`, `access_token()` logs in with the same calls, `interrupt()` is Ctrl-C for the
whole group.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

from local.stage import STAGE_FILE

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 180.0  # only bounds a broken start; a healthy one signals readiness long before


def _invoke_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("invoke_script_local", ROOT / "scripts" / "invoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


invoke = _invoke_script()


@dataclass
class LocalProcess:
    """A running `python -m local`."""

    process: subprocess.Popen[str]
    state: Path
    port: int
    lines: list[str] = field(default_factory=list)
    seconds_to_ready: float = 0.0

    @property
    def page_url(self) -> str:
        """The chat page's URL, as its start-up line names it."""
        line = next(line for line in self.lines if line.startswith("page "))
        return line.split()[1]

    def ask(self, prompt: str, *extra: str) -> tuple[int, str, str]:
        """`scripts/invoke.py --local [extra] prompt`: (exit status, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        status = invoke.main(
            ["--local", *extra, prompt], out=out, err=err, environ={"LOCAL_STATE_DIR": str(self.state)}
        )
        return status, out.getvalue(), err.getvalue()

    def access_token(self, user: str = "alice") -> tuple[str, str]:
        """Log in as invoke.py does; (invocation URL, access token)."""
        import boto3

        target, (name, password) = invoke.local_target(self.state / "stage.json", user)
        cognito = boto3.client(
            "cognito-idp",
            region_name=target.region,
            endpoint_url=target.cognito_endpoint,
            **invoke._unsigned(),
        )
        return target.url, invoke.login(cognito, target.client_id, name, password, input)

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the whole foreground process group; the launcher's exit status."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=120)

    def left_behind(self) -> list[str]:
        """The live processes of its group (agent, Chromium, ...): `pid command` each. A zombie is not one:
        it has ended, and init reaps it when it will (e.g. Playwright's driver, whose parent exited first)."""
        left = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                pid, rest = stat.read_text().split(" (", 1)
            except OSError:  # ended meanwhile
                continue
            command, fields = rest.rsplit(") ", 1)
            state, _, group = fields.split()[:3]
            if int(group) == self.process.pid and state != "Z":
                left.append(f"{pid} {command}")
        return left


def start(state: Path, *, port: int | None = None, **env: str) -> LocalProcess:
    """Start `python -m local` with state in `state` (and `env`); returns once its ready line is printed."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "MODEL": "scripted",
        "LOCAL_STATE_DIR": str(state),
        "LOCAL_AGENT_PORT": str(port or 0),
        "LOCAL_PAGE_PORT": "0",
        **env,
    }
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    running = LocalProcess(process, state, port or 0)
    ready = threading.Event()

    def read() -> None:  # drains the output to the end, so the launcher never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            running.lines.append(line.rstrip("\n"))
            if line.startswith("ready"):
                running.seconds_to_ready = time.perf_counter() - began
                ready.set()
        ready.set()  # the process ended

    threading.Thread(target=read, name="local-stage-output", daemon=True).start()
    if not ready.wait(READY_TIMEOUT_SECONDS) or not running.seconds_to_ready:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise RuntimeError("python -m local printed no ready line:\n" + "\n".join(running.lines))
    stage = json.loads((state / STAGE_FILE).read_text())
    running.port = int(urlsplit(stage["invocation_url"]).port or 0)
    return running
