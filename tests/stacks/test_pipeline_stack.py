"""The optional CI pipeline: test + synth once, promote stages in order, gate prod, smoke-test each stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cfnlint.api import lint

from stacks.config import ConfigError, load_pipeline
from stacks.identity_stack import POOL_TAG
from stacks.pipeline_access import ROLLOUT_ACTIONS
from stacks.spend_guards import STAGE_TAG
from tests.conftest import ROOT, cdk_context

PIPELINE = {
    "account": "123456789012",
    "region": "us-east-1",
    "repository": "acme/agentcore-cdk",
    "connection_arn": "arn:aws:codeconnections:us-east-1:123456789012:connection/0b1c2d3e-aaaa-bbbb",
}
# cfn-lint 1.58 flags the Fn::Join role ARNs CDK Pipelines writes into deploy actions (valid CloudFormation).
PIPELINE_LINT_IGNORED = {"W3005", "E3703"}


@pytest.fixture(scope="module")
def pipeline(pipeline_app):
    outdir = Path(pipeline_app.directory)
    return outdir, json.loads((outdir / "Pipeline.template.json").read_text())


def _stages(template):
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    return {stage["Name"]: stage["Actions"] for stage in resource["Properties"]["Stages"]}


def _project(template, action):
    name = action["Configuration"]["ProjectName"]["Ref"]
    return template["Resources"][name]["Properties"]


def test_stages_are_promoted_in_configured_order_after_build(pipeline):
    _, template = pipeline
    assert list(_stages(template)) == [
        "Source",
        "Build",
        "UpdatePipeline",
        "Assets",
        "dev",
        "staging",
        "prod",
    ]


def test_build_runs_the_tests_before_synthesizing_and_publishes_the_review(pipeline):
    _, template = pipeline
    (synth,) = [a for a in _stages(template)["Build"] if a["Name"] == "Synth"]
    project = _project(template, synth)
    spec = project["Source"]["BuildSpec"]
    assert spec.index("make test") < spec.index("make synth IMAGE=") < spec.index("make review")
    artifacts = json.loads(spec)["artifacts"]["secondary-artifacts"]
    (review,) = [a for a in artifacts.values() if a["base-directory"] == "cdk.out/review"]
    assert review["files"] == "**/*"
    assert "Synth_cdk_out_review" in [o["Name"] for o in synth["OutputArtifacts"]]


def test_the_stage_before_an_approval_runs_the_evaluation_gate_after_its_smoke_test(pipeline):
    _, template = pipeline
    stages = _stages(template)
    gates = {
        name: [a for a in actions if a["Name"].startswith("Evaluate-")] for name, actions in stages.items()
    }
    assert {name: [a["Name"] for a in found] for name, found in gates.items() if found} == {
        "staging": ["Evaluate-staging"]
    }
    (gate,) = gates["staging"]
    (smoke,) = [a for a in stages["staging"] if a["Name"] == "SmokeTest-staging"]
    assert gate["RunOrder"] > smoke["RunOrder"]  # only after the smoke test passed
    approval = next(a for a in stages["prod"] if a["ActionTypeId"]["Category"] == "Approval")
    (preflight,) = [a for a in stages["prod"] if a["Name"] == "Preflight-prod"]
    assert list(stages).index("prod") > list(stages).index("staging")
    assert (preflight["RunOrder"], approval["RunOrder"]) == (1, 2)  # the approver sees a checked account
    project = _project(template, gate)
    assert "scripts/evaluate.py" in project["Source"]["BuildSpec"]
    # The test user is a temporary customer the step creates and deletes: no stored credentials at all.
    assert project["Environment"].get("EnvironmentVariables", []) == []
    variables = {v["name"] for v in json.loads(gate["Configuration"]["EnvironmentVariables"])}
    assert variables == {"INVOCATION_URL", "USER_CLIENT_ID", "USER_POOL_ID", "AWS_REGION"}


def test_no_secret_is_stored_or_read_for_any_post_deploy_check(pipeline):
    _, template = pipeline
    text = json.dumps(template)
    assert "secretsmanager" not in text and "SECRETS_MANAGER" not in text and "eval-user" not in text


def test_only_stages_that_require_approval_wait_for_it_before_deploying(pipeline):
    _, template = pipeline
    stages = _stages(template)
    for name, actions in stages.items():
        if name not in {"dev", "staging", "prod"}:
            continue
        approvals = [a for a in actions if a["ActionTypeId"]["Category"] == "Approval"]
        deploys = [a for a in actions if a["ActionTypeId"]["Category"] == "Deploy"]
        if name == "prod":
            assert len(approvals) == 1
            assert approvals[0]["RunOrder"] < min(a["RunOrder"] for a in deploys)
        else:
            assert approvals == []


def test_every_stage_is_smoke_tested_after_its_deploys_with_its_own_outputs(pipeline):
    _, template = pipeline
    for name in ("dev", "staging", "prod"):
        actions = _stages(template)[name]
        (smoke,) = [a for a in actions if a["Name"] == f"SmokeTest-{name}"]
        last_deploy = max(a["RunOrder"] for a in actions if a["ActionTypeId"]["Category"] == "Deploy")
        assert smoke["RunOrder"] > last_deploy
        spec = _project(template, smoke)["Source"]["BuildSpec"]
        assert "scripts/smoke.py" in spec
        variables = {
            v["name"]: v["value"] for v in json.loads(smoke["Configuration"]["EnvironmentVariables"])
        }
        namespaces = {
            a["Name"].split(".")[0]: a.get("Namespace") for a in actions if a["Name"].endswith(".Deploy")
        }
        assert variables == {
            "INVOCATION_URL": f"#{{{namespaces['Runtime']}.InvocationUrl}}",
            "GATEWAY_URL": f"#{{{namespaces['Gateway']}.GatewayUrl}}",
            "TOKEN_ENDPOINT": f"#{{{namespaces['Identity']}.TokenEndpoint}}",
            "USER_POOL_ID": f"#{{{namespaces['Identity']}.UserPoolId}}",
            "MACHINE_CLIENT_ID": f"#{{{namespaces['Identity']}.MachineClientId}}",
            "USER_CLIENT_ID": f"#{{{namespaces['Identity']}.UserClientId}}",
            "AWS_REGION": f"#{{{namespaces['Identity']}.Region}}",
            "ALARM_NAMES": f"#{{{namespaces['Observability']}.AlarmNames}}",
        }
        assert all(namespace.startswith(name) for namespace in namespaces.values() if namespace)


TEMPORARY_USER = [
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminDeleteUser",
    "cognito-idp:AdminSetUserPassword",
]


def _cognito_statements(template):
    """{policy logical id: [its statements with a cognito-idp action]}."""
    return {
        logical_id: [
            s
            for s in r["Properties"]["PolicyDocument"]["Statement"]
            if "cognito-idp" in json.dumps(s["Action"])
        ]
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and "cognito-idp" in json.dumps(r["Properties"]["PolicyDocument"])
    }


def _only_the_stage_pool(statement):
    """The pool the statement is limited to (by tag), after checking it is the stage account's pools only."""
    assert ":cognito-idp:us-east-1:123456789012:userpool/*" in json.dumps(statement["Resource"])
    assert list(statement["Condition"]["StringEquals"]) == [f"aws:ResourceTag/{POOL_TAG}"]
    (pool,) = statement["Condition"]["StringEquals"].values()
    return pool


