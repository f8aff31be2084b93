"""scripts/smoke.py against doubles: the local gateway (real JWT checks, interceptor, Cedar files and handlers
on moto DynamoDB), the runtime URL, the token endpoint, moto's cognito-idp for the machine client's secret and
the Cognito users double (real pre-token trigger) for the temporary customer. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from local.gateway import JwtAuthorizer, running_gateway
from local.lambda_context import LAMBDAS_DIR
from local.oidc_issuer import OidcIssuer
from tests.doubles import recorded_clients
from tests.doubles.cloudformation import stubbed_cloudformation
from tests.doubles.cognito_users import CognitoUsers
from tests.doubles.runtime_endpoint import RuntimeEndpoint, running_runtime
from tests.doubles.token_endpoint import TokenEndpoint, running_token_endpoint
from tests.ports import refused_port

pytest_plugins = ["tests.agent.gateway_fixtures"]  # fixtures: aws_env, tables (moto DynamoDB, seeded)

smoke = importlib.import_module("scripts.smoke")

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
RESOURCE_SERVER = "agentcore-dev-gateway"
SCOPE = f"{RESOURCE_SERVER}/invoke"
USER_CLIENT = "smoke-user-client"
CHECKS = ["runtime-anonymous", "gateway-anonymous", "m2m-token", "gateway-tools", "gateway-search"]
CUSTOMER_CHECKS = ["customer-token", "customer-own-order", "customer-other", "customer-cleanup"]
ALL_CHECKS = [*CHECKS, "m2m-no-orders", *CUSTOMER_CHECKS, "alarm-metrics"]
ALARM = "agentcore-dev-GatewaySystemErrors"
GATEWAY_ARN = "arn:aws:bedrock-agentcore:eu-west-1:123456789012:gateway/gw-AbCdEf1234"


@dataclass(frozen=True)
class MachineClient:
    pool_id: str
    client_id: str
    secret: str


@dataclass
class Stage:
    """A whole stage of doubles and the environment the pipeline would pass to the script."""

    runtime: RuntimeEndpoint
    tokens: TokenEndpoint
    gateway_url: str
    client: MachineClient
    m2m_token: str
    cognito: CognitoUsers

    def environ(self, **overrides: str) -> dict[str, str]:
        return {
            "INVOCATION_URL": self.runtime.url,
            "GATEWAY_URL": self.gateway_url,
            "TOKEN_ENDPOINT": self.tokens.url,
            "USER_POOL_ID": self.client.pool_id,
            "MACHINE_CLIENT_ID": self.client.client_id,
            "USER_CLIENT_ID": USER_CLIENT,
            "AWS_REGION": REGION,
            "ALARM_NAMES": ALARM,
            **overrides,
        }


@pytest.fixture
def machine_client(tables: None) -> MachineClient:
    """A moto user pool with the gateway resource server and an M2M client with a secret, as IdentityStack."""
    idp = boto3.client("cognito-idp", region_name=REGION)
    pool = idp.create_user_pool(PoolName="agentcore-dev-users")["UserPool"]["Id"]
    idp.create_resource_server(
        UserPoolId=pool,
        Identifier=RESOURCE_SERVER,
        Name=RESOURCE_SERVER,
        Scopes=[{"ScopeName": "invoke", "ScopeDescription": "Call the gateway tools"}],
    )
    client = idp.create_user_pool_client(
        UserPoolId=pool,
        ClientName="agentcore-dev-agent-m2m",
        GenerateSecret=True,
        AllowedOAuthFlows=["client_credentials"],
        AllowedOAuthScopes=[SCOPE],
        AllowedOAuthFlowsUserPoolClient=True,
    )["UserPoolClient"]
    return MachineClient(pool, client["ClientId"], client["ClientSecret"])


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


@pytest.fixture(autouse=True)
def cognito_users(monkeypatch: pytest.MonkeyPatch) -> list[CognitoUsers]:
    """The script's cognito-idp client is the users double of the stage started last (moto behind it)."""
    current: list[CognitoUsers] = []
    real_client = boto3.client

    def client(service: str, *args: object, **kwargs: object) -> object:
        return current[-1] if service == "cognito-idp" and current else real_client(service, *args, **kwargs)

    monkeypatch.setattr(boto3, "client", client)
    return current


