"""A stage in another account than the pipeline's: its `<project>-<stage>-pipeline-steps` role is trusted by
exactly that stage's post-deploy step roles, grants exactly what the scripts call, and same-account stages
get none (their step roles hold the grants themselves)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from scripts import step_role
from stacks.pipeline_access import STEP_ROLE_VARIABLE
from tests.conftest import ROOT
from tests.stacks.conftest import CROSS_ACCOUNT
from tests.stacks.test_pipeline_stack import PIPELINE, _built_pipeline, _project, _stages

SCRIPTS = ROOT / "scripts"
# Each script's boto3 clients, by the name the code gives them: {module: {variable: IAM service prefix}}.
CLIENTS = {
    "smoke.py": {"cognito": "cognito-idp", "cloudwatch": "cloudwatch"},
    "temporary_user.py": {"cognito": "cognito-idp"},
    "alarm_metrics.py": {"cloudwatch": "cloudwatch"},
    "rollout.py": {"control": "bedrock-agentcore", "cloudwatch": "cloudwatch"},
    "evaluate.py": {"cognito": "cognito-idp"},
}
STEP_MODULES = {
    "smoke": ("smoke.py", "temporary_user.py", "alarm_metrics.py"),
    "rollout": ("rollout.py",),
    "evaluate": ("evaluate.py", "temporary_user.py"),
}
# Cognito's sign-in operations are authorized by the app client and the user's password or session, not by
# IAM (the "unauthenticated" class of the user pools API): no policy grants or limits them.
NOT_IAM = {
    "cognito-idp:InitiateAuth",
    "cognito-idp:RespondToAuthChallenge",
    "cognito-idp:AssociateSoftwareToken",
    "cognito-idp:VerifySoftwareToken",
}


def _calls(module: Path, clients: dict[str, str]) -> set[str]:
    """`<service>:<Action>` of every `<client>.<call>(...)` and `<client>.get_paginator("<call>")`."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in clients
        ):
            continue
        call = node.func.attr
        if call == "get_paginator":
            call = node.args[0].value
        found.add(f"{clients[node.func.value.id]}:" + "".join(word.title() for word in call.split("_")))
    return found


def script_actions(step: str) -> set[str]:
    return {a for m in STEP_MODULES[step] for a in _calls(SCRIPTS / m, CLIENTS[m])} - NOT_IAM


@pytest.fixture(scope="module")
def cross_account():
    """The pipeline with prod in another account (dev and staging in the pipeline's)."""
    pipeline = _built_pipeline(PIPELINE, {"prod": {"account": CROSS_ACCOUNT}})
    return pipeline, Template.from_stack(pipeline).to_json()


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _actions(statements: list[dict]) -> set[str]:
    return {action for s in statements for action in _as_list(s["Action"])}


def _access(pipeline) -> dict:
    return Template.from_stack(pipeline.access["prod"]).to_json()


