"""A local headless Chromium with remote debugging on loopback: what a local Browser session runs.

Flags: `--headless`; `--no-sandbox` only when running as root (Chromium refuses to start its sandbox as
root; as any other user the sandbox stays on); `--disable-gpu`; no background traffic of its own
(`--disable-background-networking --disable-component-update --disable-sync --no-first-run`: on a closed
network each of those is a refused connection, at every start); `--disable-dev-shm-usage` (containers have a
small /dev/shm, on which Chromium crashes); the profile in `user_data_dir`; the DevTools protocol on
127.0.0.1 only, on a port the kernel picks (`--remote-debugging-port=0`), read from Chromium's
"DevTools listening on ws://..." line: `ws_url` is the browser-level CDP WebSocket Playwright connects to.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

FLAGS = (
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class ChromiumError(Exception):
    """Chromium did not start; the message is one line."""


def chromium_path() -> str | None:
    """Debian's `chromium` (or `chromium-browser`) on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def flags(user_data_dir: Path) -> list[str]:
    """The command-line flags for a profile directory (see the module docstring)."""
    root = ["--no-sandbox"] if os.geteuid() == 0 else []
    return [*FLAGS[:1], *root, *FLAGS[1:], f"--user-data-dir={user_data_dir}"]


class Chromium:
    """One headless Chromium process; started on construction, `stop()` ends it and removes its profile."""

    def __init__(self, executable: str, user_data_dir: Path) -> None:
        self.user_data_dir = user_data_dir
        user_data_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [executable, *flags(user_data_dir), "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group: its helpers (renderers, utilities) end with it
        )
        self.ws_url = self._endpoint()

    @property
    def pid(self) -> int:
        return self._process.pid

    def running(self) -> bool:
        return self._process.poll() is None

    def _endpoint(self) -> str:
        found: list[str] = []
        ready = threading.Event()

        def read() -> None:  # keeps draining stderr so that Chromium never blocks on a full pipe
            assert self._process.stderr is not None
            for line in self._process.stderr:
                match = _LISTENING.search(line)
                if match and not found:
                    found.append(match.group(1))
                    ready.set()
            ready.set()  # Chromium exited

        threading.Thread(target=read, name="chromium-stderr", daemon=True).start()
        if not ready.wait(START_TIMEOUT_SECONDS) or not found:
            self.stop()
            raise ChromiumError(
                f"chromium did not report its DevTools endpoint (exit status {self._process.poll()})"
            )
        return found[0]

    def stop(self) -> None:
        """End the process and every helper of its group, then delete its profile; idempotent.

        The helpers can outlive the browser process by moments and write into the profile meanwhile, so the
        group is killed before the profile goes (a file written during the removal would leave it behind).
        """
        if self._process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._process.wait()
        self._signal_group(signal.SIGKILL)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while True:
            shutil.rmtree(self.user_data_dir, ignore_errors=True)
            if not self.user_data_dir.exists() or time.monotonic() > deadline:
                return
            time.sleep(0.02)  # a killed helper's last write landed during the removal

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group has already ended
            os.killpg(self._process.pid, signum)
