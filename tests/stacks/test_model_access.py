"""The model option in the templates: Bedrock by default; OpenAI with an AgentCore Identity API-key provider
that references the operator's own secret (no copy), and a runtime role that may read exactly that key."""

from __future__ import annotations

import json
import re

from agentcore_agent.settings import Settings

from review import assembly
from review.lint import LintRun
from stacks.bedrock_models import INVOKE_ACTIONS
from tests.stacks.conftest import OPENAI_SECRET_ARN, OPENAI_SECRET_KEY, VARIANT_OPTIONS
from tests.stacks.test_agent_contract import DEPLOY_TIME

SECRET_ARN = OPENAI_SECRET_ARN
# The model option alone (also used by test_iam_wildcards to list its grants).
OPENAI = {
    key: VARIANT_OPTIONS["dev"][key]
    for key in ("model_provider", "openai_model_id", "openai_api_key_secret_arn")
}


def _resources(template, kind):
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def _runtime_statements(template):
    (policy,) = [
        r
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and name.startswith("RuntimeExecutionRole")
    ]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _environment(template):
    (runtime,) = _resources(template, "AWS::BedrockAgentCore::Runtime")
    return runtime["Properties"]["EnvironmentVariables"]


def test_a_bedrock_stage_has_no_api_key_provider_and_invokes_only_its_model(synthesized):
    for stage, _, path in synthesized.all_templates():
        template = json.loads(path.read_text())
        assert _resources(template, "AWS::BedrockAgentCore::ApiKeyCredentialProvider") == [], stage
    runtime = synthesized.template("dev", "Runtime").to_json()
    environment = _environment(runtime)
    assert environment["MODEL_PROVIDER"] == "bedrock" and "OPENAI_API_KEY_PROVIDER" not in environment
    actions = json.dumps(_runtime_statements(runtime))
    assert "GetResourceApiKey" not in actions and INVOKE_ACTIONS[0] in actions


def test_the_openai_provider_references_the_operators_secret_instead_of_copying_it(variant):
    (provider,) = _resources(
        variant.template("dev", "Identity"), "AWS::BedrockAgentCore::ApiKeyCredentialProvider"
    )
    assert provider["Properties"] == {
        "Tags": [{"Key": "agentcore:stage", "Value": "agentcore-dev"}],
        "Name": "agentcore-dev-openai",
        "ApiKeySecretSource": "EXTERNAL",
        "ApiKeySecretConfig": {"SecretId": SECRET_ARN, "JsonKey": "api_key"},
    }


def _assert_no_key_material(templates: list[dict]) -> None:
    for template in templates:
        for provider in _resources(template, "AWS::BedrockAgentCore::ApiKeyCredentialProvider"):
            assert "ApiKey" not in provider["Properties"]  # no key, not even a reference to resolve
        text = json.dumps(template)
        assert not re.search(r"sk-[A-Za-z0-9_-]{16,}", text)
        assert "unsafePlainText" not in text


def test_no_variant_template_carries_key_material(variant):
    _assert_no_key_material([json.loads(path.read_text()) for _, path in variant.template_paths()])


def test_no_stage_template_carries_key_material(synthesized):
    _assert_no_key_material([json.loads(path.read_text()) for _, _, path in synthesized.all_templates()])


def test_the_runtime_may_read_exactly_that_providers_key_and_call_no_bedrock_model(variant):
    statements = _runtime_statements(variant.template("dev", "Runtime"))
    by_sid = {s.get("Sid"): s for s in statements}
    key = by_sid["ReadTheModelApiKey"]
    assert key["Action"] == "bedrock-agentcore:GetResourceApiKey"
    provider_arn, *directories = key["Resource"]
    assert "CredentialProviderArn" in json.dumps(provider_arn)
    assert [json.dumps(d).split(":")[-1].rstrip('"]}') for d in directories] == [
        "token-vault/default",
        "workload-identity-directory/default",
        "workload-identity-directory/default/workload-identity/*",
    ]
    secret = by_sid["ReadTheModelApiKeySecret"]
    assert secret["Action"] == "secretsmanager:GetSecretValue"
    assert secret["Resource"] == SECRET_ARN  # the operator's secret, no AgentCore-managed copy
    assert by_sid["DecryptTheModelApiKeySecret"] == {
        "Sid": "DecryptTheModelApiKeySecret",
        "Action": "kms:Decrypt",
        "Effect": "Allow",
        "Resource": OPENAI_SECRET_KEY,
        "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}},
    }
    everything = json.dumps(statements)
    assert "bedrock:InvokeModel" not in everything
    assert sum("GetResourceApiKey" in json.dumps(s) for s in statements) == 1


def test_a_secret_under_the_aws_managed_key_gets_no_kms_grant():
    """Without `openai_api_key_secret_kms_key_arn` the secret uses aws/secretsmanager, whose key policy
    already lets Secrets Manager decrypt for the account: no KMS statement at all."""
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam

    from stacks.config import load_stage
    from stacks.model_access import api_key_provider, grant_model

    config = load_stage(
        "agentcore", "dev", {"region": "us-east-1", "model_id": "amazon.nova-lite-v1:0"}, OPENAI
    )
    stack = cdk.Stack(cdk.App(), "Grants", env=cdk.Environment(region="us-east-1"))
    role = iam.Role(stack, "Agent", assumed_by=iam.ServicePrincipal("bedrock-agentcore.amazonaws.com"))
    grant_model(role, config, api_key_provider(stack, config))
    statements = json.dumps(cdk.assertions.Template.from_stack(stack).find_resources("AWS::IAM::Policy"))
    assert "secretsmanager:GetSecretValue" in statements and "kms:" not in statements


def test_the_agent_accepts_the_openai_environment_and_no_key_is_in_it(variant):
    environment = _environment(variant.template("dev", "Runtime"))
    assert environment["MODEL_PROVIDER"] == "openai"
    assert environment["MODEL_ID"] == "gpt-4o-mini"
    assert environment["OPENAI_API_KEY_PROVIDER"] == "agentcore-dev-openai"
    assert not any("secretsmanager" in json.dumps(value) for value in environment.values())
    resolved = {k: v if isinstance(v, str) else DEPLOY_TIME[k] for k, v in environment.items()}
    settings = Settings.from_env(resolved)
    assert settings.model_provider == "openai" and settings.openai_api_key_provider == "agentcore-dev-openai"


def test_the_variant_stages_pass_cfn_lint_and_the_nag_packs(variant, synthesized):
    """cfn-lint (the review's, W3005 ignored) over each variant template that differs from the same stack of
    the session's app (which test_compliance lints); cdk-nag over the whole variant."""
    stages = assembly.load(variant.outdir)
    for stage in stages:
        stage.stacks = [
            stack
            for stack in stage.stacks
            if stack.template
            != json.loads(synthesized.template_path(stage.name, stack.name.split("-", 1)[1]).read_text())
        ]
    assert {stack.id for stage in stages for stack in stage.stacks} >= {
        "dev/Identity",
        "dev/Runtime",
        "prod/Runtime",
    }
    findings = LintRun(stages).findings()
    assert [f"{f.stack}: {f.rule} {f.message}" for f in findings if f.rule[0] in "EW"] == []
    report = json.loads((variant.outdir / "validation-report.json").read_text())
    assert [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])] == []
