#!/usr/bin/env python3
"""Log in to the stage's Cognito user pool and invoke the deployed agent, streaming its answer.

    .venv/bin/python scripts/invoke.py --stage dev "What can you do?"
    .venv/bin/python scripts/invoke.py --stage dev --session-id <id from a previous call> "And then?"
    .venv/bin/python scripts/invoke.py --stage dev --no-auth "hi"      # shows the AccessDenied path
    .venv/bin/python scripts/invoke.py --stage prod --endpoint canary "hi"   # a chosen runtime endpoint
    .venv/bin/python scripts/invoke.py --local [--user alice] "Where is my order ORD-1001?"   # `make local`
    echo "Where is my order ORD-1001?" | .venv/bin/python scripts/invoke.py --local -   # prompt from stdin

Stack outputs are read from `<stage>-Runtime` (RuntimeArn, RuntimeEndpointName, InvocationUrl, Region, and
with a canary CanaryEndpointName, CanaryPercent) and `<stage>-Identity` (UserPoolId, UserClientId, Region);
`--url` and `--client-id` skip CloudFormation. A stage with a canary gets its share of new sessions on the
canary endpoint, chosen from the session id as every caller should (scripts/endpoint_choice.py); `--endpoint`
picks one of the stage's endpoints (or AgentCore's DEFAULT, the newest version) instead.
Credentials: AGENT_USERNAME / AGENT_PASSWORD, else prompted. Only the standard library and boto3 are used.
`--local` reads the running local stage's `$LOCAL_STATE_DIR/stage.json` (default `.local/`) instead of
CloudFormation and logs in with the same Cognito call at the local issuer, as `--user` (else AGENT_USERNAME,
else alice) with its password from the stage's `users.json`. It needs boto3: run it with `.venv/bin/python`
(`make install`); another Python says so in one line.

Exit codes: 0 answered, 1 the agent reported an error, 2 bad arguments, configuration or a missing stack,
3 login failed, 4 access denied (401/403), 5 network or other HTTP error, 6 any other AWS error (credentials,
region, throttling), 130 interrupted.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
MIN_SESSION_ID = 33  # AgentCore rejects shorter runtime session ids
DEFAULT_ENDPOINT = "DEFAULT"
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from local.stage_lock import is_running  # noqa: E402  (standard library only, like this script)
from scripts.endpoint_choice import endpoint_for  # noqa: E402  (standard library only)

AWS_ERROR = 6  # exit code of an AWS call that failed (credentials, region, throttling, service error)
NO_BOTO3 = "this Python ({}) has no boto3: run `make install`, then `.venv/bin/python scripts/invoke.py`"


class Failure(Exception):
    """A failure with a one-line message for the operator and the process exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    """Where to send the call and how to log in."""

    url: str
    region: str | None
    client_id: str | None
    cognito_endpoint: str | None = None  # the local stage's issuer; None: the region's Cognito


def add_stage_arguments(parser: argparse.ArgumentParser, endpoint_default: str) -> None:
    """How a deployed stage is found (`resolve_target`): --stage, --region, --url, --client-id, --endpoint."""
    parser.add_argument(
        "--stage", default="dev", help="stage name; stacks <stage>-Runtime and <stage>-Identity"
    )
    parser.add_argument("--region", help="AWS region (default: the stack output, then AWS_REGION)")
    parser.add_argument("--url", help="invocation URL (skips the Runtime stack lookup)")
    parser.add_argument("--client-id", help="Cognito user app client id (skips the Identity stack lookup)")
    parser.add_argument(
        "--endpoint",
        help="the stage's runtime endpoint to call (live, canary, or DEFAULT: the newest version); "
        + endpoint_default,
    )


