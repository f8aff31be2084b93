#!/usr/bin/env python3
"""Post-deploy smoke test of one stage: inbound auth is on, the gateway serves its tools, and per-user
authorization holds (a customer reads its own order and is refused another's; the M2M client reads none).

    python scripts/smoke.py --stage dev
    INVOCATION_URL=... GATEWAY_URL=... TOKEN_ENDPOINT=... USER_POOL_ID=... MACHINE_CLIENT_ID=... \\
        USER_CLIENT_ID=... AWS_REGION=eu-west-1 python scripts/smoke.py

Values come from flags, else environment variables (the pipeline passes the CfnOutputs), else the outputs
of `<stage>-Runtime`, `<stage>-Gateway` and `<stage>-Identity` (CloudFormation is asked only for what is
missing).
Checks, one PASS/FAIL line each, in order:
  runtime-anonymous   the runtime refuses a call without a token (401/403)
  gateway-anonymous   the gateway refuses an MCP initialize without a token (401/403)
  m2m-token           the machine client's secret (cognito-idp DescribeUserPoolClient) buys a
                      client_credentials access token with the gateway scope
  gateway-tools       tools/list has `<target>___<tool>` for every tool in lambdas/*/tools.json
  gateway-search      x_amz_bedrock_agentcore_search("where is my order") finds orders___get_order
  m2m-no-orders       orders___get_order(ORD-1001) with the M2M token is refused (PERMISSION_DENIED):
                      the agent's own identity reads no customer data
  customer-token      a temporary user linked to customer CUST-001, with a random password, signs in
                      through the user client (see scripts/temporary_user.py; deleted afterwards)
  customer-own-order  as that customer, orders___get_order(ORD-1001) returns the seeded order
  customer-other      as that customer, orders___get_order(ORD-1004) (CUST-002's) is refused
  customer-cleanup    the temporary user is deleted
  alarm-metrics       every alarm of the stage (output AlarmNames of `<stage>-Observability`, or
                      ALARM_NAMES) watches a metric CloudWatch lists (scripts/alarm_metrics.py); a missing
                      one is named. New metrics take minutes to be listed: --alarm-metrics-wait (default
                      300 s) asks again until then. Memory and score metrics need an agent turn and an
                      evaluated session first; --no-alarm-metrics skips the check on a stage without them.
The order reads need the sample data: --no-seed-data skips them (the temporary user is then not created).
Secrets, passwords and tokens are never printed.

Exit codes: 0 every check passed, 1 a check failed, 2 bad arguments or configuration, 130 interrupted.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import ssl
import sys
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

if not __package__:  # `python scripts/smoke.py`: the repository root makes `scripts.` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts import alarm_metrics, step_role, temporary_user
from scripts.invoke import (
    AWS_ERROR,
    DEFAULT_ENDPOINT,
    Failure,
    aws_message,
    invocation_url,
    invoke,
    stack_outputs,
    stage_region,
)

LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
SEPARATOR = "___"
SEARCH_TOOL = "x_amz_bedrock_agentcore_search"
SEARCH_QUERY = "where is my order"
EXPECTED_SEARCH_HIT = f"orders{SEPARATOR}get_order"
SEED_ORDER = "ORD-1001"  # lambdas/orders/seed.json: customer CUST-001's
SEED_CUSTOMER = "CUST-001"
OTHER_ORDER = "ORD-1004"  # customer CUST-002's
GET_ORDER = f"orders{SEPARATOR}get_order"
M2M_CHECKS = ("gateway-tools", "gateway-search", "m2m-no-orders")
CUSTOMER_CHECKS = ("customer-token", "customer-own-order", "customer-other", "customer-cleanup")
ALARM_CHECK = "alarm-metrics"
ALARM_NAMES = ("ALARM_NAMES", "Observability", "AlarmNames")  # environment variable, stack suffix, output
ANONYMOUS_PROMPT = "smoke test: an anonymous call that the runtime must refuse"
GATEWAY_SCOPE = "invoke"  # stacks/identity_stack.py: <project>-<stage>-gateway/invoke
# stacks/identity_stack.py: the Cognito domain prefix is <project>-<stage>-auth-<account id>
COGNITO_DOMAIN = re.compile(r"^(?P<base>[a-z0-9-]+)-auth-\d{12}\.auth\.[a-z0-9-]+\.amazoncognito\.com$")
MAX_LIST_PAGES = 20

# flag dest -> (environment variable, stack suffix, output key)
SETTINGS: dict[str, tuple[str, str, str]] = {
    "invocation_url": ("INVOCATION_URL", "Runtime", "InvocationUrl"),
    "gateway_url": ("GATEWAY_URL", "Gateway", "GatewayUrl"),
    "token_endpoint": ("TOKEN_ENDPOINT", "Identity", "TokenEndpoint"),
    "user_pool_id": ("USER_POOL_ID", "Identity", "UserPoolId"),
    "machine_client_id": ("MACHINE_CLIENT_ID", "Identity", "MachineClientId"),
    "user_client_id": ("USER_CLIENT_ID", "Identity", "UserClientId"),
}


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for the run's HTTP clients (httpx loads the CA bundle again for each client)."""
    return httpx.create_ssl_context()


