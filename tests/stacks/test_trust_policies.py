"""Every role a service assumes trusts it for this account only (aws:SourceAccount, aws:SourceArn) where AWS
documents that the service sends those keys; other service roles are listed in stacks/trust_policies.toml."""

from __future__ import annotations

import fnmatch

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from stacks import trust_policies


def _trusts(every_template):
    return [
        (f"{t.stack_id}/{logical_id}", statement, service)
        for t in every_template
        for logical_id, statement, service in trust_policies.service_trusts(t.template)
    ]


def test_every_service_role_has_the_conditions_or_an_allow_list_entry(every_template):
    found = [v for t in every_template for v in trust_policies.violations(t.stack_id, t.template)]
    assert found == []
    services = {service for _, _, service in _trusts(every_template)}
    assert services >= {"codebuild.amazonaws.com", "bedrock-agentcore.amazonaws.com", "lambda.amazonaws.com"}


def test_a_role_trusting_another_account_names_its_exact_principals(every_template):
    found = [
        v
        for t in every_template
        for v in trust_policies.cross_account_violations(t.stack_id, t.template, t.account)
    ]
    assert found == []
    trusting = [
        t.stack_name
        for t in every_template
        for r in t.template["Resources"].values()
        if r["Type"] == "AWS::IAM::Role"
        and "aws:PrincipalArn" in str(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert trusting == ["prod-PipelineAccess"]  # the check saw the one role that trusts another account


@pytest.mark.parametrize(
    ("condition", "reported"),
    [
        (None, True),
        ({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/*"}}, True),
        (
            {"ArnEquals": {"aws:PrincipalArn": ["arn:aws:iam::123456789012:role/agentcore-prod-smoke-step"]}},
            False,
        ),
    ],
)
def test_a_trust_of_another_account_without_exact_principals_is_reported(condition, reported):
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    }
    if condition:
        statement["Condition"] = condition
    template = {
        "Resources": {
            "Steps": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Statement": [statement]}},
            }
        }
    }
    expected = (
        ["PipelineAccess/Steps: trusts another account without exact aws:PrincipalArn"] if reported else []
    )
    assert trust_policies.cross_account_violations("PipelineAccess", template, "333344445555") == expected
    assert (
        trust_policies.cross_account_violations("PipelineAccess", template, "123456789012") == []
    )  # its own


def test_every_allow_list_entry_still_matches_a_role(every_template):
    """A stale entry would silently let a future role of that name trust its service unconditionally."""
    trusts = _trusts(every_template)
    stale = [
        f"{entry.service}: {pattern}"
        for entry in trust_policies.allow_list().unconditioned
        for pattern in entry.roles
        if not any(s == entry.service and fnmatch.fnmatchcase(role, pattern) for role, _, s in trusts)
    ]
    assert stale == []


def test_codebuild_roles_trust_only_projects_of_their_own_account_and_region(every_template):
    """CDK Pipelines' projects and deploy-time-build's image build: library roles the Aspect conditions."""
    codebuild = {
        (t.stack_name, logical_id): (statement, t.account)
        for t in every_template
        for logical_id, statement, service in trust_policies.service_trusts(t.template)
        if service == "codebuild.amazonaws.com"
    }
    roles = {name for name, _ in codebuild}
    assert {"agentcore-pipeline", "dev-Runtime", "prod-Runtime"} <= roles
    assert len([1 for name, _ in codebuild if name == "agentcore-pipeline"]) >= 6  # synth, smoke, assets, ...
    for (stack, logical_id), (statement, account) in codebuild.items():
        condition = statement["Condition"]
        expected_account = account if account.isdigit() else {"Ref": "AWS::AccountId"}
        assert condition["StringEquals"] == {"aws:SourceAccount": expected_account}, (stack, logical_id)
        source_arn = condition["ArnLike"]["aws:SourceArn"]
        rendered = (
            source_arn
            if isinstance(source_arn, str)
            else "".join(part if isinstance(part, str) else "<account>" for part in source_arn["Fn::Join"][1])
        )
        assert rendered.startswith("arn:aws:codebuild:us-east-1:") and rendered.endswith(":project/*"), (
            rendered
        )


def test_agentcore_roles_keep_the_l2s_narrower_source_arn(every_template):
    (runtime,) = [t for t in every_template if t.stack_name == "dev-Runtime"]
    statement = runtime.template["Resources"][
        next(k for k in runtime.template["Resources"] if k.startswith("RuntimeExecutionRole"))
    ]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert ":runtime/agentcore_dev_agent*" in str(statement["Condition"]["ArnLike"]["aws:SourceArn"])


def _stack_with(*principals: iam.IPrincipal) -> cdk.Stack:
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(region="us-east-1"))
    trust_policies.apply(stack)
    for index, principal in enumerate(principals):
        iam.Role(stack, f"Role{index}", assumed_by=principal)
    return stack


def _trust(template: Template, index: int) -> dict:
    (role,) = [
        r for k, r in template.find_resources("AWS::IAM::Role").items() if k.startswith(f"Role{index}")
    ]
    return role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]


def test_the_aspect_adds_both_keys_to_a_conditioned_service_and_nothing_elsewhere():
    stack = _stack_with(
        iam.ServicePrincipal("codebuild.amazonaws.com"),
        iam.ServicePrincipal("lambda.amazonaws.com"),
        iam.PrincipalWithConditions(
            iam.ServicePrincipal("bedrock-agentcore.amazonaws.com"),
            {"StringEquals": {"aws:SourceAccount": "111122223333"}, "ArnLike": {"aws:SourceArn": "arn:x"}},
        ),
    )
    template = Template.from_stack(stack)
    codebuild = _trust(template, 0)
    assert codebuild["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    parts = [
        "arn:",
        {"Ref": "AWS::Partition"},
        ":codebuild:us-east-1:",
        {"Ref": "AWS::AccountId"},
        ":project/*",
    ]
    assert codebuild["Condition"]["ArnLike"]["aws:SourceArn"] == {"Fn::Join": ["", parts]}
    assert "Condition" not in _trust(template, 1)  # Lambda: not conditioned
    assert _trust(template, 2)["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:x"}  # already scoped: kept
    # a Lambda role that the allow-list does not name is reported
    (lambda_role,) = [k for k in template.find_resources("AWS::IAM::Role") if k.startswith("Role1")]
    assert trust_policies.violations("S", template.to_json()) == [
        f"S/{lambda_role}: trusts lambda.amazonaws.com, which is in neither list of trust_policies.toml"
    ]


def test_a_trust_without_the_keys_is_reported():
    template = {
        "Resources": {
            "BuildRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": ["codebuild.amazonaws.com"]},
                                "Action": "sts:AssumeRole",
                                "Condition": {"StringEquals": {"aws:SourceAccount": "1"}},
                            }
                        ]
                    }
                },
            }
        }
    }
    assert trust_policies.violations("Runtime", template) == [
        "Runtime/BuildRole: trusts codebuild.amazonaws.com without aws:SourceAccount and aws:SourceArn"
    ]


def test_one_statement_for_two_conditioned_services_is_refused():
    """CDK writes one statement per service; a raw document naming two would need two source ARNs."""
    stack = _stack_with()
    trust = {"Effect": "Allow", "Action": "sts:AssumeRole"}
    services = ["codebuild.amazonaws.com", "bedrock-agentcore.amazonaws.com"]
    document = {"Statement": [{**trust, "Principal": {"Service": services}}]}
    iam.CfnRole(stack, "Raw", assume_role_policy_document=document)
    with pytest.raises(Exception, match="give each conditioned service its own trust statement"):
        Template.from_stack(stack)


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        (
            '[[conditioned]]\nservice = "a.amazonaws.com"\nsource_arn = "arn"\nevidence = "doc"\n',
            "real evidence",
        ),
        (
            '[[conditioned]]\nservice = "a.amazonaws.com"\nsource_arn = "arn"\nevidence = "'
            + "e" * 40
            + '"\n'
            '[[unconditioned]]\nservice = "a.amazonaws.com"\nroles = ["S/R*"]\nreason = "' + "r" * 40 + '"\n'
            'evidence = "' + "e" * 40 + '"\n',
            "both conditioned and unconditioned",
        ),
        (
            '[[unconditioned]]\nservice = "b.amazonaws.com"\nroles = ["S/R*"]\nreason = "because"\n'
            'evidence = "' + "e" * 40 + '"\n',
            "real reason",
        ),
    ],
)
def test_an_entry_without_evidence_or_in_both_lists_is_refused(tmp_path, toml, error):
    path = tmp_path / "trust.toml"
    path.write_text(toml)
    with pytest.raises(ValueError, match=error):
        trust_policies.allow_list(path)