def parse_args(argv: Sequence[str] | None, stdin: TextIO = sys.stdin) -> argparse.Namespace:
    """Command-line interface; argparse exits with 2 and a usage line on bad arguments."""
    parser = argparse.ArgumentParser(
        description="Invoke the deployed AgentCore agent as a Cognito user and stream the answer.",
        epilog="Exit codes: 0 ok, 1 agent error, 2 usage/config/missing stack, 3 login, 4 access denied, "
        "5 network/HTTP, 6 other AWS error (credentials, region, throttling), 130 interrupted.",
    )
    parser.add_argument("prompt", help="what to ask the agent; - reads it from standard input")
    add_stage_arguments(parser, "default: live, or canary for the stage's canary share of new sessions")
    parser.add_argument(
        "--session-id", help=f"continue a conversation (at least {MIN_SESSION_ID} characters)"
    )
    parser.add_argument(
        "--no-auth", action="store_true", help="send no token (the runtime must refuse the call)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for data (default 300)")
    parser.add_argument(
        "--local", action="store_true", help="talk to the local stage started by `make local`"
    )
    parser.add_argument(
        "--user", help="with --local: the local user to log in as (default AGENT_USERNAME, else alice)"
    )
    args = parser.parse_args(argv)
    if args.prompt == "-":
        args.prompt = stdin.read()
    if args.user is not None and not args.local:
        parser.error("--user needs --local (deployed stages log in with AGENT_USERNAME)")
    if args.endpoint is not None and (args.url or args.local):
        parser.error(
            "--endpoint picks one of the stage's endpoints from its outputs: with --url, set ?qualifier= in "
            "the URL; the local stage has one endpoint"
        )
    if not args.prompt.strip():
        parser.error("the prompt is empty")
    if args.session_id is not None and len(args.session_id) < MIN_SESSION_ID:
        parser.error(f"--session-id must have at least {MIN_SESSION_ID} characters")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    return args


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The outputs of one stack as a dict; a missing stack is a configuration failure (2), any other AWS
    error (credentials, region, throttling) goes up to main's AWS_ERROR."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as error:
        if aws_code(error) != "ValidationError":  # CloudFormation's code for "Stack ... does not exist"
            raise
        raise Failure(f"cannot read stack {stack_name}: {aws_message(error)}", 2) from None
    outputs = stacks[0].get("Outputs", []) if stacks else []
    return {item["OutputKey"]: item["OutputValue"] for item in outputs}


def stage_region(stage: str, cdk_json: Path = REPO_ROOT / "cdk.json") -> str | None:
    """The region `stage` is configured for in cdk.json (its own `region`, else the defaults'), so the
    scripts work with no AWS region configured; None when cdk.json does not say."""
    try:
        context = json.loads(cdk_json.read_text())["context"]
        settings = context.get("agentcore:stages", {}).get(stage)
        defaults = context.get("agentcore:defaults", {})
        region = (settings if isinstance(settings, dict) else {}).get("region") or defaults.get("region")
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return None
    return region if isinstance(region, str) else None


def invocation_url(region: str, runtime_arn: str, endpoint: str) -> str:
    """The data-plane URL of a runtime endpoint; the ARN is URL-encoded into the path."""
    arn = urllib.parse.quote(runtime_arn, safe="")
    qualifier = urllib.parse.quote(endpoint, safe="")
    return (
        f"https://bedrock-agentcore.{region}.amazonaws.com/runtimes/{arn}/invocations?qualifier={qualifier}"
    )


def choose_endpoint(args: argparse.Namespace, runtime: Mapping[str, str]) -> str | None:
    """The endpoint (qualifier) to call, from --endpoint or the stage's canary split of `args.session_id`;
    None: the one the outputs' URL names (the endpoint clients call)."""
    live, canary = runtime.get("RuntimeEndpointName"), runtime.get("CanaryEndpointName")
    if args.endpoint is not None:
        known = sorted({name for name in (live, canary, DEFAULT_ENDPOINT) if name})
        if args.endpoint not in known:
            raise Failure(
                f"stage {args.stage} has no runtime endpoint {args.endpoint!r} (its endpoints: "
                f"{', '.join(known)})",
                2,
            )
        return args.endpoint
    percent = runtime.get("CanaryPercent", "0")
    if not (canary and live and percent.isdigit() and args.session_id):
        return None
    chosen = endpoint_for(args.session_id, int(percent), live, canary)
    return chosen if chosen != live else None


