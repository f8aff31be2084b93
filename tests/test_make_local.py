"""`make local` ended by Ctrl-C (SIGINT to the terminal's foreground process group: make and the stage)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Stands in for `python -m local`: ready, then on SIGINT stops cleanly with 130, as local/__main__.py does.
STAGE_DOUBLE = """#!{python}
import signal, sys
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
print("ready", flush=True)
signal.pause()
"""


def test_ctrl_c_ends_make_local_without_a_make_error(tmp_path):
    python = tmp_path / "python"
    python.write_text(STAGE_DOUBLE.format(python=sys.executable))
    python.chmod(0o755)
    # As typed in a terminal, not a sub-make of `make test` (its MAKEFLAGS would hand this make the outer
    # one's jobserver, and a Ctrl-C then ends with `make[1]: *** wait: No child processes`).
    terminal = {
        k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES")
    }
    make = subprocess.Popen(
        ["make", "--no-print-directory", "-o", "cdk.out/assembly-dev/manifest.json", "local", f"PY={python}"],
        cwd=ROOT,
        env=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    assert make.stdout is not None
    assert make.stdout.readline() == "ready\n"
    os.killpg(make.pid, signal.SIGINT)
    _, err = make.communicate(timeout=60)
    assert err == ""  # neither `make: *** ... Error 130` nor `Interrupt`
