"""The gateway stack: MCP gateway, semantic search, user + M2M JWT, one Lambda target per tools.json."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from stacks.tool_schema import LAMBDAS, gateway_tool_definitions, load_tools
from stacks.tools_stack import TARGETS

SWEEPER = "ToolsHoldSweeper"  # beside the tools, not a gateway target (tests/stacks/test_tool_grants.py)
TOOL_TARGETS = sorted(p.name for p in LAMBDAS.iterdir() if (p / "tools.json").exists())


@pytest.fixture(scope="module")
def dev(synthesized):
    return synthesized.template("dev", "Gateway")


def _props(template, kind):
    return {name: r["Properties"] for name, r in template.find_resources(kind).items()}


def test_every_tool_directory_has_a_table_spec_and_a_target():
    assert sorted(TARGETS) == TOOL_TARGETS


def test_gateway_is_mcp_with_semantic_search_kms_and_user_and_m2m_jwt(dev):
    (gateway,) = _props(dev, "AWS::BedrockAgentCore::Gateway").values()
    assert gateway["ProtocolType"] == "MCP"
    assert gateway["ProtocolConfiguration"]["Mcp"]["SearchType"] == "SEMANTIC"
    assert gateway["ProtocolConfiguration"]["Mcp"]["Instructions"]
    assert gateway["AuthorizerType"] == "CUSTOM_JWT"
    jwt = gateway["AuthorizerConfiguration"]["CustomJWTAuthorizer"]
    clients = json.dumps(jwt["AllowedClients"])
    assert "MachineClient" in clients and "UserClient" in clients and len(jwt["AllowedClients"]) == 2
    assert "AllowedAudience" not in jwt
    assert "AllowedScopes" not in jwt  # user tokens carry no gateway scope; Cedar decides per principal
    assert "/.well-known/openid-configuration" in json.dumps(jwt["DiscoveryUrl"])
    (key,) = dev.find_resources(
        "AWS::KMS::Key", {"Properties": {"Description": Match.string_like_regexp("gateway configuration")}}
    )
    assert gateway["KmsKeyArn"] == {"Fn::GetAtt": [key, "Arn"]}


def test_verbose_errors_only_in_dev(dev, synthesized):
    (gateway,) = _props(dev, "AWS::BedrockAgentCore::Gateway").values()
    assert gateway["ExceptionLevel"] == "DEBUG"
    for stage in ("staging", "prod"):
        (other,) = _props(synthesized.template(stage, "Gateway"), "AWS::BedrockAgentCore::Gateway").values()
        assert "ExceptionLevel" not in other


def test_one_target_per_function_with_gateway_iam_role_and_the_tools_json_schema(dev):
    targets = {t["Name"]: t for t in _props(dev, "AWS::BedrockAgentCore::GatewayTarget").values()}
    assert sorted(targets) == TOOL_TARGETS
    functions = _props(dev, "AWS::Lambda::Function")
    for name, target in targets.items():
        assert target["CredentialProviderConfigurations"] == [{"CredentialProviderType": "GATEWAY_IAM_ROLE"}]
        lambda_config = target["TargetConfiguration"]["Mcp"]["Lambda"]
        (function_id,) = [f for f, p in functions.items() if f"target '{name}'" in p.get("Description", "")]
        assert lambda_config["LambdaArn"] == {"Fn::GetAtt": [function_id, "Arn"]}
        inline = lambda_config["ToolSchema"]["InlinePayload"]
        expected = gateway_tool_definitions(load_tools(LAMBDAS / name / "tools.json"))
        assert [t["Name"] for t in inline] == [t["name"] for t in expected]
        for deployed, source in zip(inline, expected, strict=True):
            assert deployed["Description"] == source["description"]
            assert deployed["InputSchema"]["Type"] == "object"
            assert set(deployed["InputSchema"].get("Properties", {})) == set(
                source["inputSchema"].get("properties", {})
            )
        assert len(json.dumps(inline)) < 1_000_000


def test_gateway_role_invokes_exactly_the_tool_functions_and_the_interceptor(dev):
    policies = {n: p for n, p in _props(dev, "AWS::IAM::Policy").items() if n.startswith("GatewayRole")}
    (policy,) = policies.values()
    invoke = [s for s in policy["PolicyDocument"]["Statement"] if s["Action"] == "lambda:InvokeFunction"]
    (statement,) = invoke
    functions = sorted(
        n
        for n, r in dev.find_resources("AWS::Lambda::Function").items()
        if n.startswith(("Tools", "RequestInterceptor")) and not n.startswith(SWEEPER)
    )
    referenced = sorted(
        {json.dumps(r).split('"Fn::GetAtt": ["')[1].split('"')[0] for r in statement["Resource"]}
    )
    assert referenced == functions
    assert "*" not in [r for r in statement["Resource"] if isinstance(r, str)]


def test_tool_functions_are_arm64_traced_and_log_to_encrypted_groups_with_retention(dev, synthesized):
    config = synthesized.stages["dev"].config
    for name, props in _props(dev, "AWS::Lambda::Function").items():
        if not name.startswith("Tools") or name.startswith(SWEEPER):
            continue
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Handler"] == "handler.lambda_handler"
        assert len(props["Layers"]) == 2
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "AgentCoreTools"
        assert any(key.endswith("_TABLE_NAME") for key in env)
    groups = [g for n, g in _props(dev, "AWS::Logs::LogGroup").items() if n.startswith("Tools")]
    assert len(groups) == 3  # the two tool functions' and the hold sweeper's
    for group in groups:
        assert group["RetentionInDays"] == config.log_retention_days
        assert "KmsKeyId" in group


def test_powertools_layer_matches_the_pinned_version(dev):
    parameters = dev.to_json()["Parameters"]
    (name,) = [p["Default"] for p in parameters.values() if "powertools" in str(p.get("Default", ""))]
    pin = (
        (LAMBDAS / "requirements.txt")
        .read_text()
        .split("aws-lambda-powertools[tracer,validation]==")[1]
        .split()[0]
    )
    assert name == f"/aws/service/powertools/python/arm64/python3.13/{pin}"


def test_tables_match_the_handlers_key_schema_and_are_protected(dev, synthesized):
    tables = _props(dev, "AWS::DynamoDB::GlobalTable")
    keys = {t["KeySchema"][0]["AttributeName"]: t for t in tables.values()}
    assert set(keys) == {"order_id", "sku"}
    orders = keys["order_id"]
    indexes = {
        i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in orders["GlobalSecondaryIndexes"]
    }
    assert indexes == {"by_customer": ["customer_id", "created_at"], "by_status": ["status", "created_at"]}
    for table in tables.values():
        assert table["SSESpecification"]["SSEType"] == "KMS"
        assert table["Replicas"][0]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
    prod = synthesized.template("prod", "Gateway")
    for table in prod.find_resources("AWS::DynamoDB::GlobalTable").values():
        assert table["DeletionPolicy"] == "Retain"
        assert table["Properties"]["Replicas"][0]["DeletionProtectionEnabled"] is True


def test_tables_are_seeded_once_with_the_sample_records(dev):
    seeds = dev.find_resources("Custom::AWS")
    assert len(seeds) == 2
    for seed in seeds.values():
        create = json.dumps(seed["Properties"]["Create"])
        assert "batchWriteItem" in create and "PutRequest" in create
        assert "Update" not in seed["Properties"], "seeding must never overwrite live data on update"


def test_agent_environment_and_no_token_vault_grant(synthesized):
    runtime = synthesized.template("dev", "Runtime")
    (resource,) = runtime.find_resources("AWS::BedrockAgentCore::Runtime").values()
    env = resource["Properties"]["EnvironmentVariables"]
    assert "dev-Gateway" in json.dumps(env["GATEWAY_URL"])
    assert env["GATEWAY_CREDENTIAL_PROVIDER"] == "agentcore-dev-gateway-m2m"
    assert env["GATEWAY_SCOPES"] == "agentcore-dev-gateway/invoke"
    statements = [
        s
        for name, p in runtime.find_resources("AWS::IAM::Policy").items()
        if name.startswith("RuntimeExecutionRole")
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    # Deployed agents forward the caller's token (auth is always on): no Token Vault or Identity secret.
    granted = json.dumps(statements)
    assert statements and "GetResourceOauth2Token" not in granted
    assert "CompleteResourceTokenAuth" not in granted
    assert "bedrock-agentcore-identity" not in granted
    assert "secretsmanager:GetSecretValue" not in granted


def test_oauth2_credential_provider_keeps_the_secret_out_of_the_template(synthesized):
    identity = synthesized.template("dev", "Identity")
    (provider,) = identity.find_resources("AWS::BedrockAgentCore::OAuth2CredentialProvider").values()
    config = provider["Properties"]["Oauth2ProviderConfigInput"]["IncludedOauth2ProviderConfig"]
    assert provider["Properties"]["CredentialProviderVendor"] == "CognitoOauth2"
    assert "Fn::GetAtt" in config["ClientSecret"], "the secret must be resolved at deploy time, never inlined"
    assert "oauth2/token" in json.dumps(config["TokenEndpoint"])


def test_the_gateway_limits_tool_calls_per_verified_caller(synthesized):
    gateway = synthesized.template("dev", "Gateway")
    (limit,) = gateway.find_resources("AWS::BedrockAgentCore::GatewayRateLimit").values()
    props = limit["Properties"]
    (gateway_id,) = gateway.find_resources("AWS::BedrockAgentCore::Gateway")
    assert props["GatewayIdentifier"] == {"Fn::GetAtt": [gateway_id, "GatewayIdentifier"]}
    assert props["DimensionKeys"] == ["$.context.jwt.sub"]
    rate = synthesized.stages["dev"].config.gateway_calls_per_caller_per_minute
    assert props["Entries"] == [
        {"Dimensions": {"$.context.jwt.sub": "*"}, "Requests": [{"Period": "minute", "Rate": rate}]}
    ]


def test_policy_validation_is_a_stage_setting(synthesized, variant):
    """FAIL_ON_ANY_FINDINGS unless a stage chooses `ignore` (the prod variant does)."""
    from stacks.config import ConfigError, load_stage

    def modes(template):
        policies = template.find_resources("AWS::BedrockAgentCore::Policy").values()
        return {p["Properties"]["ValidationMode"] for p in policies}

    assert modes(synthesized.template("dev", "Gateway")) == {"FAIL_ON_ANY_FINDINGS"}
    from aws_cdk.assertions import Template

    assert modes(Template.from_json(variant.template("prod", "Gateway"))) == {"IGNORE_ALL_FINDINGS"}
    defaults = {"region": "us-east-1", "model_id": "us.anthropic.claude-sonnet-4-20250514-v1:0"}
    with pytest.raises(ConfigError, match="key 'policy_validation': must be one of"):
        load_stage("agentcore", "dev", defaults, {"policy_validation": "warn"})