def with_qualifier(url: str, qualifier: str) -> str:
    """`url` with its `qualifier` query parameter set (the endpoint an invocation goes to)."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "qualifier"]
    query.append(("qualifier", qualifier))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def qualifier_of(url: str) -> str | None:
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("qualifier")
    return values[0] if values else None


def resolve_target(args: argparse.Namespace, cloudformation_factory: Callable[[str | None], Any]) -> Target:
    """Combine overrides and stack outputs; CloudFormation is only asked for what was not given."""
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    url, client_id = args.url, args.client_id
    if not region and (url is None or (client_id is None and not args.no_auth)):
        region = stage_region(args.stage)  # no region configured: where cdk.json deploys the stage
    if url is None:
        runtime = stack_outputs(cloudformation_factory(region), f"{args.stage}-Runtime")
        region = args.region or runtime.get("Region") or region
        endpoint = choose_endpoint(args, runtime)
        url = runtime.get("InvocationUrl")
        if not url:
            arn = runtime.get("RuntimeArn")
            if not arn:
                raise Failure(f"stack {args.stage}-Runtime has no RuntimeArn or InvocationUrl output", 2)
            arn_region = arn.split(":")[3] if arn.count(":") >= 5 else None
            url = invocation_url(
                region or arn_region or "",
                arn,
                endpoint or runtime.get("RuntimeEndpointName") or DEFAULT_ENDPOINT,
            )
        elif endpoint:
            url = with_qualifier(url, endpoint)
    if client_id is None and not args.no_auth:
        identity = stack_outputs(cloudformation_factory(region), f"{args.stage}-Identity")
        region = args.region or identity.get("Region") or region
        client_id = identity.get("UserClientId")
        if not client_id:
            raise Failure(f"stack {args.stage}-Identity has no UserClientId output", 2)
    if not url.startswith(("https://", "http://")):
        raise Failure(f"the invocation URL {url!r} is not an http(s) URL", 2)
    return Target(url=url, region=region, client_id=client_id)


def local_target(stage_file: Path, user: str | None) -> tuple[Target, tuple[str, str]]:
    """The local stage's URL and login, and the user's credentials, from the files `make local` writes;
    `user` is --user or AGENT_USERNAME (its password always comes from users.json)."""
    try:
        stage = json.loads(stage_file.read_text())
        passwords = json.loads(Path(stage["users_file"]).read_text())
    except (OSError, ValueError, KeyError):
        raise Failure(
            f"no local stage is running ({stage_file} missing or unreadable): start `make local`", 2
        ) from None
    if not is_running(stage_file.parent):
        raise Failure(
            f"the local stage in {stage_file.parent} ended without a clean stop (its processes are gone, "
            f"{stage_file.name} was left behind): start `make local` again",
            2,
        )
    name = user or "alice"
    if name not in passwords:
        raise Failure(
            f"{name!r} (--user / AGENT_USERNAME) is not a local user; "
            f"choose from {', '.join(sorted(passwords))}",
            2,
        )
    target = Target(
        stage["invocation_url"], stage["region"], stage["user_client_id"], stage["cognito_endpoint"]
    )
    return target, (name, passwords[name])


def credentials(
    environ: Mapping[str, str], ask: Callable[[str], str], ask_secret: Callable[[str], str]
) -> tuple[str, str]:
    """Username and password from the environment, else from the terminal."""
    username = environ.get("AGENT_USERNAME") or ask("Username: ").strip()
    password = environ.get("AGENT_PASSWORD") or ask_secret("Password: ")
    if not username or not password:
        raise Failure("a username and password are required (AGENT_USERNAME / AGENT_PASSWORD)", 3)
    return username, password


def login(
    cognito: Any,
    client_id: str,
    username: str,
    password: str,
    ask_code: Callable[[str], str],
) -> str:
    """USER_PASSWORD_AUTH, answering a SOFTWARE_TOKEN_MFA challenge; returns the access token."""
    try:
        response = cognito.initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH",
            ClientId=client_id,
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
        if response.get("ChallengeName") == "SOFTWARE_TOKEN_MFA":
            code = ask_code("Authenticator app code: ").strip()
            response = cognito.respond_to_auth_challenge(
                ClientId=client_id,
                ChallengeName="SOFTWARE_TOKEN_MFA",
                Session=response["Session"],
                ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": code},
            )
    except Failure:  # raised by ask_code: its own one line (the chat page's "enter your code")
        raise
    except Exception as error:
        raise Failure(f"login failed: {aws_message(error)}", 3) from None
    challenge = response.get("ChallengeName")
    if challenge == "NEW_PASSWORD_REQUIRED":
        raise Failure(
            "login failed: the user must set a new password first (admin-set-user-password --permanent)", 3
        )
    if challenge:
        raise Failure(f"login failed: unsupported challenge {challenge}", 3)
    token = response.get("AuthenticationResult", {}).get("AccessToken")
    if not token:
        raise Failure("login failed: Cognito returned no access token", 3)
    return token


def invoke(url: str, prompt: str, session_id: str, token: str | None, timeout: float) -> Any:
    """POST the prompt; return the open response (the caller streams it). HTTP errors become Failures."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream, application/json",
        SESSION_HEADER: session_id,
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps({"prompt": prompt}).encode(), headers=headers, method="POST"
    )
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        raise _http_failure(error) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Failure(f"cannot reach {urllib.parse.urlsplit(url).netloc}: {reason}", 5) from None


def stream_answer(response: Any, out: TextIO, err: TextIO) -> int:
    """Print SSE text events as they arrive; return 1 if the agent reported an error, else 0."""
    content_type = response.headers.get("Content-Type", "")
    if not content_type.startswith("text/event-stream"):
        out.write(response.read().decode("utf-8", "replace") + "\n")
        return 0
    status = 0
    try:
        for event in _sse_events(response):
            status = max(status, _show(event, out, err))
    except OSError as error:  # includes timeouts
        raise Failure(f"the answer stream broke off: {error}", 5) from None
    out.write("\n")
    out.flush()
    return status