def start_stage(
    stack: ExitStack,
    client: MachineClient,
    issuer: OidcIssuer,
    users: list[CognitoUsers],
    *,
    runtime_auth: bool = True,
    lambdas_dir: Path = LAMBDAS_DIR,
    known_secret: str | None = None,
    mfa_required: bool = False,
) -> Stage:
    runtime = stack.enter_context(running_runtime(require_auth=runtime_auth))
    m2m_token = issuer.mint(sub=client.client_id, client_id=client.client_id, scope=SCOPE)
    tokens = stack.enter_context(
        running_token_endpoint(
            client_id=client.client_id,
            client_secret=known_secret or client.secret,
            scope=SCOPE,
            access_token=m2m_token,
        )
    )
    authorizer = JwtAuthorizer(issuer.issuer, frozenset({USER_CLIENT}), frozenset({client.client_id}))
    gateway_url = stack.enter_context(running_gateway(authorizer=authorizer, lambdas_dir=lambdas_dir))
    watched_alarm(boto3.session.Session().client("cloudwatch", region_name=REGION))
    moto = boto3.session.Session().client("cognito-idp", region_name=REGION)
    users.append(CognitoUsers(moto, issuer, USER_CLIENT, mfa_required=mfa_required))
    return Stage(runtime, tokens, gateway_url, client, m2m_token, users[-1])


def watched_alarm(cloudwatch) -> None:
    """In moto's CloudWatch: the gateway alarm as stacks/metric_queries.py writes it, and its metric."""
    query = f"SELECT SUM(SystemErrors) FROM \"AWS/Bedrock-AgentCore\" WHERE Resource = '{GATEWAY_ARN}'"
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM,
        Metrics=[{"Id": "q", "Expression": query, "Period": 300, "ReturnData": True}],
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    dimensions = [{"Name": "Resource", "Value": GATEWAY_ARN}, {"Name": "Operation", "Value": "InvokeGateway"}]
    cloudwatch.put_metric_data(
        Namespace="AWS/Bedrock-AgentCore",
        MetricData=[{"MetricName": "SystemErrors", "Dimensions": dimensions, "Value": 0}],
    )


@pytest.fixture
def stage(
    machine_client: MachineClient, issuer: OidcIssuer, cognito_users: list[CognitoUsers]
) -> Iterator[Stage]:
    with ExitStack() as stack:
        yield start_stage(stack, machine_client, issuer, cognito_users)


