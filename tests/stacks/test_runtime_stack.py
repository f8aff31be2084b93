"""The runtime stack: arm64 image built at deploy time, JWT-authorized Runtime, scoped execution role."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from stacks.bedrock_models import model_arns
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def dev(synthesized):
    return synthesized.template("dev", "Runtime")


@pytest.fixture(scope="module")
def prod(synthesized):
    return synthesized.template("prod", "Runtime")


def _runtime(template):
    (runtime,) = template.find_resources("AWS::BedrockAgentCore::Runtime").values()
    return runtime["Properties"]


def _role_statements(template):
    policies = template.find_resources("AWS::IAM::Policy")
    (policy,) = [p for name, p in policies.items() if name.startswith("RuntimeExecutionRole")]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_repository_scans_is_immutable_encrypted_and_trimmed(dev):
    dev.has_resource_properties(
        "AWS::ECR::Repository",
        {
            "ImageScanningConfiguration": {"ScanOnPush": True},
            "ImageTagMutability": "IMMUTABLE",
            "EncryptionConfiguration": {"EncryptionType": "KMS", "KmsKey": Match.any_value()},
            "LifecyclePolicy": {"LifecyclePolicyText": Match.string_like_regexp('"countNumber":10')},
        },
    )
    dev.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_repository_is_emptied_in_dev_and_retained_in_prod(dev, prod):
    dev.has_resource("AWS::ECR::Repository", {"DeletionPolicy": "Delete"})
    assert "EmptyOnDelete" in json.dumps(dev.find_resources("AWS::ECR::Repository"))
    prod.has_resource("AWS::ECR::Repository", {"DeletionPolicy": "Retain"})
    prod.has_resource_properties(
        "AWS::ECR::Repository",
        {"LifecyclePolicy": {"LifecyclePolicyText": Match.string_like_regexp('"countNumber":30')}},
    )


def test_image_is_built_for_arm64_at_deploy_time_and_the_runtime_follows_its_tag(dev):
    (build,) = dev.find_resources("Custom::CDKContainerImageBuild").values()
    props = json.dumps(build["Properties"])
    assert "linux/arm64" in props
    (project,) = dev.find_resources("AWS::CodeBuild::Project").values()
    assert "ARM" in project["Properties"]["Environment"]["Type"]
    uri = json.dumps(_runtime(dev)["AgentRuntimeArtifact"]["ContainerConfiguration"]["ContainerUri"])
    assert '"ImageTag"' in uri, "the runtime must follow the tag of the latest build"


def test_runtime_authorizes_cognito_user_client_by_client_id_not_audience(dev):
    jwt = _runtime(dev)["AuthorizerConfiguration"]["CustomJWTAuthorizer"]
    assert "AllowedAudience" not in jwt
    assert len(jwt["AllowedClients"]) == 1
    assert "UserClient" in json.dumps(jwt["AllowedClients"])
    url = json.dumps(jwt["DiscoveryUrl"])
    assert "https://cognito-idp.us-east-1.amazonaws.com/" in url
    assert url.endswith('/.well-known/openid-configuration"]]}')


def test_runtime_passes_authorization_header_and_lifecycle_from_config(dev, synthesized):
    props = _runtime(dev)
    assert props["RequestHeaderConfiguration"] == {"RequestHeaderAllowlist": ["Authorization"]}
    config = synthesized.stages["dev"].config
    assert props["LifecycleConfiguration"] == {
        "IdleRuntimeSessionTimeout": config.idle_timeout_seconds,
        "MaxLifetime": config.max_lifetime_seconds,
    }
    assert props["AgentRuntimeName"] == "agentcore_dev_agent"


def test_agent_environment_carries_model_region_and_auth(dev):
    env = _runtime(dev)["EnvironmentVariables"]
    assert env["MODEL_ID"] == "us.anthropic.claude-sonnet-4-20250514-v1:0"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "openid-configuration" in json.dumps(env["OIDC_DISCOVERY_URL"])
    assert "UserClient" in json.dumps(env["ALLOWED_CLIENTS"])
    assert {"MAX_PROMPT_CHARS", "BROWSER_ID", "CODE_INTERPRETER_ID", "OTEL_SERVICE_NAME"} <= set(env)
    assert len(env) <= 50


def test_named_endpoint_besides_default(dev):
    dev.has_resource_properties("AWS::BedrockAgentCore::RuntimeEndpoint", {"Name": "live"})
    outputs = dev.find_outputs("*")
    assert {"RuntimeArn", "RuntimeEndpointArn", "InvocationUrl"} <= set(outputs)
    assert "invocations?qualifier=live" in json.dumps(outputs["InvocationUrl"]["Value"])


def test_model_permissions_are_scoped_to_the_profile_and_its_models(dev):
    statements = _role_statements(dev)
    invoke = [s for s in statements if "bedrock:InvokeModel" in s["Action"]]
    assert len(invoke) == 1
    resources = json.dumps(invoke[0]["Resource"])
    assert "inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0" in resources
    for region in ("us-east-1", "us-east-2", "us-west-2"):
        assert f":bedrock:{region}::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0" in resources
    assert '"*"' not in resources and "foundation-model/*" not in resources


def test_no_statement_allows_every_action_and_metrics_are_namespaced(dev):
    statements = _role_statements(dev)
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "*" not in actions and not any(a.endswith(":*") for a in actions)
        if statement["Resource"] == "*":
            assert set(actions) <= {
                "ecr:GetAuthorizationToken",
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "cloudwatch:PutMetricData",
            }, statement
    (metrics,) = [s for s in statements if s["Action"] == "cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "bedrock-agentcore"}}


def test_workload_tokens_for_arbitrary_user_ids_are_denied(dev):
    agent_source = " ".join(p.read_text() for p in (ROOT / "agent_src" / "agentcore_agent").rglob("*.py"))
    assert "for_user_id" not in agent_source.lower(), "the agent now uses it: allow it instead"
    statements = _role_statements(dev)
    for_user_id = "bedrock-agentcore:GetWorkloadAccessTokenForUserId"
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Action"] == for_user_id
    allowed = [s for s in statements if s["Effect"] == "Allow" and for_user_id in s["Action"]]
    assert allowed, "the L2 grants it (else drop the Deny)"
    for statement in allowed:
        assert set(json.dumps(r) for r in statement["Resource"]) <= set(
            json.dumps(r) for r in deny["Resource"]
        )
    (tokens,) = allowed
    assert "bedrock-agentcore:GetWorkloadAccessTokenForJWT" in tokens["Action"]  # what JWT callers need


def test_agent_may_use_only_this_stages_browser_and_code_interpreter(dev):
    statements = _role_statements(dev)
    starts = {a: s["Resource"] for s in statements for a in s["Action"] if "Start" in a}
    assert "BrowserArn" in json.dumps(starts["bedrock-agentcore:StartBrowserSession"])
    assert "CodeInterpreterArn" in json.dumps(starts["bedrock-agentcore:StartCodeInterpreterSession"])
    dev.has_resource_properties(
        "AWS::BedrockAgentCore::CodeInterpreterCustom", {"NetworkConfiguration": {"NetworkMode": "SANDBOX"}}
    )


@pytest.mark.parametrize(
    ("model_id", "region", "expected"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", "eu-west-1", 1),
        ("eu.anthropic.claude-3-haiku-20240307-v1:0", "eu-west-1", 7),
        ("global.anthropic.claude-sonnet-4-20250514-v1:0", "us-east-1", 3),
    ],
)
def test_model_arns_cover_each_kind_of_model_id(model_id, region, expected):
    arns = model_arns(model_id, region)
    assert len(arns) == expected
    assert all("*" not in arn for arn in arns)


def test_docker_mode_builds_an_arm64_asset_locally_instead_of_codebuild(tmp_path):
    """`image_build: docker` swaps CodeBuild for a local arm64 Docker asset; synth still needs no Docker."""
    import copy

    from app import build_app, new_app
    from tests.conftest import cdk_context

    context = copy.deepcopy(cdk_context())
    context["agentcore:stages"] = {"dev": {**context["agentcore:stages"]["dev"], "image_build": "docker"}}
    (stage,) = build_app(new_app(context=context, outdir=str(tmp_path)))
    assembly = stage.synth()
    template = assembly.get_stack_by_name("dev-Runtime").template
    types = {r["Type"] for r in template["Resources"].values()}
    assert "AWS::CodeBuild::Project" not in types and "Custom::CDKContainerImageBuild" not in types
    (manifest,) = (tmp_path / "assembly-dev").glob("devRuntime*.assets.json")
    (image,) = json.loads(manifest.read_text())["dockerImages"].values()
    assert image["source"]["platform"] == "linux/arm64"


def test_conversation_content_is_redacted_from_traces_unless_the_stage_opts_in(dev):
    env = _runtime(dev)["EnvironmentVariables"]
    assert env["OTEL_SEMCONV_STABILITY_OPT_IN"] == "gen_ai_unredacted_attributes="
    assert env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] == "false"


def test_image_tag_starts_with_the_agent_sources_content_hash(dev):
    from stacks.runtime_stack import source_fingerprint

    (build,) = dev.find_resources("Custom::CDKContainerImageBuild").values()
    assert build["Properties"]["tagPrefix"] == f"{source_fingerprint()}-"
    assert "imageTag" not in build["Properties"], "a fixed tag would collide with the immutable repository"
