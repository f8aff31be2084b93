"""The environment contract with the CDK runtime stack: defaults, parsing, one clear line per bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from agentcore_agent.settings import DEFAULT_SYSTEM_PROMPT, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
BASE = {"AWS_REGION": "eu-west-1", "MODEL_ID": "anthropic.claude-3-haiku"}
DISCOVERY = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc/.well-known/openid-configuration"


def test_minimal_environment_gets_documented_defaults():
    s = Settings.from_env(BASE)
    assert (s.region, s.model_id) == ("eu-west-1", "anthropic.claude-3-haiku")
    assert s.auth_enabled is False and s.oidc_discovery_url is None
    assert (s.max_prompt_chars, s.session_cache_size) == (8000, 256)
    assert s.system_prompt == DEFAULT_SYSTEM_PROMPT
    assert (s.memory_id, s.memory_namespaces, s.memory_last_k_turns, s.memory_top_k) == (None, {}, 5, 3)
    assert (s.gateway_url, s.gateway_credential_provider, s.gateway_scopes) == (None, None, ())


def test_full_environment_is_parsed():
    s = Settings.from_env(
        {
            "AWS_DEFAULT_REGION": "us-west-2",
            "MODEL_ID": "us.anthropic.claude-sonnet",
            "OIDC_DISCOVERY_URL": DISCOVERY,
            "ALLOWED_CLIENTS": " abc123 , def456,",
            "MAX_PROMPT_CHARS": "2000",
            "SYSTEM_PROMPT": "Be brief.",
            "SESSION_CACHE_SIZE": "10",
            "MEMORY_ID": "mem_abcdefghijkl",
            "MEMORY_NAMESPACES": '{"facts": "/facts/{actorId}"}',
            "MEMORY_LAST_K_TURNS": "0",
            "MEMORY_TOP_K": "7",
            "GATEWAY_URL": "https://gw.example.com/mcp",
            "GATEWAY_CREDENTIAL_PROVIDER": "gw-provider",
            "GATEWAY_SCOPES": "agent/invoke  agent/read",
        }
    )
    assert s.region == "us-west-2"  # fallback to AWS_DEFAULT_REGION
    assert s.auth_enabled and s.allowed_clients == frozenset({"abc123", "def456"})
    assert (s.max_prompt_chars, s.system_prompt, s.session_cache_size) == (2000, "Be brief.", 10)
    assert s.memory_namespaces == {"facts": "/facts/{actorId}"}
    assert (s.memory_last_k_turns, s.memory_top_k) == (0, 7)
    assert s.gateway_scopes == ("agent/invoke", "agent/read")


def test_code_interpreter_and_browser_ids_are_parsed_and_off_by_default():
    s = Settings.from_env(BASE)
    assert (s.code_interpreter_id, s.code_interpreter_timeout_seconds, s.browser_id) == (None, 60, None)
    assert s.code_interpreter_enabled is False
    s = Settings.from_env(
        {
            **BASE,
            "CODE_INTERPRETER_ID": " agentcore_cdk_dev_interpreter-a1B2c3D4e5 ",
            "CODE_INTERPRETER_TIMEOUT_SECONDS": "30",
            "BROWSER_ID": "agentcore_cdk_dev_browser-Z9y8X7w6V5",
        }
    )
    assert s.code_interpreter_id == "agentcore_cdk_dev_interpreter-a1B2c3D4e5" and s.code_interpreter_enabled
    assert (s.code_interpreter_timeout_seconds, s.browser_id) == (30, "agentcore_cdk_dev_browser-Z9y8X7w6V5")
    managed = Settings.from_env({**BASE, "CODE_INTERPRETER_ID": "aws.codeinterpreter.v1"})
    assert managed.code_interpreter_id == "aws.codeinterpreter.v1"


def test_aws_region_wins_over_default_region():
    assert Settings.from_env({**BASE, "AWS_DEFAULT_REGION": "us-east-1"}).region == "eu-west-1"


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings.from_env(BASE).model_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"AWS_REGION": ""}, "AWS_REGION"),
        ({"AWS_REGION": "Europe"}, "AWS_REGION"),
        ({"MODEL_ID": ""}, "MODEL_ID"),
        ({"MAX_PROMPT_CHARS": "lots"}, "MAX_PROMPT_CHARS"),
        ({"MAX_PROMPT_CHARS": "0"}, "MAX_PROMPT_CHARS"),
        ({"SESSION_CACHE_SIZE": "-1"}, "SESSION_CACHE_SIZE"),
        ({"OIDC_DISCOVERY_URL": DISCOVERY}, "ALLOWED_CLIENTS"),
        (
            {"OIDC_DISCOVERY_URL": "https://cognito-idp.eu-west-1.amazonaws.com/p", "ALLOWED_CLIENTS": "a"},
            "OIDC_DISCOVERY_URL",
        ),
        (
            {"OIDC_DISCOVERY_URL": DISCOVERY.replace("https", "http"), "ALLOWED_CLIENTS": "a"},
            "OIDC_DISCOVERY_URL",
        ),
        ({"OIDC_DISCOVERY_URL": "not a url", "ALLOWED_CLIENTS": "a"}, "OIDC_DISCOVERY_URL"),
        ({"ALLOWED_CLIENTS": "ok,has space"}, "ALLOWED_CLIENTS"),
        ({"MEMORY_NAMESPACES": "{bad"}, "MEMORY_NAMESPACES"),
        ({"MEMORY_NAMESPACES": "[1]"}, "MEMORY_NAMESPACES"),
        ({"MEMORY_LAST_K_TURNS": "x"}, "MEMORY_LAST_K_TURNS"),
        ({"MEMORY_TOP_K": "0"}, "MEMORY_TOP_K"),
        ({"GATEWAY_URL": "ftp://gw"}, "GATEWAY_URL"),
        ({"CODE_INTERPRETER_ID": "arn:aws:bedrock-agentcore:us-east-1:1:code-interpreter-custom/x"}, "CODE_"),
        ({"CODE_INTERPRETER_ID": "my-interpreter"}, "CODE_INTERPRETER_ID"),
        ({"CODE_INTERPRETER_TIMEOUT_SECONDS": "0"}, "CODE_INTERPRETER_TIMEOUT_SECONDS"),
        ({"CODE_INTERPRETER_TIMEOUT_SECONDS": "901"}, "CODE_INTERPRETER_TIMEOUT_SECONDS"),
        ({"CODE_INTERPRETER_TIMEOUT_SECONDS": "1.5"}, "CODE_INTERPRETER_TIMEOUT_SECONDS"),
        ({"BROWSER_ID": "browser with spaces"}, "BROWSER_ID"),
    ],
)
def test_bad_value_names_the_variable_in_one_line(overrides, variable):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**BASE, **overrides})
    message = str(error.value)
    assert message.startswith(variable)
    assert "\n" not in message


def _run_main(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODEL_", "OIDC_", "ALLOWED_"))}
    return subprocess.run(
        [sys.executable, "-m", "agentcore_agent"],
        env={**clean, "PYTHONPATH": str(ROOT / "agent_src"), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "AWS_REGION"),
        ({"AWS_REGION": "us-east-1"}, "MODEL_ID"),
        ({**BASE, "MAX_PROMPT_CHARS": "x"}, "MAX_PROMPT"),
        ({**BASE, "CODE_INTERPRETER_ID": "not an id"}, "CODE_INTERPRETER_ID"),
    ],
)
def test_bad_environment_exits_2_with_one_line_and_no_traceback(env, variable):
    result = _run_main(env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("agentcore_agent: configuration error: ")
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_model_provider_openai_and_browser_domains_are_parsed():
    settings = Settings.from_env(
        {
            **BASE,
            "MODEL_ID": "gpt-4o-mini",
            "MODEL_PROVIDER": "openai",
            "OPENAI_API_KEY_PROVIDER": "agentcore-dev-openai",
            "BROWSER_ID": "agentcore_dev_browser-AbCdEf1234",
            "BROWSER_ALLOWED_DOMAINS": "docs.aws.amazon.com, *.example.com,",
            "BROWSER_TIMEOUT_SECONDS": "9",
        }
    )
    assert settings.model_provider == "openai" and settings.openai_api_key_provider == "agentcore-dev-openai"
    assert settings.browser_allowed_domains == ("docs.aws.amazon.com", "*.example.com")
    assert settings.browser_enabled and settings.browser_timeout_seconds == 9
    defaults = Settings.from_env(BASE)
    assert defaults.model_provider == "bedrock" and not defaults.browser_enabled
    assert not Settings.from_env({**BASE, "BROWSER_ID": "agentcore_dev_browser-AbCdEf1234"}).browser_enabled


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"MODEL_PROVIDER": "anthropic"}, "MODEL_PROVIDER"),
        ({"MODEL_PROVIDER": "openai"}, "OPENAI_API_KEY_PROVIDER"),
        ({"MODEL_PROVIDER": "openai", "OPENAI_API_KEY_PROVIDER": "has spaces"}, "OPENAI_API_KEY_PROVIDER"),
        ({"BROWSER_ALLOWED_DOMAINS": "https://example.com"}, "BROWSER_ALLOWED_DOMAINS"),
        ({"BROWSER_ALLOWED_DOMAINS": "localhost"}, "BROWSER_ALLOWED_DOMAINS"),
        ({"BROWSER_TIMEOUT_SECONDS": "0"}, "BROWSER_TIMEOUT_SECONDS"),
    ],
)
def test_bad_model_and_browser_values_name_the_variable(overrides, variable):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**BASE, **overrides})
    assert str(error.value).startswith(variable) and "\n" not in str(error.value)


BUDGETS = {
    "TOKEN_BUDGET_USER": "200000",
    "TOKEN_BUDGET_OPERATOR": "1000000",
    "TOKEN_BUDGET_MACHINE": "500000",
}


def test_token_budgets_are_on_with_a_table_and_one_budget_per_kind_of_caller():
    s = Settings.from_env({**BASE, "TOKEN_BUDGET_TABLE": "agentcore-dev-token-usage", **BUDGETS})
    assert s.token_budget_table == "agentcore-dev-token-usage"
    assert s.token_budgets == {"user": 200_000, "operator": 1_000_000, "machine": 500_000}
    assert Settings.from_env(BASE).token_budget_table is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TOKEN_BUDGET_TABLE": "usage"},
            "TOKEN_BUDGET_USER must be set (tokens per day) when TOKEN_BUDGET_TABLE",
        ),
        ({"TOKEN_BUDGET_TABLE": "a b", **BUDGETS}, "TOKEN_BUDGET_TABLE='a b' is not a DynamoDB table name"),
        (
            {"TOKEN_BUDGET_TABLE": "usage", **BUDGETS, "TOKEN_BUDGET_MACHINE": "0"},
            "TOKEN_BUDGET_MACHINE=0 must be",
        ),
        (
            {"TOKEN_BUDGET_TABLE": "usage", **BUDGETS, "TOKEN_BUDGET_USER": "lots"},
            "TOKEN_BUDGET_USER='lots' is not",
        ),
    ],
)
def test_a_bad_token_budget_setting_is_one_line_naming_it(env, message):
    with pytest.raises(SettingsError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({**BASE, **env})