class CheckFailed(Exception):
    """A check's one-line reason for failing."""


@dataclass(frozen=True)
class Config:
    """Everything the checks need, resolved from flags, environment and stack outputs."""

    stage: str
    invocation_url: str
    gateway_url: str
    token_endpoint: str
    user_pool_id: str
    machine_client_id: str
    user_client_id: str
    region: str | None
    scope: str | None
    timeout: float
    seed_data: bool
    alarm_names: tuple[str, ...] | None = None  # None: the alarm check is skipped
    alarm_metrics_wait: float = 0.0


@dataclass
class Report:
    """Prints each result as it comes, so an operator sees progress and the pipeline log shows every check."""

    out: TextIO
    failed: list[str] = field(default_factory=list)
    passed: int = 0
    seen: list[str] = field(default_factory=list)

    def result(self, name: str, ok: bool, detail: str, seconds: float) -> None:
        self.out.write(f"{'PASS' if ok else 'FAIL'}  {name:<18} {seconds:6.2f}s  {detail}\n")
        self.out.flush()
        self.seen.append(name)
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)

    @contextmanager
    def check(self, name: str) -> Iterator[list[str]]:
        """Time a block: CheckFailed is its FAIL reason, the first string left in `note` its PASS note."""
        note: list[str] = []
        start = time.monotonic()
        try:
            yield note
        except CheckFailed as failure:
            self.result(name, False, str(failure), time.monotonic() - start)
        except Exception as error:  # a surprise is still one FAIL line, not a traceback
            self.result(name, False, f"unexpected {_describe(error)}", time.monotonic() - start)
        else:
            self.result(name, True, note[0] if note else "", time.monotonic() - start)

    def not_run(self, name: str, reason: str) -> None:
        self.result(name, False, f"not run: {reason}", 0.0)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line interface; argparse exits with 2 and a usage line on bad arguments."""
    parser = argparse.ArgumentParser(
        description="Smoke-test a deployed stage: auth is enforced and the gateway serves its tools.",
        epilog="Flags override environment variables, which override stack outputs. "
        "Exit codes: 0 all checks passed, 1 a check failed, 2 usage/config, 130 interrupted.",
    )
    parser.add_argument(
        "--stage", default="dev", help="stage name; stacks <stage>-Runtime, <stage>-Gateway, <stage>-Identity"
    )
    parser.add_argument("--region", help="AWS region (default: AWS_REGION, then the Identity stack output)")
    parser.add_argument("--invocation-url", help="runtime invocation URL (env INVOCATION_URL)")
    parser.add_argument("--gateway-url", help="gateway MCP URL (env GATEWAY_URL)")
    parser.add_argument("--token-endpoint", help="Cognito OAuth2 token endpoint (env TOKEN_ENDPOINT)")
    parser.add_argument("--user-pool-id", help="Cognito user pool id (env USER_POOL_ID)")
    parser.add_argument("--machine-client-id", help="M2M app client id (env MACHINE_CLIENT_ID)")
    parser.add_argument("--user-client-id", help="user app client id (env USER_CLIENT_ID)")
    parser.add_argument(
        "--scope",
        help="OAuth scope for the gateway (env GATEWAY_SCOPE; default: derived from the token endpoint, "
        "else the machine client's only allowed scope)",
    )
    parser.add_argument(
        "--no-seed-data", action="store_true", help="the tables hold no sample data: skip the order reads"
    )
    parser.add_argument(
        "--timeout", type=float, default=15.0, help="seconds for each network call (default 15)"
    )
    parser.add_argument(
        "--no-alarm-metrics",
        action="store_true",
        help="skip the check that every alarm's metric exists (a stage that has carried no traffic yet)",
    )
    parser.add_argument(
        "--alarm-metrics-wait",
        type=float,
        default=300.0,
        help="seconds to wait for alarm metrics to be listed (default 300)",
    )
    parser.add_argument(
        "--role-arn",
        help=f"assume this role for every AWS call (env {step_role.ENVIRONMENT}; a stage in another account)",
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.alarm_metrics_wait < 0:
        parser.error("--alarm-metrics-wait must not be negative")
    return args


def resolve_config(
    args: argparse.Namespace, environ: Mapping[str, str], cloudformation_factory: Callable[[str | None], Any]
) -> Config:
    """Flags, then environment, then stack outputs; each stack is read at most once, and only if needed."""
    region = args.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    cache: dict[str, dict[str, str]] = {}

    def output(suffix: str, key: str) -> str | None:
        name = f"{args.stage}-{suffix}"
        if name not in cache:
            # With no region configured, the stacks are looked up where cdk.json deploys the stage.
            cache[name] = stack_outputs(cloudformation_factory(region or stage_region(args.stage)), name)
        return cache[name].get(key)

    values: dict[str, str] = {}
    for setting, (variable, suffix, key) in SETTINGS.items():
        value = getattr(args, setting) or environ.get(variable)
        if not value and setting == "invocation_url":
            value = output(suffix, key) or _url_from_arn(output(suffix, "RuntimeArn"), output, region)
        elif not value:
            value = output(suffix, key)
        if not value:
            raise Failure(
                f"no {setting.replace('_', ' ')}: pass --{setting.replace('_', '-')}, set {variable} "
                f"or deploy stack {args.stage}-{suffix} with output {key}",
                2,
            )
        values[setting] = value
    for setting in ("invocation_url", "gateway_url", "token_endpoint"):
        if not values[setting].startswith(("https://", "http://")):
            raise Failure(f"the {setting.replace('_', ' ')} {values[setting]!r} is not an http(s) URL", 2)
    alarm_names = None
    if not args.no_alarm_metrics:
        variable, suffix, key = ALARM_NAMES
        listed = environ.get(variable) or output(suffix, key)
        if not listed:
            raise Failure(
                f"no alarm names: set {variable}, deploy stack {args.stage}-{suffix} with output {key}, "
                "or pass --no-alarm-metrics",
                2,
            )
        alarm_names = tuple(name.strip() for name in listed.split(",") if name.strip())
    if region is None and f"{args.stage}-Identity" in cache:
        region = cache[f"{args.stage}-Identity"].get("Region")
    # A Cognito user pool id starts with its region (eu-west-1_AbCdEf123).
    region = region or values["user_pool_id"].split("_")[0]
    return Config(
        stage=args.stage,
        region=region,
        scope=args.scope
        or environ.get("GATEWAY_SCOPE")
        or scope_from_token_endpoint(values["token_endpoint"]),
        timeout=args.timeout,
        seed_data=not args.no_seed_data,
        alarm_names=alarm_names,
        alarm_metrics_wait=args.alarm_metrics_wait,
        **values,
    )


def _url_from_arn(
    arn: str | None, output: Callable[[str, str], str | None], region: str | None
) -> str | None:
    """Older Runtime stacks publish only the ARN: build the data-plane URL as invoke.py does."""
    if not arn:
        return None
    arn_region = arn.split(":")[3] if arn.count(":") >= 5 else None
    endpoint = output("Runtime", "RuntimeEndpointName") or DEFAULT_ENDPOINT
    return invocation_url(arn_region or region or "", arn, endpoint)


def scope_from_token_endpoint(token_endpoint: str) -> str | None:
    """`https://<project>-<stage>-auth-<account>.auth.<region>.amazoncognito.com/...`
    -> `<project>-<stage>-gateway/invoke` (the naming in stacks/identity_stack.py)."""
    match = COGNITO_DOMAIN.match(urllib.parse.urlsplit(token_endpoint).hostname or "")
    return f"{match['base']}-gateway/{GATEWAY_SCOPE}" if match else None


def expected_tools(lambdas_dir: Path = LAMBDAS_DIR) -> set[str]:
    """`<target>___<tool>` for every tool a target declares; the gateway must list each of them."""
    names = set()
    for tools_json in sorted(lambdas_dir.glob("*/tools.json")):
        names.update(
            f"{tools_json.parent.name}{SEPARATOR}{tool['name']}"
            for tool in json.loads(tools_json.read_text())
        )
    return names


def check_runtime_refuses_anonymous(config: Config) -> str:
    """Proves the runtime's JWT authorizer is on: invoke.py's own call, without a token, must be refused."""
    session_id = f"smoke-{config.stage}-{uuid.uuid4()}"
    try:
        response = invoke(config.invocation_url, ANONYMOUS_PROMPT, session_id, None, config.timeout)
    except Failure as failure:
        if failure.code == 4:  # invoke.py's "access denied (HTTP 401/403 ...)"
            return f"refused: {str(failure).split(';')[0]}"
        raise CheckFailed(str(failure)) from None
    with response:
        status = response.status
    raise CheckFailed(f"the runtime ACCEPTED an anonymous invocation (HTTP {status}): inbound auth is off")


def check_gateway_refuses_anonymous(config: Config) -> str:
    """Proves the gateway's authorizer is on: a bare MCP initialize must get 401/403."""
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": types.LATEST_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "smoke-anonymous", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    try:
        response = httpx.post(
            config.gateway_url, json=message, headers=headers, timeout=config.timeout, verify=tls_context()
        )
    except httpx.HTTPError as error:
        raise CheckFailed(f"cannot reach {_host(config.gateway_url)}: {_describe(error)}") from None
    if response.status_code in (401, 403):
        return f"refused: HTTP {response.status_code}"
    if response.is_success:
        raise CheckFailed(
            f"the gateway ACCEPTED an anonymous MCP initialize (HTTP {response.status_code}): "
            "inbound auth is off"
        )
    raise CheckFailed(
        f"expected 401/403, the gateway answered HTTP {response.status_code}: {_body(response)}"
    )


