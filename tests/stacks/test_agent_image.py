"""Pipeline mode (`agentcore:image`): every stage's Runtime runs the pipeline's one build by digest and
builds nothing; plain mode (no image) keeps each stage's own repository and deploy-time build."""

from __future__ import annotations

import copy
import json

import pytest
from aws_cdk.assertions import Template

from stacks.agent_image import IMAGE_KEY, pinned_image
from stacks.config import ConfigError
from tests.conftest import cdk_context

PIPELINE_ACCOUNT = "123456789012"
DIGEST = "sha256:" + "ab" * 32
IMAGE = f"{PIPELINE_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/agentcore-agent@{DIGEST}"
BUILD_TYPES = {"AWS::ECR::Repository", "AWS::CodeBuild::Project", "Custom::CDKContainerImageBuild"}


@pytest.fixture(scope="module")
def pinned(tmp_path_factory):
    """dev and prod (prod in another account) with the pipeline's image, under the compliance packs."""
    from app import build_app, new_app

    context = copy.deepcopy(cdk_context())
    stages = context["agentcore:stages"]
    other_account = {**stages["prod"], "account": "333344445555"}
    dev = {**stages["dev"], "account": "111122223333"}  # both named: each owns its own account's resources
    context["agentcore:stages"] = {"dev": dev, "prod": other_account}
    context[IMAGE_KEY] = IMAGE
    outdir = tmp_path_factory.mktemp("pinned")
    app = new_app(context=context, outdir=str(outdir))
    built = {stage.stage_name: stage for stage in build_app(app)}
    app.synth()
    return outdir, {
        name: Template.from_json(stage.synth().get_stack_by_name(f"{name}-Runtime").template)
        for name, stage in built.items()
    }


def _container_uri(template):
    (runtime,) = template.find_resources("AWS::BedrockAgentCore::Runtime").values()
    return runtime["Properties"]["AgentRuntimeArtifact"]["ContainerConfiguration"]["ContainerUri"]


def test_every_stage_runs_the_pipelines_image_by_digest_and_builds_nothing(pinned):
    outdir, templates = pinned
    for template in templates.values():
        assert _container_uri(template) == IMAGE
        types = {r["Type"] for r in template.to_json()["Resources"].values()}
        assert types & BUILD_TYPES == set()
        assert template.find_outputs("ImageUri")["ImageUri"]["Value"] == IMAGE
    assert json.loads((outdir / "validation-report.json").read_text())["pluginReports"] == []


def test_the_runtime_may_pull_from_the_pipelines_repository_only(pinned):
    _, templates = pinned
    repository = f"arn:aws:ecr:us-east-1:{PIPELINE_ACCOUNT}:repository/agentcore-agent"
    for template in templates.values():
        policies = template.find_resources("AWS::IAM::Policy")
        (policy,) = [p for name, p in policies.items() if name.startswith("RuntimeExecutionRole")]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        ecr = {str(s["Action"]): s["Resource"] for s in statements if "ecr:" in json.dumps(s["Action"])}
        pull = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        assert ecr == {str(pull): repository, "ecr:GetAuthorizationToken": "*"}


def test_plain_mode_keeps_the_stages_own_repository_and_deploy_time_build(synthesized):
    template = synthesized.template("dev", "Runtime")
    uri = json.dumps(_container_uri(template))
    assert "@sha256:" not in uri and "Repository" in uri
    types = {r["Type"] for r in template.to_json()["Resources"].values()}
    assert types >= BUILD_TYPES


@pytest.mark.parametrize(
    "value",
    [
        f"{PIPELINE_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/agentcore-agent:latest",
        f"{PIPELINE_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/agentcore-agent@sha256:abc",
        f"docker.io/library/python@{DIGEST}",
        42,
    ],
)
def test_an_image_not_by_digest_is_refused_naming_the_key(value):
    with pytest.raises(ConfigError, match=f"context '{IMAGE_KEY}': .* is not an ECR image by digest"):
        pinned_image(value)
