"""The runtime stack and the agent agree on the environment: every variable the stack sets is one the agent
reads, and the agent accepts what the stack produces (deploy-time tokens given realistic values)."""

from __future__ import annotations

import re

from agentcore_agent.settings import Settings

from stacks.memory_stack import NAMESPACES
from tests.conftest import ROOT

# What CloudFormation resolves at deploy time, in the shapes AWS returns.
DEPLOY_TIME = {
    "OIDC_DISCOVERY_URL": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123xyz/.well-known/openid-configuration",
    "ALLOWED_CLIENTS": "4a1b2c3d4e5f6g7h8i9j0k1l2m",
    "MEMORY_ID": "agentcore_dev_memory-AbCdEf1234",
    "GATEWAY_URL": "https://agentcore-dev-gateway-abcdef1234.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp",
    "BROWSER_ID": "agentcore_dev_browser-AbCdEf1234",
    "CODE_INTERPRETER_ID": "agentcore_dev_code-AbCdEf1234",
    "TOKEN_BUDGET_TABLE": "dev-Usage-TokenUsage3FD947D6-1A2B3C4D5E6F",
}
# Read by the platform, not by our settings: ADOT (service name, content capture), Strands (span redaction),
# botocore (region).
PLATFORM = {
    "OTEL_SERVICE_NAME",
    "OTEL_SEMCONV_STABILITY_OPT_IN",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
    "AWS_DEFAULT_REGION",
}


def _runtime_environment(synthesized) -> dict:
    runtime = synthesized.template("dev", "Runtime")
    (resource,) = runtime.find_resources("AWS::BedrockAgentCore::Runtime").values()
    return resource["Properties"]["EnvironmentVariables"]


def test_every_variable_the_stack_sets_is_read_by_the_agent(synthesized):
    source = (ROOT / "agent_src" / "agentcore_agent" / "settings.py").read_text()
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', source))
    assert set(_runtime_environment(synthesized)) - read - PLATFORM == set()


def test_the_agent_accepts_what_the_stack_deploys(synthesized):
    environment = {
        key: value if isinstance(value, str) else DEPLOY_TIME[key]
        for key, value in _runtime_environment(synthesized).items()
    }
    settings = Settings.from_env(environment)
    config = synthesized.stages["dev"].config
    assert settings.region == config.region
    assert settings.model_id == config.model_id
    assert settings.auth_enabled and settings.allowed_clients == {DEPLOY_TIME["ALLOWED_CLIENTS"]}
    assert settings.max_prompt_chars == config.max_prompt_chars
    assert settings.memory_id == DEPLOY_TIME["MEMORY_ID"]
    assert dict(settings.memory_namespaces) == dict(NAMESPACES)
    assert settings.memory_last_k_turns == config.memory_last_k_turns
    assert settings.memory_top_k == config.memory_top_k
    assert settings.gateway_url == DEPLOY_TIME["GATEWAY_URL"]
    assert settings.gateway_credential_provider == "agentcore-dev-gateway-m2m"
    assert settings.gateway_scopes == ("agentcore-dev-gateway/invoke",)
    assert settings.code_interpreter_id == DEPLOY_TIME["CODE_INTERPRETER_ID"]
