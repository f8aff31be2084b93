"""Gateway test fixtures: identity double, local gateway, moto DynamoDB, and the app as `__main__` wires it.

Used as a plugin (`pytest_plugins = ["tests.agent.gateway_fixtures"]`) so conftest.py stays untouched. The
wired app is the production one end to end: its real BedrockModel talks to the local ConverseStream server
(tests.agent.bedrock_fixtures), which replays each wired agent's scripted turns under a model id of its own.

moto and the local servers coexist without special configuration: `mock_aws` intercepts botocore requests
whose URL matches a mocked service's `url_bases` (e.g. `https?://dynamodb.<region>.amazonaws.com`), while
the `bedrock-agentcore` client is redirected by AWS_ENDPOINT_URL_BEDROCK_AGENTCORE to
`http://127.0.0.1:<port>`, which matches no moto URL pattern, so botocore really sends it to the identity
double. The MCP traffic is httpx, which moto does not patch. (`test_identity_double_works_under_mock_aws`
guards this.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from agentcore_agent.__main__ import wire_app
from strands import ModelRetryStrategy

from local.bedrock_runtime import ConverseStreamServer, Script
from local.gateway import Decision, JwtAuthorizer, running_gateway
from local.identity_server import IdentityServer, running_identity
from local.lambda_context import LAMBDAS_DIR
from local.oidc_issuer import OidcIssuer
from local.scripted_model import Call, Text
from tests.agent.bedrock_fixtures import scripted_model_id
from tests.agent.conftest import SESSION_A, Reply, Server, serve, settings

pytest_plugins = ["tests.agent.bedrock_fixtures"]  # fixture: bedrock

GATEWAY_TOKEN = "m2m-token-for-the-gateway"
WORKLOAD_TOKEN = "workload-access-token-from-the-runtime"
WORKLOAD_HEADER = "WorkloadAccessToken"  # the header the runtime sets; the SDK copies it into its context
PROVIDER = "gateway-m2m-provider"
SCOPES = "agentcore-tools/invoke agentcore-tools/read"
ACTOR = "3f1c2a9e-7d4b-4e21-9a77-1b2c3d4e5f60"  # a Cognito-style `sub`
OTHER_ACTOR = "9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e"
ORDER_PROMPT = "where is my order ORD-1001?"

# An extra target whose tool shares no word with the order question: without it the lexical search double
# matches every real tool (they all mention orders), and "only the search results" would be unobservable.
WEATHER_TOOLS = [
    {
        "name": "get_forecast",
        "description": "Weather forecast for a city: temperature, rain and wind for the next days.",
        "inputSchema": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name, e.g. Lisbon."}},
            "required": ["city"],
            "additionalProperties": False,
        },
    }
]
WEATHER_HANDLER = '''"""Weather tool for tests: never expected to be called."""


def lambda_handler(event, context):
    return {"forecast": "sunny", "city": event.get("city")}
'''


@pytest.fixture(scope="session")
def lambdas_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real orders and inventory functions (symlinked) plus an unrelated weather target."""
    root = tmp_path_factory.mktemp("lambdas")
    for name in ("orders", "inventory"):
        (root / name).symlink_to(LAMBDAS_DIR / name, target_is_directory=True)
    weather = root / "weather"
    weather.mkdir()
    (weather / "tools.json").write_text(json.dumps(WEATHER_TOOLS))
    (weather / "handler.py").write_text(WEATHER_HANDLER)
    return root