def test_post_deploy_roles_may_only_manage_users_of_their_own_stage_pool(pipeline):
    _, template = pipeline
    policies = _cognito_statements(template)
    smoke = {k: v for k, v in policies.items() if "SmokeTest" in k}
    evaluate = {k: v for k, v in policies.items() if "Evaluate" in k}
    assert len(policies) == len(smoke) + len(evaluate) == 4
    pools = set()
    for (statement,) in smoke.values():  # the smoke test also reads the M2M client's secret
        assert sorted(statement["Action"]) == sorted(["cognito-idp:DescribeUserPoolClient", *TEMPORARY_USER])
        pools.add(_only_the_stage_pool(statement))
    assert pools == {f"agentcore-{stage}-users" for stage in ("dev", "staging", "prod")}  # one pool each
    ((statement,),) = (
        evaluate.values()
    )  # the evaluation gate: the temporary customer's admin calls, nothing else
    assert sorted(statement["Action"]) == TEMPORARY_USER
    assert _only_the_stage_pool(statement) == "agentcore-staging-users"


def test_each_user_pool_carries_the_tag_the_smoke_test_is_limited_to(synthesized):
    for stage in ("dev", "staging", "prod"):
        (pool,) = synthesized.template(stage, "Identity").find_resources("AWS::Cognito::UserPool").values()
        assert pool["Properties"]["UserPoolTags"][POOL_TAG] == pool["Properties"]["UserPoolName"]
        assert pool["Properties"]["UserPoolName"] == f"agentcore-{stage}-users"


def test_pipeline_passes_nag_and_cfn_lint(pipeline):
    outdir, template = pipeline
    report = json.loads((outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []
    matches = lint(json.dumps(template), regions=["us-east-1"])
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in PIPELINE_LINT_IGNORED] == []


def test_pipeline_uses_the_pinned_cdk_cli(pipeline):
    _, template = pipeline
    (mutate,) = _stages(template)["UpdatePipeline"]
    spec = _project(template, mutate)["Source"]["BuildSpec"]
    pinned = json.loads((ROOT / "package.json").read_text())
    assert f"aws-cdk@{pinned['devDependencies']['aws-cdk']}" in spec


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"account": "12"}, "key 'account': must be a 12-digit AWS account id"),
        ({"repository": "no-slash"}, "key 'repository': must be owner/name"),
        ({"connection_arn": "arn:aws:s3:::bucket"}, "key 'connection_arn': must be a CodeConnections"),
        ({"branchh": "main"}, "key 'branchh': unknown key"),
    ],
)
def test_bad_pipeline_settings_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_pipeline({"agentcore:pipeline": {**PIPELINE, **override}})