def run(*argv: str, environ: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = smoke.main(
        ["--timeout", "5", "--alarm-metrics-wait", "0", *argv], out=out, err=err, environ=environ
    )
    return code, out.getvalue(), err.getvalue()


def verdicts(out: str) -> dict[str, str]:
    """check name -> PASS/FAIL, from the one line each check prints."""
    lines = [line.split() for line in out.splitlines()]
    return {words[1]: words[0] for words in lines if words and words[0] in ("PASS", "FAIL")}


def line_of(out: str, check: str) -> str:
    return next(line for line in out.splitlines() if line.split()[1:2] == [check])


def test_a_healthy_stage_passes_every_check(stage):
    code, out, err = run("--stage", "dev", environ=stage.environ())
    assert code == 0, out + err
    assert verdicts(out) == dict.fromkeys(ALL_CHECKS, "PASS")
    assert out.strip().endswith("OK: all 11 checks passed")
    assert "HTTP 401" in line_of(out, "runtime-anonymous")
    assert "HTTP 401" in line_of(out, "gateway-anonymous")
    assert "get_order(ORD-1001) refused" in line_of(out, "m2m-no-orders")
    assert "ORD-1001 is DELIVERED" in line_of(out, "customer-own-order")
    assert "get_order(ORD-1004) refused" in line_of(out, "customer-other")
    assert "orders___get_order" in line_of(out, "gateway-search")
    # The temporary customer existed only for the checks: created, signed in, deleted; nothing printed.
    (username,) = stage.cognito.deleted
    assert username.startswith("smoke-dev-") and not stage.cognito.users
    # The anonymous call really carried no token; the token request used the client's gateway scope.
    assert "authorization" not in stage.runtime.calls[0]["headers"]
    assert stage.tokens.requests == [
        {"client_id": stage.client.client_id, "grant_type": "client_credentials", "scope": SCOPE}
    ]
    assert stage.client.secret not in out + err and stage.m2m_token not in out + err
    assert all(line.split()[2].endswith("s") for line in out.splitlines() if line.startswith("PASS"))


def test_a_runtime_that_accepts_anonymous_calls_fails(machine_client, issuer, cognito_users):
    with ExitStack() as stack:
        stage = start_stage(stack, machine_client, issuer, cognito_users, runtime_auth=False)
        code, out, err = run(environ=stage.environ())
    assert code == 1
    assert verdicts(out)["runtime-anonymous"] == "FAIL"
    assert "ACCEPTED an anonymous invocation" in line_of(out, "runtime-anonymous")
    assert [name for name, verdict in verdicts(out).items() if verdict == "FAIL"] == ["runtime-anonymous"]
    assert "error: smoke test of stage dev failed: runtime-anonymous" in err


def test_a_gateway_missing_a_target_fails_the_tool_check(machine_client, issuer, cognito_users, tmp_path):
    lambdas = tmp_path / "lambdas"
    lambdas.mkdir()
    (lambdas / "orders").symlink_to(LAMBDAS_DIR / "orders", target_is_directory=True)
    with ExitStack() as stack:
        stage = start_stage(stack, machine_client, issuer, cognito_users, lambdas_dir=lambdas)
        code, out, _ = run(environ=stage.environ())
    assert code == 1
    tools_line = line_of(out, "gateway-tools")
    assert tools_line.startswith("FAIL")
    assert (
        "missing 4 tool(s): inventory___check_stock, inventory___release_stock, inventory___reserve_stock,"
        " inventory___search_products" in (tools_line)
    )
    assert verdicts(out)["customer-own-order"] == "PASS"  # independent checks still run


def test_a_gateway_without_the_orders_target_fails_search_and_read(
    machine_client, issuer, cognito_users, tmp_path
):
    lambdas = tmp_path / "lambdas"
    lambdas.mkdir()
    (lambdas / "inventory").symlink_to(LAMBDAS_DIR / "inventory", target_is_directory=True)
    with ExitStack() as stack:
        stage = start_stage(stack, machine_client, issuer, cognito_users, lambdas_dir=lambdas)
        code, out, _ = run(environ=stage.environ())
    assert code == 1
    assert "'where is my order' did not find orders___get_order" in line_of(out, "gateway-search")
    assert "not as a refusal" in line_of(out, "m2m-no-orders")  # an unknown tool proves nothing
    assert "get_order(ORD-1001) failed" in line_of(out, "customer-own-order")
    assert line_of(out, "customer-own-order").startswith("FAIL")


def test_a_wrong_client_secret_fails_with_a_clear_message(machine_client, issuer, cognito_users):
    with ExitStack() as stack:
        stage = start_stage(
            stack, machine_client, issuer, cognito_users, known_secret="the-secret-cognito-really-has"
        )
        code, out, err = run(environ=stage.environ())
    assert code == 1
    assert (
        "the token endpoint refused the machine client (HTTP 400 invalid_client): wrong client id or secret"
        in line_of(out, "m2m-token")
    )
    for check in ("gateway-tools", "gateway-search", "m2m-no-orders"):
        assert "not run: no M2M token" in line_of(out, check)
    assert verdicts(out)["customer-own-order"] == "PASS"  # the customer checks do not need the M2M token
    assert "Traceback" not in out + err


def test_a_gateway_that_is_down_fails_without_a_traceback(stage):
    down = f"http://127.0.0.1:{refused_port()}/mcp"
    code, out, err = run(environ=stage.environ(GATEWAY_URL=down))
    assert code == 1
    assert "cannot reach 127.0.0.1" in line_of(out, "gateway-anonymous")
    assert "MCP session with 127.0.0.1" in line_of(out, "gateway-tools")
    assert "ConnectError" in line_of(out, "gateway-tools")
    assert "not run: MCP session with 127.0.0.1" in line_of(out, "gateway-search")
    assert "not run: MCP session with 127.0.0.1" in line_of(out, "m2m-no-orders")
    assert "MCP session with 127.0.0.1" in line_of(out, "customer-own-order")
    assert verdicts(out)["m2m-token"] == "PASS"
    assert "Traceback" not in out + err


def test_a_gateway_that_accepts_anonymous_calls_fails(stage):
    """Any endpoint that answers an MCP initialize without a token: the open runtime double will do."""
    with running_runtime(require_auth=False) as open_endpoint:
        # 1 s: the M2M session then waits in vain for an MCP answer from a non-MCP endpoint.
        code, out, _ = run("--timeout", "1", environ=stage.environ(GATEWAY_URL=open_endpoint.url))
    assert code == 1
    assert "ACCEPTED an anonymous MCP initialize (HTTP 200)" in line_of(out, "gateway-anonymous")
    assert "initialize" in str(open_endpoint.calls[0]["body"])
    assert "no answer within 1 s" in line_of(out, "gateway-tools")


def test_a_token_the_gateway_refuses_fails_with_a_hint(stage):
    stage.tokens.access_token = "a-token-from-another-pool"
    code, out, err = run(environ=stage.environ())
    assert code == 1
    assert verdicts(out)["m2m-token"] == "PASS"
    assert "the gateway refused the M2M token (HTTP 401)" in line_of(out, "gateway-tools")
    assert "not run: the gateway refused the M2M token" in line_of(out, "m2m-no-orders")
    assert "Traceback" not in out + err


def test_no_seed_data_skips_the_customer_reads_with_a_note(stage):
    code, out, _ = run("--no-seed-data", environ=stage.environ())
    assert code == 0
    for check in CUSTOMER_CHECKS:
        assert "skipped (--no-seed-data)" in line_of(out, check)
    assert not stage.cognito.deleted  # no temporary user was created


def test_a_pool_that_requires_mfa_gets_a_totp_enrolment(machine_client, issuer, cognito_users):
    with ExitStack() as stack:
        stage = start_stage(stack, machine_client, issuer, cognito_users, mfa_required=True)
        code, out, err = run(environ=stage.environ())
    assert code == 0, out + err
    assert verdicts(out)["customer-token"] == "PASS" and verdicts(out)["customer-other"] == "PASS"


def test_a_customer_who_can_read_another_customers_order_fails(stage, monkeypatch):
    """If ownership were not enforced (here: the orders function trusts anyone), the smoke test says so."""
    from local.lambda_context import load_handler

    orders = load_handler(LAMBDAS_DIR / "orders")
    monkeypatch.setattr(orders.Caller, "owns", lambda self, customer_id: True)
    code, out, _ = run(environ=stage.environ())
    assert code == 1
    assert "get_order(ORD-1004) RETURNED the order" in line_of(out, "customer-other")
    assert verdicts(out)["customer-cleanup"] == "PASS" and not stage.cognito.users


def test_a_user_that_cannot_sign_in_fails_and_is_still_deleted(stage, monkeypatch):
    monkeypatch.setattr(stage.cognito, "user_client_id", "another-client")
    code, out, _ = run(environ=stage.environ())
    assert code == 1
    assert "the temporary user cannot sign in: InvalidParameterException" in line_of(out, "customer-token")
    assert "not run: no customer token" in line_of(out, "customer-own-order")
    assert verdicts(out)["customer-cleanup"] == "PASS" and not stage.cognito.users


def test_flags_override_environment(stage):
    """A flag wins over its env var: a wrong GATEWAY_URL in the environment is ignored."""
    environ = stage.environ(GATEWAY_URL="http://127.0.0.1:9/mcp")
    code, out, _ = run("--gateway-url", stage.gateway_url, environ=environ)
    assert code == 0, out


def test_as_a_process_everything_down_is_exit_1_and_one_line_per_check(tmp_path):
    """The pipeline's view: `python scripts/smoke.py` (its sibling import of invoke.py), nothing reachable."""
    dead = f"http://127.0.0.1:{refused_port()}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "INVOCATION_URL": f"{dead}/runtimes/x/invocations",
        "GATEWAY_URL": f"{dead}/mcp",
        "TOKEN_ENDPOINT": f"{dead}/oauth2/token",
        "USER_POOL_ID": "us-east-1_Example",
        "MACHINE_CLIENT_ID": "client",
        "USER_CLIENT_ID": "user-client",
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": dead,  # botocore sends cognito-idp here, not to AWS
        "AWS_ENDPOINT_URL_CLOUDWATCH": dead,
        "ALARM_NAMES": ALARM,
        "AWS_MAX_ATTEMPTS": "1",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "smoke.py"), "--timeout", "3", "--alarm-metrics-wait", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert verdicts(done.stdout) == dict.fromkeys(ALL_CHECKS, "FAIL")
    assert "cannot read the machine client's secret" in line_of(done.stdout, "m2m-token")
    assert "Traceback" not in done.stdout + done.stderr