def machine_token(config: Config, cognito: Any) -> str:
    """The machine client's secret from Cognito, then client_credentials at the token endpoint."""
    try:
        client = cognito.describe_user_pool_client(
            UserPoolId=config.user_pool_id, ClientId=config.machine_client_id
        )["UserPoolClient"]
    except Exception as error:
        raise CheckFailed(f"cannot read the machine client's secret: {aws_message(error)}") from None
    secret = client.get("ClientSecret")
    if not secret:
        raise CheckFailed(
            f"app client {config.machine_client_id} has no secret: it cannot do client_credentials"
        )
    scope = config.scope or _only_scope(client.get("AllowedOAuthScopes") or [])
    if not scope:
        raise CheckFailed(
            "cannot tell the gateway scope: pass --scope (e.g. <project>-<stage>-gateway/invoke)"
        )
    try:
        response = httpx.post(
            config.token_endpoint,
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(config.machine_client_id, secret),
            headers={"Accept": "application/json"},
            timeout=config.timeout,
            verify=tls_context(),
        )
    except httpx.HTTPError as error:
        raise CheckFailed(f"cannot reach {_host(config.token_endpoint)}: {_describe(error)}") from None
    document = _json(response)
    if response.status_code != 200:
        error = document.get("error") or "no error code"
        hint = {
            "invalid_client": "wrong client id or secret",
            "invalid_scope": f"the client may not ask for scope {scope}",
            "unauthorized_client": "the client is not allowed the client_credentials flow",
        }.get(str(error), _body(response))
        raise CheckFailed(
            f"the token endpoint refused the machine client (HTTP {response.status_code} {error}): {hint}"
        )
    token = document.get("access_token")
    if not isinstance(token, str) or not token:
        raise CheckFailed("the token endpoint answered 200 without an access_token")
    return token


