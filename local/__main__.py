"""`python -m local`: run the local stage in the foreground (`make local`), reset it, or print a turn's spans.

    python -m local                 # start; Ctrl-C stops everything
    python -m local reset           # forget the state under .local/ (make local-reset)
    python -m local spans [--session ID] [--json]

Environment: MODEL=bedrock|openai|scripted (default: bedrock when AWS credentials are found, else scripted),
LOCAL_STATE_DIR (default .local), LOCAL_AGENT_PORT (default 8080), LOCAL_PAGE_PORT (the chat page's, default
8081; 0 for either: any free port), CDK_OUT (default cdk.out).
Every failure is one line on stderr and exit status 2; Ctrl-C exits with 130 after stopping every component.
The agent logs to <state>/agent.log, the tool handlers and emulators to <state>/tools.log.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TextIO

STARTED = time.monotonic()  # the ready line counts from here (the launcher's own imports included)

from local.lambda_context import REPO_ROOT  # noqa: E402

TOOLS_LOG = "tools.log"


def _path(name: str, default: str) -> Path:
    value = Path(os.environ.get(name) or default)
    return value if value.is_absolute() else REPO_ROOT / value


def _port(name: str, default: int) -> int | None:
    """The port `name` sets (its default when unset); None, after one line on stderr, when it is no port."""
    raw = os.environ.get(name) or str(default)
    if not raw.isdigit() or int(raw) > 65535:
        print(f"local: {name}={raw!r} is not a port number (0-65535)", file=sys.stderr)
        return None
    return int(raw)


def _run() -> int:
    agent_port, page_port = _port("LOCAL_AGENT_PORT", 8080), _port("LOCAL_PAGE_PORT", 8081)
    if agent_port is None or page_port is None:
        return 2
    state_dir = _path("LOCAL_STATE_DIR", ".local")
    state_dir.mkdir(parents=True, exist_ok=True)
    # The terminal gets the launcher's lines only; what the emulators and the tool handlers running in this
    # process print (the handlers' logs and metrics: CloudWatch's in the cloud) goes to <state>/tools.log.
    out, err = sys.stdout, sys.stderr
    with (state_dir / TOOLS_LOG).open("a", buffering=1) as log, redirect_stdout(log), redirect_stderr(log):
        return _serve(state_dir, agent_port, page_port, out, err)


def _serve(state_dir: Path, port: int, page_port: int, out: TextIO, err: TextIO) -> int:
    from local.dev_stage import DevStageError
    from local.stage import LocalStage, LocalStageError, Options

    options = Options(
        state_dir=state_dir,
        cdk_out=_path("CDK_OUT", "cdk.out"),
        model=os.environ.get("MODEL") or None,
        agent_port=port,
        page_port=page_port,
    )
    # Ctrl-C stops the stage even when SIGINT was ignored at start-up (a job started in the background by a
    # non-interactive shell inherits SIG_IGN, and Python then installs no KeyboardInterrupt handler: the
    # agent child would die alone and the stage would exit 1 instead of stopping cleanly with 130).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # SIGTERM (e.g. from a supervisor) stops the stage like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    stage = None
    try:
        stage = LocalStage(options)
        url = stage.start(lambda line: print(line, file=out, flush=True))
        print(
            f"ready in {time.monotonic() - STARTED:.1f}s: open {stage.page_url} to chat; agent at {url} "
            f'(model: {stage.model}); or .venv/bin/python scripts/invoke.py --local "Where is my order '
            'ORD-1001?"; Ctrl-C stops',
            file=out,
            flush=True,
        )
        status = stage.wait()
        print(f"local: the agent exited with status {status}; stopping", file=err)
        return 1
    except (LocalStageError, DevStageError) as error:
        print(f"local: {error}", file=err)
        return 2
    except KeyboardInterrupt:
        print("stopping", file=out, flush=True)
        return 130
    finally:
        if stage is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abandon the clean-up
            stage.stop()
            print("stopped", file=out, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description="The local stage (make local).")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="start the local stage in the foreground (default)")
    commands.add_parser("reset", help="forget the local state (.local/)")
    spans = commands.add_parser("spans", help="print the spans of the last turn")
    spans.add_argument("--session", help="the last turn of this runtime session id")
    spans.add_argument("--json", action="store_true", help="print every export as a line of OTLP JSON")
    args = parser.parse_args(argv)
    if args.command == "reset":
        from local.stage import LocalStageError, reset

        state = _path("LOCAL_STATE_DIR", ".local")
        try:
            reset(state)
        except LocalStageError as error:
            print(f"local: {error}", file=sys.stderr)
            return 2
        print(f"removed {state}")
        return 0
    if args.command == "spans":
        from local.traces import TRACES_FILE, print_exports, print_turn

        traces = _path("LOCAL_STATE_DIR", ".local") / TRACES_FILE
        try:
            if not args.json:
                return print_turn(traces, sys.stdout, args.session)
            if print_exports(traces, sys.stdout):
                print(f"local: no traces in {traces}", file=sys.stderr)
                return 1
            return 0
        except ValueError as error:
            print(f"local: {error}", file=sys.stderr)
            return 2
    return _run()


if __name__ == "__main__":
    sys.exit(main())