def test_missing_configuration_is_exit_2_with_the_way_out():
    client = stubbed_cloudformation({"dev-Runtime": None})
    args = smoke.parse_args([])
    with pytest.raises(smoke.Failure) as failed:
        smoke.resolve_config(args, {}, lambda region: client)
    assert failed.value.code == 2
    assert (
        str(failed.value)
        == "cannot read stack dev-Runtime: ValidationError: Stack with id dev-Runtime does not exist"
    )


def test_stack_outputs_fill_in_what_flags_and_environment_leave_out():
    client = stubbed_cloudformation(
        {
            "prod-Runtime": {"InvocationUrl": "https://runtime.example/inv"},
            "prod-Identity": {
                "TokenEndpoint": "https://agentcore-prod-auth-123456789012.auth.eu-west-1.amazoncognito.com/oauth2/token",
                "UserPoolId": "eu-west-1_Pool",
                "MachineClientId": "from-stack",
                "UserClientId": "user-from-stack",
                "Region": "eu-west-1",
            },
            "prod-Observability": {"AlarmNames": "agentcore-prod-A, agentcore-prod-B"},
        }
    )
    args = smoke.parse_args(["--stage", "prod", "--machine-client-id", "from-flag"])
    config = smoke.resolve_config(args, {"GATEWAY_URL": "https://gateway.example/mcp"}, lambda region: client)
    assert (config.invocation_url, config.gateway_url) == (
        "https://runtime.example/inv",
        "https://gateway.example/mcp",
    )
    assert (config.machine_client_id, config.user_pool_id, config.region) == (
        "from-flag",
        "eu-west-1_Pool",
        "eu-west-1",
    )
    assert config.scope == "agentcore-prod-gateway/invoke"  # derived from the Cognito domain prefix
    assert config.user_client_id == "user-from-stack"
    assert config.alarm_names == ("agentcore-prod-A", "agentcore-prod-B")