def _role_and_policy(template: dict) -> tuple[dict, list[dict]]:
    (role,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    (policy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    return role, policy["Properties"]["PolicyDocument"]["Statement"]


def _step_roles(template: dict, stage: str) -> dict[str, str]:
    """{action name: its CodeBuild role's ARN} for the post-deploy steps of `stage`."""
    roles = {}
    for action in _stages(template)[stage]:
        if action["ActionTypeId"]["Category"] != "Build" or action["Name"].startswith("Preflight"):
            continue
        role_id = _project(template, action)["ServiceRole"]["Fn::GetAtt"][0]
        name = template["Resources"][role_id]["Properties"]["RoleName"]
        roles[action["Name"]] = f"arn:aws:iam::{PIPELINE['account']}:role/{name}"
    return roles


def test_only_the_stage_in_another_account_gets_the_steps_role(cross_account, pipeline_app):
    pipeline, _ = cross_account
    assert set(pipeline.access) == {"prod"}
    for stage in ("dev", "staging"):
        assert pipeline.node.root.node.find_child(stage).node.try_find_child("PipelineAccess") is None
    # every stage in the pipeline's account: no such stack at all
    assert not [a for a in pipeline_app.stacks_recursively if a.stack_name.endswith("PipelineAccess")]
    role, _ = _role_and_policy(_access(pipeline))
    assert role["Properties"]["RoleName"] == "agentcore-prod-pipeline-steps"


def test_the_steps_role_trusts_exactly_the_stages_step_roles(cross_account):
    pipeline, template = cross_account
    step_roles = _step_roles(template, "prod")
    assert set(step_roles) == {"SmokeTest-prod", "Rollout-prod"}  # prod has a canary and no gate after it
    role, _ = _role_and_policy(_access(pipeline))
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{PIPELINE['account']}:root"}
    assert trust["Action"] == "sts:AssumeRole"
    (operator,) = trust["Condition"]
    assert operator == "ArnEquals" and list(trust["Condition"]["ArnEquals"]) == ["aws:PrincipalArn"]
    assert sorted(trust["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == sorted(step_roles.values())


def test_the_steps_role_grants_exactly_what_the_stages_scripts_call(cross_account):
    pipeline, _ = cross_account
    _, statements = _role_and_policy(_access(pipeline))
    granted = {
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert granted == script_actions("smoke") | script_actions("rollout")
    by_action = {action: s for s in statements for action in _as_list(s["Action"])}
    outputs = lambda s: sorted(  # noqa: E731 - the stage outputs a statement's resources are
        r["Fn::GetStackOutput"]["OutputName"]
        for r in ([s["Resource"]] if isinstance(s["Resource"], dict) else s["Resource"])
    )
    (pool,) = outputs(by_action["cognito-idp:AdminCreateUser"])
    assert pool.startswith("PublishOutputFnGetAttUserPool")  # the stage's one pool, by its ARN
    runtime, canary, live = outputs(by_action["bedrock-agentcore:UpdateAgentRuntimeEndpoint"])
    assert "AgentRuntimeArn" in runtime and "canary" in canary and "live" in live  # no other endpoint
    assert (
        by_action["cloudwatch:DescribeAlarms"]["Resource"]
        == f"arn:aws:cloudwatch:us-east-1:{CROSS_ACCOUNT}:alarm:*"
    )


def test_the_evaluation_gates_stage_in_another_account_grants_its_calls_too():
    pipeline = _built_pipeline(PIPELINE, {"staging": {"account": CROSS_ACCOUNT}})
    template = Template.from_stack(pipeline.access["staging"]).to_json()
    _, statements = _role_and_policy(template)
    granted = {
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert granted == script_actions("smoke") | script_actions("rollout") | script_actions("evaluate")


def test_the_step_roles_of_that_stage_may_only_assume_it_and_tell_the_scripts(cross_account):
    _, template = cross_account
    steps_role = f"arn:aws:iam::{CROSS_ACCOUNT}:role/agentcore-prod-pipeline-steps"
    for action in _stages(template)["prod"]:
        if action["Name"] not in ("SmokeTest-prod", "Rollout-prod"):
            continue
        project = _project(template, action)
        role_id = project["ServiceRole"]["Fn::GetAtt"][0]
        (policy,) = [
            r
            for r in template["Resources"].values()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
        ]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        services = {json.dumps(s["Action"]).strip('"[]').split(":")[0] for s in statements}
        assert services <= {"logs", "codebuild", "s3", "kms", "sts"}, services  # CDK Pipelines' own + sts
        (assume,) = [s for s in statements if s["Action"] == "sts:AssumeRole"]
        assert assume["Resource"] == steps_role
        variables = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
        assert variables == {STEP_ROLE_VARIABLE: steps_role}


STEP_OF = {"SmokeTest": "smoke", "Rollout": "rollout", "Evaluate": "evaluate"}


def test_same_account_steps_hold_their_grants_and_assume_nothing(cross_account):
    _, template = cross_account
    policies = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    for stage in ("dev", "staging"):
        for name, arn in _step_roles(template, stage).items():
            assert arn.endswith(f":role/agentcore-{stage}-{STEP_OF[name.split('-')[0]]}-step")
            (action,) = [a for a in _stages(template)[stage] if a["Name"] == name]
            project = _project(template, action)
            assert project["Environment"].get("EnvironmentVariables", []) == []
            (policy,) = [
                p for p in policies if {"Ref": project["ServiceRole"]["Fn::GetAtt"][0]} in p["Roles"]
            ]
            assert "sts:AssumeRole" not in json.dumps(policy["PolicyDocument"])


def test_the_pipeline_and_the_scripts_name_the_same_variable():
    assert STEP_ROLE_VARIABLE == step_role.ENVIRONMENT


def test_the_same_account_step_roles_grant_what_their_scripts_call(pipeline_app):
    template = json.loads((Path(pipeline_app.directory) / "Pipeline.template.json").read_text())
    policies = {
        logical_id: r["Properties"]["PolicyDocument"]["Statement"]
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy"
    }
    for prefix, step in (
        ("PipelineSmokeTestprod", "smoke"),
        ("PipelineRolloutprod", "rollout"),
        ("PipelineEvaluatestaging", "evaluate"),
    ):
        (statements,) = [s for k, s in policies.items() if k.startswith(prefix)]
        actions = {
            a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }
        ours = {a for a in actions if a.split(":")[0] in {"cognito-idp", "cloudwatch", "bedrock-agentcore"}}
        assert ours == script_actions(step), step


def test_the_steps_role_stack_passes_cfn_lint(cross_account):
    """cdk-nag runs when it is synthesized: an unacknowledged finding makes `_access` raise."""
    from cfnlint.api import lint

    pipeline, _ = cross_account
    matches = lint(json.dumps(_access(pipeline)), regions=["us-east-1"])
    assert [f"{m.rule.id} {m.message}" for m in matches] == []