def _only_scope(scopes: Sequence[str]) -> str | None:
    """The machine client's gateway scope, when the client has exactly one `.../invoke` scope."""
    candidates = [scope for scope in scopes if scope.endswith(f"/{GATEWAY_SCOPE}")]
    return candidates[0] if len(candidates) == 1 else None


Step = tuple[str, Callable[[ClientSession], Awaitable[str]]]


async def gateway_checks(config: Config, token: str, report: Report, steps: Sequence[Step], who: str) -> None:
    """One MCP session as the agent would open it with `token`; every step has its own deadline."""
    timeout = config.timeout
    names = [name for name, _ in steps]
    done: list[str] = []

    async def step(name: str, run: Callable[[ClientSession], Awaitable[str]], session: ClientSession) -> None:
        start = time.monotonic()
        try:
            with anyio.fail_after(timeout):
                note = await run(session)
        except CheckFailed as failure:
            report.result(name, False, str(failure), time.monotonic() - start)
        except TimeoutError:
            report.result(name, False, f"no answer within {timeout:g} s", time.monotonic() - start)
        except Exception as error:
            report.result(name, False, _describe(error), time.monotonic() - start)
        else:
            report.result(name, True, note, time.monotonic() - start)
        done.append(name)

    http = httpx.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        verify=tls_context(),
    )
    start = time.monotonic()
    try:
        # Backstop for connecting and closing; each step below also has its own deadline.
        with anyio.fail_after(timeout * (len(names) + 2)):
            async with (
                http,
                streamable_http_client(config.gateway_url, http_client=http) as (read, write, _),
                ClientSession(read, write, read_timeout_seconds=timedelta(seconds=timeout)) as session,
            ):
                with anyio.fail_after(timeout):
                    await session.initialize()
                for name, run in steps:
                    await step(name, run, session)
    except Exception as error:
        status = _http_status(error)
        if status in (401, 403):
            reason = (
                f"the gateway refused the {who} token (HTTP {status}): check its authorizer's allowed "
                "clients and the token's issuer"
            )
        elif any(isinstance(leaf, TimeoutError) for leaf in _leaves(error)):
            reason = f"MCP session with {_host(config.gateway_url)}: no answer within {timeout:g} s"
        else:
            reason = f"MCP session with {_host(config.gateway_url)} failed: {_describe(error)}"
        if not done:
            report.result(names[0], False, reason, time.monotonic() - start)
            done.append(names[0])
        for name in names:
            if name not in done:
                report.not_run(name, reason)