def _sse_events(lines: Iterable[bytes]) -> Iterable[Any]:
    """Decode `data:` lines (one JSON value each, as the AgentCore SDK writes them)."""
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith("data:"):
            data = line[5:].strip()
            try:
                yield json.loads(data)
            except json.JSONDecodeError:
                yield data


def _show(event: Any, out: TextIO, err: TextIO) -> int:
    """Render one event; typed events come from this project's agent, bare strings from other agents."""
    if isinstance(event, str):
        out.write(event)
    elif isinstance(event, dict) and event.get("type") == "text":
        out.write(str(event.get("text", "")))
    elif isinstance(event, dict) and event.get("type") == "tool":
        err.write(f"[using tool {event.get('name')}]\n")
    elif isinstance(event, dict) and (event.get("type") == "error" or "error" in event):
        message = event.get("message") or event.get("error")
        err.write(f"\nagent error ({event.get('error')}): {message}\n")
        return 1
    out.flush()
    return 0


def _http_failure(error: urllib.error.HTTPError) -> Failure:
    """Turn an HTTP error (JSON body from AgentCore or the agent) into one line."""
    body = error.read().decode("utf-8", "replace")
    try:
        document = json.loads(body)
    except json.JSONDecodeError:
        document = {}
    kind = error.headers.get("x-amzn-ErrorType", "").split(":")[0] or (
        document.get("error") if isinstance(document, dict) else None
    )
    detail = (document.get("message") or document.get("Message")) if isinstance(document, dict) else None
    detail = detail or body.strip()[:200] or error.reason
    if error.code in (401, 403):
        hint = (
            "log in (drop --no-auth) or check that your app client is allowed" if kind else "check your token"
        )
        return Failure(
            f"access denied (HTTP {error.code} {kind or 'AccessDeniedException'}): {detail}; {hint}", 4
        )
    return Failure(f"the runtime answered HTTP {error.code} {kind or ''}: {detail}".replace("  ", " "), 5)


def aws_code(error: Exception) -> str | None:
    """The AWS error code of a botocore ClientError; None for any other error."""
    response = getattr(error, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def aws_message(error: Exception) -> str:
    """The AWS error code and message of a botocore error, or the exception's text."""
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        info = response["Error"]
        return f"{info.get('Code')}: {info.get('Message')}"
    return str(error) or type(error).__name__


def _unsigned() -> dict[str, Any]:
    """InitiateAuth is an unsigned call; the local issuer needs no AWS credentials either."""
    from botocore import UNSIGNED
    from botocore.config import Config

    return {"config": Config(signature_version=UNSIGNED)}


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    environ: Mapping[str, str] = os.environ,
    stdin: TextIO = sys.stdin,
) -> int:
    """Run the command; every failure is one line on stderr and a non-zero exit code."""
    args = parse_args(argv, stdin)
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        err.write(f"error: {NO_BOTO3.format(sys.executable)}\n")
        return 2

    try:
        import boto3

        login_as = None
        # Chosen first: a stage with a canary sends a share of new sessions there, by session id.
        args.session_id = args.session_id or f"{'local' if args.local else args.stage}-{uuid.uuid4()}"
        session_id = args.session_id
        if args.local:
            state_dir = REPO_ROOT / environ.get("LOCAL_STATE_DIR", ".local")  # as `python -m local`
            target, login_as = local_target(
                state_dir / "stage.json", args.user or environ.get("AGENT_USERNAME")
            )
        else:
            target = resolve_target(args, lambda region: boto3.client("cloudformation", region_name=region))
        token = None
        if not args.no_auth:
            if target.client_id is None or target.region is None:
                raise Failure("set --region (or AWS_REGION) to log in", 2)
            username, password = login_as or credentials(environ, input, getpass.getpass)
            cognito = boto3.client(
                "cognito-idp",
                region_name=target.region,
                endpoint_url=target.cognito_endpoint,
                **(_unsigned() if target.cognito_endpoint else {}),
            )
            token = login(cognito, target.client_id, username, password, input)
        qualifier = qualifier_of(target.url)
        err.write(f"session: {session_id}" + (f" (endpoint {qualifier})" if qualifier else "") + "\n")
        with invoke(target.url, args.prompt, session_id, token, args.timeout) as response:
            return stream_answer(response, out, err)
    except Failure as failure:
        err.write(f"error: {failure}\n")
        return failure.code
    except (BotoCoreError, ClientError) as error:
        err.write(f"error: AWS: {aws_message(error)}\n")
        return AWS_ERROR
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
