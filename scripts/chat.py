#!/usr/bin/env python3
"""Serve the chat page (`webui/`) on 127.0.0.1 against a deployed stage.

    .venv/bin/python scripts/chat.py --stage dev            # then open the printed URL
    .venv/bin/python scripts/chat.py --stage dev --port 0   # any free port
    .venv/bin/python scripts/chat.py --stage prod --endpoint canary   # the version being rolled out

The page signs in with the stage's Cognito user pool, as `scripts/invoke.py` does (username, password, then
the authenticator code when the account has MFA), and talks to the Runtime's endpoint. The access token
stays in this process: the browser holds only an HttpOnly session cookie. The turns the page shows are kept
in memory only, never written to disk; the agent keeps the conversation itself (its sessions and Memory).
The stage is found as `invoke.py` finds it (stack outputs of `<stage>-Runtime` and `<stage>-Identity`;
`--url` and `--client-id` skip CloudFormation). A deployed stage's spans are in CloudWatch (Transaction
Search), so the page shows its turns without a timeline.

Exit codes: 0 stopped with Ctrl-C, 2 bad arguments, configuration, a missing stack or a port in use,
6 any other AWS error (credentials, region).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from scripts import invoke  # noqa: E402

DEFAULT_PORT = 8082  # next to make local's agent (8080) and page (8081), so both can run


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Serve the chat page on 127.0.0.1 against a deployed stage.",
        epilog="Exit codes: 0 stopped, 2 usage/config/missing stack/port in use, 6 other AWS error.",
    )
    invoke.add_stage_arguments(parser, "default: the one clients call (live)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"the page's port (default {DEFAULT_PORT}; 0: any)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0-65535")
    args.no_auth = False  # what invoke.resolve_target reads: the page always signs in, and its sessions are
    args.session_id = None  # many, so no one session id picks the canary (--endpoint does)
    return args


def deployed_chat(args: argparse.Namespace, cloudformation_factory: Callable[[str | None], Any]) -> Any:
    """The deployed stage as the page's target: its endpoint and user client, its model and its prices."""
    from webui.chat_target import ChatTarget, model_label
    from webui.pricing import stage_prices, stage_settings

    target = invoke.resolve_target(args, cloudformation_factory)
    if target.client_id is None or target.region is None:
        raise invoke.Failure("set --region (or AWS_REGION) to sign in", 2)
    settings = stage_settings(args.stage)
    provider = str(settings.get("model_provider") or "bedrock")
    model_id = settings.get("openai_model_id" if provider == "openai" else "model_id")
    return ChatTarget(
        name=args.stage,
        target=target,
        model=model_label(provider, str(model_id) if model_id else "(see cdk.json)"),
        prices=stage_prices(settings),
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    stop: threading.Event | None = None,
) -> int:
    """Serve until Ctrl-C (or `stop` is set); every failure is one line on stderr and a non-zero exit code."""
    args = parse_args(argv)
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        err.write(f"error: {invoke.NO_BOTO3.format(sys.executable)}\n")
        return 2
    from webui.server import ChatServer
    from webui.transcripts import Transcripts

    try:
        chat = deployed_chat(args, lambda region: boto3.client("cloudformation", region_name=region))
        server = ChatServer(chat, Transcripts(None), args.port)
    except invoke.Failure as failure:
        err.write(f"error: {failure}\n")
        return failure.code
    except (BotoCoreError, ClientError) as error:
        err.write(f"error: AWS: {invoke.aws_message(error)}\n")
        return invoke.AWS_ERROR
    except OSError:
        err.write(f"error: port {args.port} is in use; choose another with --port (0: any free port)\n")
        return 2
    with server:
        out.write(f"chat page for stage {chat.name} at {server.url} (model: {chat.model}); Ctrl-C stops\n")
        out.flush()
        try:
            (stop or threading.Event()).wait()
        except KeyboardInterrupt:
            out.write("stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