async def _list_tools(session: ClientSession) -> str:
    listed: set[str] = set()
    cursor: str | None = None
    for _ in range(MAX_LIST_PAGES):
        page = await session.list_tools(cursor=cursor)
        listed.update(tool.name for tool in page.tools)
        cursor = page.nextCursor
        if not cursor:
            break
    expected = expected_tools()
    if not expected:
        raise CheckFailed(f"no {LAMBDAS_DIR}/*/tools.json to compare with: run from a checkout of the repo")
    missing = sorted(expected - listed)
    if missing:
        raise CheckFailed(f"missing {len(missing)} tool(s): {', '.join(missing)}")
    if SEARCH_TOOL not in listed:
        raise CheckFailed(f"{SEARCH_TOOL} is not listed: semantic search is off")
    return f"{len(listed)} tools listed, all {len(expected)} expected present"


async def _search(session: ClientSession) -> str:
    result = await session.call_tool(SEARCH_TOOL, {"query": SEARCH_QUERY})
    if result.isError:
        raise CheckFailed(f"the search tool returned an error: {_text(result)[:200]}")
    data = _result_document(result)
    tools = data.get("tools") if isinstance(data, dict) else None
    if not isinstance(tools, list):
        raise CheckFailed(f"the search result has no 'tools' list: {_text(result)[:200]}")
    found = [tool.get("name") for tool in tools if isinstance(tool, dict)]
    if EXPECTED_SEARCH_HIT not in found:
        raise CheckFailed(f"{SEARCH_QUERY!r} did not find {EXPECTED_SEARCH_HIT}; found {found}")
    rank = found.index(EXPECTED_SEARCH_HIT) + 1
    return f"{SEARCH_QUERY!r} -> {EXPECTED_SEARCH_HIT} (rank {rank} of {len(found)})"