def test_no_pipeline_without_its_context_and_required_keys_are_enforced():
    assert load_pipeline(cdk_context()) is None
    with pytest.raises(ConfigError, match="key 'connection_arn': required"):
        load_pipeline({"agentcore:pipeline": {k: v for k, v in PIPELINE.items() if k != "connection_arn"}})


def _built_pipeline(pipeline: dict, stage_overrides: dict | None = None):
    """The app with `pipeline`, built (not synthesized: the pipeline's allow-list checks are construct
    validations, and a full synth of every stage per case would cost a minute each)."""
    import copy

    from app import build_app, new_app

    context = copy.deepcopy(cdk_context())
    stages = context["agentcore:stages"]
    for name, override in (stage_overrides or {}).items():
        stages[name] = {**stages[name], **override}
    context["agentcore:pipeline"] = pipeline
    app = new_app(context=context)
    build_app(app)
    return app.node.find_child("Pipeline")


def _validation_errors(construct) -> list[str]:
    return [error for child in construct.node.find_all() for error in child.node.validate()]


USER_PIPELINES = [
    pytest.param({**PIPELINE, "repository": "example-org/agentcore-cdk"}, {}, id="another-repository"),
    pytest.param(
        {
            **PIPELINE,
            "repository": "Someone_Else/agents.v2",
            "branch": "release/2026-12",
            "connection_arn": (
                "arn:aws:codestar-connections:us-east-1:123456789012:connection/9f8e7d6c-1111-2222"
            ),
        },
        {},
        id="branch-and-codestar-connection",
    ),
    pytest.param(
        {**PIPELINE, "account": "999988887777", "repository": "org/repo"},
        {"dev": {"account": "210987654321"}, "prod": {"account": "333344445555"}},
        id="stages-in-other-accounts",
    ),
]


@pytest.mark.parametrize(("pipeline_settings", "stage_overrides"), USER_PIPELINES)
def test_the_pipeline_builds_for_any_repository_branch_connection_and_stage_accounts(
    pipeline_settings, stage_overrides
):
    pipeline = _built_pipeline(pipeline_settings, stage_overrides)
    assert _validation_errors(pipeline) == []