@pytest.fixture
def tables(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto DynamoDB with the orders and inventory tables created and seeded as the stack does."""
    from moto import mock_aws

    from tests.lambdas.conftest import INVENTORY_TABLE, ORDERS_TABLE, TABLE_DEFINITIONS, create_and_seed

    monkeypatch.setenv("ORDERS_TABLE_NAME", ORDERS_TABLE)
    monkeypatch.setenv("INVENTORY_TABLE_NAME", INVENTORY_TABLE)
    from gateway_tool.aws import dynamodb_client

    with mock_aws():
        dynamodb_client.cache_clear()
        for function in TABLE_DEFINITIONS:
            create_and_seed(function)
        yield
    dynamodb_client.cache_clear()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region: botocore signs requests but nothing reaches AWS."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("DOCKER_CONTAINER", raising=False)


@pytest.fixture
def identity(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[IdentityServer]:
    """The identity double, with the SDK's `bedrock-agentcore` client pointed at it."""
    with running_identity(GATEWAY_TOKEN) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", server.endpoint_url)
        yield server


@pytest.fixture
def user_tokens(issuer: OidcIssuer) -> dict[str, str]:
    """A verified access token for each of two users (actor id → token): a customer and an operator."""
    return {
        ACTOR: issuer.mint(sub=ACTOR, client_id="client-a", role="customer", customer_id="CUST-001"),
        OTHER_ACTOR: issuer.mint(sub=OTHER_ACTOR, client_id="client-a", role="operator"),
    }


@pytest.fixture
def gateway_audit() -> list[Decision]:
    """What the user gateway decided for every tools/call, with the `sub` of the token the call carried."""
    return []


@pytest.fixture
def gateway_url(lambdas_dir: Path) -> Iterator[str]:
    """The local gateway for the agent's own M2M token (auth off): accepts only GATEWAY_TOKEN."""
    with running_gateway(bearer_token=GATEWAY_TOKEN, lambdas_dir=lambdas_dir) as url:
        yield url


@pytest.fixture
def user_gateway_url(issuer: OidcIssuer, lambdas_dir: Path, gateway_audit: list[Decision]) -> Iterator[str]:
    """The local gateway verifying users' tokens as the deployed one does (app client `client-a`)."""
    authorizer = JwtAuthorizer(issuer.issuer, frozenset({"client-a"}))
    with running_gateway(authorizer=authorizer, lambdas_dir=lambdas_dir, audit=gateway_audit) as url:
        yield url


@dataclass
class WiredServer(Server):
    """The agent server built by `wire_app`; posts carry a user token and the runtime's workload token.

    `model` is the agent's script at the local ConverseStream server (its turns and the calls it answered).
    """

    model: Script | None = None  # type: ignore[assignment]
    user_token: str = ""

    def ask(
        self,
        prompt: str,
        *,
        session: str | None = SESSION_A,
        workload: str | None = WORKLOAD_TOKEN,
        token: str | None = None,
    ) -> Reply:
        """POST a prompt as the wired user (or with `token`, as another user)."""
        headers = {WORKLOAD_HEADER: workload} if workload else {}
        return self.post({"prompt": prompt}, session=session, token=token or self.user_token, headers=headers)


StartWired = Callable[..., WiredServer]


@pytest.fixture
def start_wired(
    issuer: OidcIssuer, aws_env: None, user_tokens: dict[str, str], bedrock: ConverseStreamServer
) -> Iterator[StartWired]:
    """`start_wired(turns, gateway_url=..., env=..., auth=True)` → the app as `__main__` wires it.

    With auth on (the deployed case) every turn has a verified user (`user_token`, ACTOR's by default) whose
    token the agent forwards to the gateway; with auth off there is none and the agent uses its M2M token.
    """
    stack: list[tuple[Any, Callable[[], None]]] = []

    def start(
        turns: list[Any] | None = None,
        *,
        gateway_url: str | None,
        env: dict[str, str] | None = None,
        auth: bool = True,
        user_token: str | None = None,
    ) -> WiredServer:
        model_id = scripted_model_id(f"wired-{len(stack)}")
        values = {
            "MODEL_ID": model_id,
            **({"OIDC_DISCOVERY_URL": issuer.discovery_url, "ALLOWED_CLIENTS": "client-a"} if auth else {}),
            "GATEWAY_CREDENTIAL_PROVIDER": PROVIDER,
            "GATEWAY_SCOPES": SCOPES,
            **({"GATEWAY_URL": gateway_url} if gateway_url else {}),
            **(env or {}),
        }
        app, close = wire_app(settings(**values), retry_factory=lambda: ModelRetryStrategy(max_attempts=1))
        context = serve(app)
        port = context.__enter__()
        stack.append((context, close))
        script = bedrock.script(*(turns or [Text("Hello.")]), model_id=model_id)
        return WiredServer(port=port, model=script, user_token=user_token or user_tokens[ACTOR])

    yield start
    for context, close in reversed(stack):
        context.__exit__(None, None, None)
        close()


class Scripted(Protocol):
    """A scripted model in-process (`ScriptedModel`) or at the wire (`Script`): the calls it answered."""

    @property
    def requests(self) -> Sequence[Call]: ...


def offered(model: Scripted, call: int = 0) -> list[str]:
    """Names of the tool specs the model was offered on one call."""
    return sorted(spec["name"] for spec in model.requests[call].tool_specs)


def tool_results(model: Scripted, call: int) -> list[dict[str, Any]]:
    """Every toolResult block the model saw on one call."""
    return [
        block["toolResult"]
        for message in model.requests[call].messages
        for block in message["content"]
        if "toolResult" in block
    ]


def gateway_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """WARNING records of the gateway module."""
    return [
        r
        for r in caplog.records
        if r.name.startswith("agentcore_agent.gateway") and r.levelno == logging.WARNING
    ]