async def _get_order(session: ClientSession, order_id: str = SEED_ORDER) -> str:
    """The caller may read `order_id`: the seeded order comes back."""
    result = await session.call_tool(GET_ORDER, {"order_id": order_id})
    data = _result_document(result)
    if result.isError or not isinstance(data, dict) or "order" not in data:
        raise CheckFailed(f"get_order({order_id}) failed: {_error_text(result, data)}")
    order = data["order"]
    if not isinstance(order, dict) or order.get("order_id") != order_id:
        raise CheckFailed(f"get_order({order_id}) returned another order: {str(order)[:200]}")
    return f"{order_id} is {order.get('status')}"


def _refused_get_order(order_id: str, why: str) -> Callable[[ClientSession], Awaitable[str]]:
    """The caller may NOT read `order_id`: a refusal (the tool's PERMISSION_DENIED, or the gateway's own
    policy denial as an error result or JSON-RPC error), and no order in the answer."""

    async def run(session: ClientSession) -> str:
        try:
            result = await session.call_tool(GET_ORDER, {"order_id": order_id})
        except McpError as error:
            return f"get_order({order_id}) refused by the gateway: {str(error)[:120]}"
        data = _result_document(result)
        if isinstance(data, dict) and "order" in data:
            raise CheckFailed(f"get_order({order_id}) RETURNED the order: {why} is not enforced")
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("code") == "PERMISSION_DENIED":
            return f"get_order({order_id}) refused: {str(error.get('message'))[:120]}"
        if result.isError and not isinstance(error, dict) and "unknown tool" not in _text(result).lower():
            return f"get_order({order_id}) refused by the gateway: {_text(result)[:120]}"
        raise CheckFailed(f"get_order({order_id}) failed, but not as a refusal: {_error_text(result, data)}")

    return run


def _error_text(result: types.CallToolResult, data: Any) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    return f"{error.get('code')}: {error.get('message')}" if isinstance(error, dict) else _text(result)[:200]


def _result_document(result: types.CallToolResult) -> Any:
    """structuredContent if the server sent it, else the first text block that is JSON."""
    if result.structuredContent is not None:
        return result.structuredContent
    for block in result.content:
        if isinstance(block, types.TextContent):
            try:
                return json.loads(block.text)
            except ValueError:
                continue
    return None


def _text(result: types.CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, types.TextContent))


def _leaves(error: BaseException) -> list[BaseException]:
    """The innermost exceptions: MCP and anyio wrap the cause in groups and chains."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    cause = error.__cause__  # not __context__: that is whatever was being handled, often anyio internals
    if cause is not None and cause is not error and not isinstance(error, httpx.HTTPStatusError):
        return _leaves(cause)
    return [error]


def _describe(error: BaseException) -> str:
    """One line naming the root cause, not the wrapper ("unhandled errors in a TaskGroup")."""
    leaf = _leaves(error)[0]
    if isinstance(leaf, httpx.HTTPStatusError):
        return f"HTTP {leaf.response.status_code} from {_host(str(leaf.request.url))}"
    text = str(leaf).splitlines()[0] if str(leaf) else ""
    return f"{type(leaf).__name__}: {text}"[:300] if text else type(leaf).__name__


def _http_status(error: BaseException) -> int | None:
    """The HTTP status behind a failure, if one of its root causes is an HTTP error response."""
    for leaf in _leaves(error):
        if isinstance(leaf, httpx.HTTPStatusError):
            return leaf.response.status_code
    return None


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _body(response: httpx.Response) -> str:
    return " ".join(response.text.split())[:200] or response.reason_phrase


def check_alarm_metrics(config: Config, cloudwatch: Any) -> str:
    """Every alarm of the stage watches a metric that exists, after this run's traffic."""
    assert config.alarm_names is not None
    try:
        problems = alarm_metrics.missing_metrics(
            cloudwatch, config.alarm_names, wait_seconds=config.alarm_metrics_wait
        )
    except LookupError as error:
        raise CheckFailed(str(error)) from None
    if problems:
        raise CheckFailed("; ".join(f"alarm {name}: {why}" for name, why in problems.items()))
    return f"{len(config.alarm_names)} alarms watch listed metrics"