def test_an_alarm_without_its_metric_fails_and_names_the_alarm(machine_client, issuer, cognito_users):
    with ExitStack() as stack:
        stage = start_stage(stack, machine_client, issuer, cognito_users)
        boto3.client("cloudwatch", region_name=REGION).delete_alarms(AlarmNames=[ALARM])
        missing = "agentcore-dev-RuntimeSystemErrors"
        code, out, _ = run(environ=stage.environ(ALARM_NAMES=missing))
    assert code == 1
    assert verdicts(out) == {**dict.fromkeys(ALL_CHECKS, "PASS"), "alarm-metrics": "FAIL"}
    assert f"no such metric alarm: {missing}" in line_of(out, "alarm-metrics")


def test_an_alarm_whose_metric_was_never_published_fails(machine_client, issuer, cognito_users):
    with ExitStack() as stack:
        stage = start_stage(stack, machine_client, issuer, cognito_users)
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        other = "agentcore-dev-Unpublished"
        cloudwatch.put_metric_alarm(
            AlarmName=other, Namespace="AWS/Bedrock-AgentCore", MetricName="Latency", Statistic="Average",
            Period=300, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
        code, out, _ = run(environ=stage.environ(ALARM_NAMES=f"{ALARM},{other}"))
    assert code == 1
    line = line_of(out, "alarm-metrics")
    assert f"alarm {other}: no metric AWS/Bedrock-AgentCore Latency" in line and ALARM not in line


def test_no_alarm_metrics_skips_the_check_and_needs_no_alarm_names(stage):
    environ = {k: v for k, v in stage.environ().items() if k != "ALARM_NAMES"}
    code, out, _ = run("--no-alarm-metrics", environ=environ)
    assert code == 0, out
    assert "skipped (--no-alarm-metrics)" in line_of(out, "alarm-metrics")


@pytest.mark.parametrize(
    ("url", "scope"),
    [
        (
            "https://agentcore-dev-auth-123456789012.auth.us-east-1.amazoncognito.com/oauth2/token",
            "agentcore-dev-gateway/invoke",
        ),
        (
            "https://my-proj-stg-auth-000000000000.auth.eu-west-1.amazoncognito.com/oauth2/token",
            "my-proj-stg-gateway/invoke",
        ),
        ("https://login.example.com/oauth2/token", None),
    ],
)
def test_scope_from_token_endpoint(url, scope):
    assert smoke.scope_from_token_endpoint(url) == scope


def test_expected_tools_come_from_every_tools_json():
    assert smoke.expected_tools() == {
        f"{target}___{tool}"
        for target, tools in {
            "orders": ["get_order", "list_orders", "update_order_status", "cancel_order"],
            "inventory": ["search_products", "check_stock", "reserve_stock", "release_stock"],
        }.items()
        for tool in tools
    }


def test_smoke_aws_errors_are_one_line_with_the_aws_exit_code(monkeypatch):
    from botocore.exceptions import NoRegionError

    def fail(args, environ, factory):
        raise NoRegionError()

    monkeypatch.setattr(smoke, "resolve_config", fail)
    code, _, err = run("--stage", "dev", environ={})
    assert code == smoke.AWS_ERROR == 6
    assert err == "error: AWS: You must specify a region.\n"


def test_smoke_takes_the_stage_region_from_cdk_json_when_none_is_configured():
    asked = []

    def factory(region):
        asked.append(region)
        raise smoke.Failure("stop after the first call", 2)

    with pytest.raises(smoke.Failure):
        smoke.resolve_config(smoke.parse_args(["--stage", "dev"]), {}, factory)
    assert asked == ["us-east-1"]


def test_with_a_stage_role_every_aws_client_is_made_as_that_role(stage, monkeypatch):
    recorded = recorded_clients.record(monkeypatch)
    code, out, err = run(environ=stage.environ(AGENTCORE_STEP_ROLE_ARN=recorded_clients.ROLE))
    assert code == 0, out + err
    assert recorded.roles == [(recorded_clients.ROLE, "agentcore-smoke")]
    assert sorted(recorded.services) == ["cloudwatch", "cognito-idp"]


def test_a_step_role_that_is_not_a_role_arn_is_one_line(stage):
    code, out, err = run(environ=stage.environ(AGENTCORE_STEP_ROLE_ARN="arn:aws:iam::333344445555:user/ci"))
    assert code == 2 and out == ""
    assert err == (
        "error: AGENTCORE_STEP_ROLE_ARN 'arn:aws:iam::333344445555:user/ci' is not an IAM role ARN "
        "(arn:aws:iam::<12-digit account>:role/<name>)\n"
    )