def test_a_new_wildcard_in_the_pipeline_still_fails_for_any_repository():
    from aws_cdk import aws_iam as iam

    pipeline = _built_pipeline({**PIPELINE, "repository": "example-org/agentcore-cdk"})
    project = pipeline.smoke_tests["dev"].project
    project.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::b/*"]))
    (error,) = _validation_errors(pipeline)
    assert "SmokeTestdevRoleDefaultPolicy" in error
    assert "['s3:GetObject'] on ['arn:aws:s3:::b/*'] is not" in error


def test_a_stage_in_another_region_than_the_pipeline_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"stage 'prod', key 'region': us-west-2 differs .* us-east-1"):
        _built_pipeline(PIPELINE, {"prod": {"region": "us-west-2"}})


def test_the_agent_image_is_built_once_on_arm64_before_the_synth_that_pins_its_digest(pipeline):
    _, template = pipeline
    build = {a["Name"]: a for a in _stages(template)["Build"]}
    assert set(build) == {"BuildImage", "Synth"}
    image, synth = build["BuildImage"], build["Synth"]
    assert image["RunOrder"] < synth["RunOrder"]
    (image_output,) = image["OutputArtifacts"]
    assert image_output["Name"] in [i["Name"] for i in synth["InputArtifacts"]]
    project = _project(template, image)
    assert project["Environment"]["Type"] == "ARM_CONTAINER" and project["Environment"]["PrivilegedMode"]
    assert "bash scripts/build_image.sh" in project["Source"]["BuildSpec"]
    variables = {v["name"]: v["value"] for v in json.loads(image["Configuration"]["EnvironmentVariables"])}
    assert variables["COMMIT_ID"] == "#{Source@Repository.CommitId}" or variables["COMMIT_ID"].endswith(
        ".CommitId}"
    )
    commands = json.loads(_project(template, synth)["Source"]["BuildSpec"])["phases"]["build"]["commands"]
    assert 'make synth IMAGE="$(cat .image/reference)"' in commands


def test_the_images_repository_is_kept_immutable_scanned_and_encrypted(pipeline):
    _, template = pipeline
    (repository,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECR::Repository"]
    assert repository["DeletionPolicy"] == "Retain"
    properties = repository["Properties"]
    assert properties["RepositoryName"] == "agentcore-agent"
    assert properties["ImageTagMutability"] == "IMMUTABLE"
    assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert properties["EncryptionConfiguration"]["EncryptionType"] == "KMS"
    assert "RepositoryPolicyText" not in properties  # every stage is in the pipeline's account


def test_stages_in_other_accounts_may_pull_the_image_and_decrypt_it_through_ecr_only():
    from aws_cdk.assertions import Template

    pipeline = _built_pipeline({**PIPELINE, "repository": "org/repo"}, {"prod": {"account": "333344445555"}})
    template = Template.from_stack(pipeline).to_json()
    (repository,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECR::Repository"]
    (statement,) = repository["Properties"]["RepositoryPolicyText"]["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::333344445555:root"}
    assert sorted(statement["Action"]) == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ]
    (key,) = [r for n, r in template["Resources"].items() if n.startswith("AgentImagesKey")]
    decrypt = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Action"] == "kms:Decrypt"]
    assert decrypt == [
        {
            "Action": "kms:Decrypt",
            "Condition": {"StringEquals": {"kms:ViaService": "ecr.us-east-1.amazonaws.com"}},
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::333344445555:root"},
            "Resource": "*",
        }
    ]


def test_stages_with_a_canary_roll_out_after_the_smoke_test_and_before_the_evaluation_gate(pipeline):
    _, template = pipeline
    stages = _stages(template)
    rollouts = {
        name: [a for a in actions if a["Name"].startswith("Rollout-")] for name, actions in stages.items()
    }
    assert {name: [a["Name"] for a in found] for name, found in rollouts.items() if found} == {
        "staging": ["Rollout-staging"],
        "prod": ["Rollout-prod"],
    }  # dev has no canary (cdk.json)
    for name, bake in (("staging", 15), ("prod", 30)):
        (rollout,) = rollouts[name]
        (smoke,) = [a for a in stages[name] if a["Name"] == f"SmokeTest-{name}"]
        assert rollout["RunOrder"] > smoke["RunOrder"]
        project = _project(template, rollout)
        commands = json.loads(project["Source"]["BuildSpec"])["phases"]["build"]["commands"]
        assert commands[-1] == (
            '.venv/bin/python scripts/rollout.py --runtime-id "$RUNTIME_ID"'
            f" --alarm-prefix agentcore-{name}-canary- --bake-minutes {bake} --live-endpoint live"
        )  # the last command: its exit 1 (rolled back, the alarm named in the log) fails the stage
        assert project["TimeoutInMinutes"] == bake + 45
        namespaces = {
            a["Name"].split(".")[0]: a.get("Namespace") for a in stages[name] if a["Name"].endswith(".Deploy")
        }
        variables = {
            v["name"]: v["value"] for v in json.loads(rollout["Configuration"]["EnvironmentVariables"])
        }
        assert variables == {"RUNTIME_ID": f"#{{{namespaces['Runtime']}.RuntimeId}}"}
    (gate,) = [a for a in stages["staging"] if a["Name"] == "Evaluate-staging"]
    assert gate["RunOrder"] > rollouts["staging"][0]["RunOrder"]  # the gate judges the promoted version


CODEBUILD_OWN = {"logs", "codebuild", "s3", "kms"}  # build logs, reports, the pipeline's artifacts and key


def test_the_rollout_role_may_move_only_its_own_stages_endpoints_and_read_alarms(pipeline):
    _, template = pipeline
    policies = {
        logical_id: r["Properties"]["PolicyDocument"]["Statement"]
        for logical_id, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and "Rollout" in logical_id
    }
    assert len(policies) == 2
    stages = set()
    for statements in policies.values():
        granted = [s for s in statements if "bedrock-agentcore" in json.dumps(s["Action"])]
        (agentcore,) = granted
        assert sorted(agentcore["Action"]) == sorted(ROLLOUT_ACTIONS)
        assert agentcore["Resource"] == "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/*"
        assert list(agentcore["Condition"]["StringEquals"]) == [f"aws:ResourceTag/{STAGE_TAG}"]
        stages |= set(agentcore["Condition"]["StringEquals"].values())
        (alarms,) = [s for s in statements if "cloudwatch" in json.dumps(s["Action"])]
        assert alarms["Action"] == "cloudwatch:DescribeAlarms"
        assert alarms["Resource"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"
        others = [s for s in statements if s not in (agentcore, alarms)]
        services = {
            a.split(":")[0]
            for s in others
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }
        assert services <= CODEBUILD_OWN, services  # the rest: what CDK Pipelines gives every CodeBuild step
    assert stages == {"agentcore-staging", "agentcore-prod"}  # one stage each