def run_checks(config: Config, cognito: Any, out: TextIO, cloudwatch: Any = None) -> Report:
    """Every check, in order; a failed check never stops the independent ones after it."""
    report = Report(out)
    out.write(
        f"smoke test of stage {config.stage}: runtime {_host(config.invocation_url)}, "
        f"gateway {_host(config.gateway_url)}\n"
    )
    with report.check("runtime-anonymous") as note:
        note.append(check_runtime_refuses_anonymous(config))
    with report.check("gateway-anonymous") as note:
        note.append(check_gateway_refuses_anonymous(config))
    token: str | None = None
    with report.check("m2m-token") as note:
        token = machine_token(config, cognito)
        note.append(f"client_credentials token for {config.machine_client_id}")
    if token is None:
        for name in M2M_CHECKS:
            report.not_run(name, "no M2M token (see m2m-token)")
    else:
        steps: list[Step] = [(M2M_CHECKS[0], _list_tools), (M2M_CHECKS[1], _search)]
        steps.append((M2M_CHECKS[2], _refused_get_order(SEED_ORDER, "'the M2M client reads no order'")))
        anyio.run(gateway_checks, config, token, report, steps, "M2M")
    if not config.seed_data:
        for name in CUSTOMER_CHECKS:
            report.result(name, True, "skipped (--no-seed-data)", 0.0)
    else:
        customer_checks(config, cognito, report)
    if config.alarm_names is None:
        report.result(ALARM_CHECK, True, "skipped (--no-alarm-metrics)", 0.0)
    else:
        with report.check(ALARM_CHECK) as note:
            note.append(check_alarm_metrics(config, cloudwatch))
    return report


def customer_checks(config: Config, cognito: Any, report: Report) -> None:
    """A temporary customer of the seed data reads its own order and is refused another's; then it goes."""
    start = time.monotonic()
    try:
        with temporary_user.temporary_customer(
            cognito, config.user_pool_id, SEED_CUSTOMER, prefix=f"smoke-{config.stage}"
        ) as user:
            token = None
            with report.check("customer-token") as note:
                try:
                    token = temporary_user.access_token(cognito, config.user_client_id, user)
                except temporary_user.UserError as error:
                    raise CheckFailed(str(error)) from None
                note.append(f"temporary user linked to {SEED_CUSTOMER} signed in")
            if token is None:
                for name in CUSTOMER_CHECKS[1:3]:
                    report.not_run(name, "no customer token (see customer-token)")
            else:
                steps: list[Step] = [
                    (CUSTOMER_CHECKS[1], _get_order),
                    (
                        CUSTOMER_CHECKS[2],
                        _refused_get_order(OTHER_ORDER, "'customers read only their orders'"),
                    ),
                ]
                anyio.run(gateway_checks, config, token, report, steps, "customer")
            start = time.monotonic()
    except temporary_user.UserError as error:
        pending = [name for name in CUSTOMER_CHECKS if name not in report.seen]
        report.result(pending[0], False, str(error), time.monotonic() - start)
        for name in pending[1:]:
            report.not_run(name, f"see {pending[0]}")
        return
    report.result(CUSTOMER_CHECKS[3], True, "temporary user deleted", time.monotonic() - start)


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    environ: Mapping[str, str] = os.environ,
) -> int:
    """Run every check; failures are PASS/FAIL lines plus a summary, never a traceback."""
    args = parse_args(argv)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        from botocore.config import Config as BotoConfig

        boto_config = BotoConfig(
            connect_timeout=args.timeout,
            read_timeout=args.timeout,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        try:
            role = step_role.role_arn(args.role_arn, environ)
        except step_role.RoleArnError as error:
            raise Failure(str(error), 2) from None
        client = step_role.clients(role, "agentcore-smoke")
        config = resolve_config(
            args,
            environ,
            lambda region: client("cloudformation", region_name=region, config=boto_config),
        )
        cognito = client("cognito-idp", region_name=config.region, config=boto_config)
        cloudwatch = client("cloudwatch", region_name=config.region, config=boto_config)
        report = run_checks(config, cognito, out, cloudwatch)
    except Failure as failure:
        err.write(f"error: {failure}\n")
        return failure.code
    except (BotoCoreError, ClientError) as error:
        err.write(f"error: AWS: {aws_message(error)}\n")
        return AWS_ERROR
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return 130
    total = report.passed + len(report.failed)
    if report.failed:
        out.write(f"FAILED: {len(report.failed)} of {total} checks ({', '.join(report.failed)})\n")
        err.write(f"error: smoke test of stage {config.stage} failed: {', '.join(report.failed)}\n")
        return 1
    out.write(f"OK: all {total} checks passed\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
