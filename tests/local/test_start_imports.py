"""`make local` starts the agent as soon as its endpoints exist: what the stage imports first delays it."""

from __future__ import annotations

import subprocess
import sys

from local.lambda_context import REPO_ROOT


def test_the_stage_does_not_import_the_strands_sdk() -> None:
    """Strands is the agent's (~1.4 s of imports); the stage's model server needs only the scripted turns."""
    check = "import sys, local.stage; print(sorted(m for m in sys.modules if m.split('.')[0] == 'strands'))"
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"
