#!/usr/bin/env python3
"""Check cdk.json before the CDK CLI reads it: invalid JSON is named by line and column, and every stage and
pipeline setting is validated (the same ConfigError messages synth gives), in one line with exit code 2.

The CDK CLI parses cdk.json itself and reports a syntax error without saying where; `make synth` runs this
first.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from stacks.config import ConfigError, load_pipeline, load_stages  # noqa: E402


def check(path: Path) -> str | None:
    """The problem with the configuration at `path`, or None when it is valid."""
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        return f"{path.name}: cannot read it ({error.strerror})"
    except json.JSONDecodeError as error:
        return f"{path.name} line {error.lineno} column {error.colno}: invalid JSON ({error.msg})"
    context = document.get("context") if isinstance(document, dict) else None
    if not isinstance(context, dict):
        return f"{path.name}: expected an object with a 'context' object"
    try:
        load_stages(context)
        load_pipeline(context)
    except ConfigError as error:
        return f"config error: {error}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    problem = check(Path(args[0]) if args else REPO_ROOT / "cdk.json")
    if problem:
        sys.stderr.write(f"{problem}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
