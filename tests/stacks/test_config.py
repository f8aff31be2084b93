"""Stage configuration: every bad value fails with one line naming the stage and the key."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from stacks.config import ConfigError, StageConfig, agentcore_regions, load_stages
from tests.conftest import ROOT, cdk_context


def _context(**stage_overrides):
    context = copy.deepcopy(cdk_context())
    context["agentcore:stages"]["dev"].update(stage_overrides)
    return context


EVALUATION_ON = {"online_evaluation": True, "trace_content": True}
# Online evaluation: each setting, and the two rules between settings (content in spans, the region).
BAD_ONLINE_EVALUATION = [
    (
        {"online_evaluation": True},
        "stage 'dev', key 'online_evaluation': needs trace_content: true (the evaluators read prompts",
    ),
    (
        {
            **EVALUATION_ON,
            "region": "us-gov-west-1",
            "model_id": "anthropic.claude-3-haiku-20240307-v1:0",
        },
        "stage 'dev', key 'online_evaluation': region us-gov-west-1 does not offer "
        "AWS::BedrockAgentCore::OnlineEvaluationConfig",
    ),
    ({"online_evaluation": "on"}, "stage 'dev', key 'online_evaluation': expected bool, got \"on\""),
    ({"online_evaluation_percent": 0}, "key 'online_evaluation_percent': must be between 0.01 and 100"),
    ({"online_evaluation_percent": 101}, "key 'online_evaluation_percent': must be between 0.01 and 100"),
    ({"online_evaluation_min_score": 1.5}, "key 'online_evaluation_min_score': must be between 0 and 1"),
    ({"online_evaluators": "Builtin.Helpfulness"}, "key 'online_evaluators': expected list or tuple"),
    ({"online_evaluators": []}, "key 'online_evaluators': must name 1 to 10 evaluators"),
    (
        {"online_evaluators": ["Builtin.Helpfulness", "Helpfulness"]},
        "key 'online_evaluators': \"Helpfulness\" must be one of Builtin.GoalSuccessRate, Builtin.Help",
    ),
    (
        {"online_evaluators": ["Builtin.Harmfulness"]},
        "key 'online_evaluators': \"Builtin.Harmfulness\" is a safety evaluator whose score direction is "
        "not documented",
    ),
    (
        {"online_evaluators": ["Builtin.Helpfulness", "Builtin.Helpfulness"]},
        "key 'online_evaluators': names an evaluator twice",
    ),
]


def test_the_shipped_context_loads_three_stages_in_promotion_order():
    stages = load_stages(cdk_context())
    assert [s.name for s in stages] == ["dev", "staging", "prod"]
    prod = stages[-1]
    assert prod.is_retained and prod.mfa == "required"
    assert not stages[0].is_retained


# Canary releases: the share, the bake, and the canary's endpoint name kept free.
BAD_CANARY = [
    ({"canary_percent": 51}, "stage 'dev', key 'canary_percent': must be between 0 and 50"),
    ({"canary_percent": -1}, "stage 'dev', key 'canary_percent': must be between 0 and 50"),
    ({"canary_percent": 12.5}, "stage 'dev', key 'canary_percent': expected int, got 12.5"),
    ({"canary_percent": True}, "stage 'dev', key 'canary_percent': expected int, got true"),
    ({"canary_bake_minutes": 0}, "stage 'dev', key 'canary_bake_minutes': must be between 1 and 480"),
    ({"canary_bake_minutes": 481}, "stage 'dev', key 'canary_bake_minutes': must be between 1 and 480"),
    (
        {"canary_percent": 10, "endpoint_name": "canary"},
        "stage 'dev', key 'endpoint_name': 'canary' is the canary's endpoint when canary_percent is set",
    ),
]


def test_canary_is_off_by_default_and_on_with_a_share():
    assert not load_stages(_context())[0].canary
    dev = load_stages(_context(canary_percent=10, canary_bake_minutes=45))[0]
    assert dev.canary and (dev.canary_percent, dev.canary_bake_minutes) == (10, 45)
    # Off, the canary's name is free for the endpoint clients call.
    assert load_stages(_context(endpoint_name="canary"))[0].endpoint_name == "canary"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"regoin": "us-east-1"}, "stage 'dev', key 'regoin': unknown key"),
        (
            {"region": "af-south-1"},
            "stage 'dev', key 'region': 'af-south-1' does not offer Bedrock AgentCore",
        ),
        ({"region": 42}, "stage 'dev', key 'region': expected str, got 42"),
        ({"removal": "keep"}, "stage 'dev', key 'removal': must be one of destroy, retain"),
        ({"log_retention_days": 8}, "stage 'dev', key 'log_retention_days': must be one of"),
        ({"log_retention_days": True}, "stage 'dev', key 'log_retention_days': expected int, got true"),
        ({"account": "12345"}, "stage 'dev', key 'account': must be a 12-digit AWS account id"),
        (
            {"idle_timeout_seconds": 30},
            "stage 'dev', key 'idle_timeout_seconds': must be between 60 and 28800",
        ),
        ({"memory_event_expiry_days": 400}, "stage 'dev', key 'memory_event_expiry_days': must be between 7"),
        ({"model_id": "Claude Sonnet"}, "stage 'dev', key 'model_id': must be a Bedrock model"),
        ({"alarm_email": "ops"}, "stage 'dev', key 'alarm_email': must be an e-mail address"),
        ({"endpoint_name": "live-1"}, "stage 'dev', key 'endpoint_name': must be a runtime endpoint name"),
        ({"idle_timeout_seconds": 3600, "max_lifetime_seconds": 600}, "must not exceed max_lifetime_seconds"),
        ({"owns_account_resources": "yes"}, "stage 'dev', key 'owns_account_resources': expected bool"),
        (
            {"region": "eu-west-1"},
            "stage 'dev', key 'model_id': 'us.anthropic.claude-sonnet-4-20250514-v1:0' is a 'us'",
        ),
        (
            {"transaction_search_percent": 0},
            "stage 'dev', key 'transaction_search_percent': must be between 1",
        ),
        *BAD_ONLINE_EVALUATION,
        *BAD_CANARY,
    ],
)
def test_bad_values_name_the_stage_and_key(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_stages(_context(**overrides))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_bad_stage_name_and_project_are_refused():
    context = copy.deepcopy(cdk_context())
    context["agentcore:stages"]["Dev-1"] = {}
    with pytest.raises(ConfigError, match="stage 'Dev-1', key 'stage name'"):
        load_stages(context)
    context = copy.deepcopy(cdk_context())
    context["agentcore:project"] = "my-project"
    with pytest.raises(ConfigError, match="key 'project'"):
        load_stages(context)


def test_missing_required_key_and_empty_stage_table():
    context = copy.deepcopy(cdk_context())
    del context["agentcore:defaults"]["model_id"]
    with pytest.raises(ConfigError, match="key 'model_id': required but not set"):
        load_stages(context)
    with pytest.raises(ConfigError, match="non-empty object of stages"):
        load_stages({"agentcore:stages": {}})
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_stages({"agentcore:stages": "{dev:"})


def test_resource_names_are_derived_and_validated():
    config = load_stages(cdk_context())[0]
    assert config.resource_name("memory") == "agentcore_dev_memory"
    with pytest.raises(ConfigError, match="not a valid AgentCore name"):
        config.resource_name("has-hyphen")
    with pytest.raises(ConfigError, match="not a valid AgentCore name"):
        config.resource_name("x" * 40)


def test_region_table_comes_from_cfn_lint_specs():
    regions = agentcore_regions()
    assert {"us-east-1", "us-west-2", "eu-central-1"} <= regions
    assert not {"af-south-1", "me-central-1"} & regions


def test_stage_config_is_frozen():
    config = load_stages(cdk_context())[0]
    assert isinstance(config, StageConfig)
    with pytest.raises(AttributeError):
        config.region = "us-west-2"  # type: ignore[misc]


def test_cdk_app_prints_one_clear_line_for_bad_config():
    """The real entry point: a bad `-c` override exits non-zero with one line, no traceback."""
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "CDK_CONTEXT_JSON": '{"agentcore:stages": {"dev": {"region": "mars-1"}}}',
        },
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        "config error: stage 'dev', key 'region': 'mars-1' does not offer Bedrock AgentCore" in result.stderr
    )


OPENAI_SECRET = "arn:aws:secretsmanager:us-east-1:111122223333:secret:openai-AbCdEf"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model_provider": "anthropic"}, "key 'model_provider': must be one of bedrock, openai"),
        (
            {"model_provider": "openai", "openai_api_key_secret_arn": OPENAI_SECRET},
            "stage 'dev', key 'openai_model_id': required when model_provider is 'openai'",
        ),
        (
            {"model_provider": "openai", "openai_model_id": "gpt-4o-mini"},
            "stage 'dev', key 'openai_api_key_secret_arn': required when model_provider is 'openai'",
        ),
        (
            {"openai_model_id": "gpt-4o-mini"},
            "stage 'dev', key 'openai_model_id': only used when model_provider is 'openai' (it is 'bedrock')",
        ),
        (
            {"openai_api_key_secret_arn": OPENAI_SECRET},
            "stage 'dev', key 'openai_api_key_secret_arn': only used when model_provider is 'openai'",
        ),
        (
            {
                "model_provider": "openai",
                "openai_model_id": "us.anthropic.claude-sonnet-4-20250514-v1:0",
                "openai_api_key_secret_arn": OPENAI_SECRET,
            },
            "stage 'dev', key 'openai_model_id': 'us.anthropic.claude-sonnet-4-20250514-v1:0' is a Bedrock",
        ),
        ({"model_id": "gpt-4.1"}, "stage 'dev', key 'model_id': 'gpt-4.1' is an OpenAI model id"),
        (
            {"model_provider": "openai", "openai_model_id": "gpt-4o", "openai_api_key_secret_arn": "sk-abc"},
            "stage 'dev', key 'openai_api_key_secret_arn': must be the full ARN of a Secrets Manager secret",
        ),
        (
            {"openai_api_key_secret_kms_key_arn": "arn:aws:kms:us-east-1:111122223333:key/k-1"},
            "key 'openai_api_key_secret_kms_key_arn': only used when model_provider is 'openai'",
        ),
        (
            {"openai_api_key_secret_kms_key_arn": "alias/aws/secretsmanager"},
            "key 'openai_api_key_secret_kms_key_arn': must be the ARN of a KMS key",
        ),
        (
            {"openai_api_key_secret_json_key": "api key"},
            "key 'openai_api_key_secret_json_key': must be a JSON field name",
        ),
        ({"browser_allowed_domains": "example.com"}, "key 'browser_allowed_domains': expected list or tuple"),
        (
            {"browser_allowed_domains": ["docs.aws.amazon.com", "https://example.com"]},
            "key 'browser_allowed_domains': \"https://example.com\" must be a domain",
        ),
        ({"browser_recording": "yes"}, "stage 'dev', key 'browser_recording': expected bool"),
    ],
)
def test_bad_agent_options_name_the_stage_and_key(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_stages(_context(**overrides))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_an_openai_stage_and_browser_domains_load():
    (dev, *_) = load_stages(
        _context(
            model_provider="openai",
            openai_model_id="gpt-4o-mini",
            openai_api_key_secret_arn=OPENAI_SECRET,
            browser_allowed_domains=["docs.aws.amazon.com", "*.example.com"],
        )
    )
    assert dev.uses_openai and dev.openai_model_id == "gpt-4o-mini"
    assert dev.browser_allowed_domains == ("docs.aws.amazon.com", "*.example.com")


def test_online_evaluation_settings_load_and_default():
    (dev, staging, _) = load_stages(
        _context(
            **EVALUATION_ON, online_evaluators=["Builtin.GoalSuccessRate"], online_evaluation_percent=0.5
        )
    )
    assert dev.online_evaluation and dev.online_evaluators == ("Builtin.GoalSuccessRate",)
    assert dev.online_evaluation_percent == 0.5 and dev.online_evaluation_min_score == 0.5
    assert staging.online_evaluators == (
        "Builtin.Helpfulness",
        "Builtin.Correctness",
        "Builtin.ToolSelectionAccuracy",
    )
