"""Every wildcard IAM grant of every stage and the pipeline is in stacks/iam_wildcards.toml, with a reason."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import aws_cdk as cdk
import pytest

from stacks import iam_wildcards
from tests.conftest import cdk_context
from tests.stacks.test_model_access import OPENAI
from tests.stacks.test_pipeline_stack import PIPELINE


@pytest.fixture(scope="module")
def wildcard_statements(tmp_path_factory) -> list[iam_wildcards.Statement]:
    """The wildcard Allow statements of every template: every stage (+ one on OpenAI), and the pipeline."""
    from app import build_app

    outdir = tmp_path_factory.mktemp("wildcards")
    context = {**copy.deepcopy(cdk_context()), "agentcore:pipeline": PIPELINE}
    # the optional features' grants are listed too: the OpenAI model, browser recordings
    context["agentcore:stages"]["openai"] = {**OPENAI, "browser_recording": True}
    app = cdk.App(context=context, outdir=str(outdir))
    build_app(app)
    found = []
    for artifact in app.synth().stacks_recursively:
        template = json.loads(Path(artifact.template_full_path).read_text())
        found += iam_wildcards.template_statements(
            artifact.hierarchical_id.split("/")[-1],
            template,
            region=artifact.environment.region,
            account=artifact.environment.account,
        )
    assert {artifact.stack_name for artifact in app.synth().stacks_recursively} >= {
        "dev-Runtime",
        "prod-Gateway",
        "openai-Runtime",
    }
    return found


def test_every_wildcard_statement_is_allow_listed(wildcard_statements):
    assert len(wildcard_statements) > 50
    assert [s.describe() for s in iam_wildcards.unlisted(wildcard_statements)] == []


def test_every_allow_list_entry_still_matches_a_statement(wildcard_statements):
    """A stale entry would silently allow a future wildcard of the same shape."""
    unused = [
        f"{e.policy}: {sorted(e.actions)}"
        for e in iam_wildcards.allow_list()
        if not any(e.matches(s) for s in wildcard_statements)
    ]
    assert unused == []


def test_a_new_wildcard_is_refused_even_where_a_similar_one_is_listed():
    template = {
        "Resources": {
            "RuntimeExecutionRoleDefaultPolicy2B020CFC": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [
                            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"},
                            {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
                            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/key"},
                        ]
                    }
                },
            }
        }
    }
    found = list(iam_wildcards.template_statements("Runtime", template, region="us-east-1", account="1"))
    assert [s.describe() for s in iam_wildcards.unlisted(found)] == [
        "Runtime/RuntimeExecutionRoleDefaultPolicy2B020CFC: ['s3:GetObject'] on ['*']"
    ]


def test_references_and_json_policy_strings_render_as_cdk_nag_names_them():
    properties = {
        "PolicyDocument": {
            "Fn::Join": [
                "",
                [
                    '{"Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"arn:aws:logs:us-east-1:',
                    {"Ref": "AWS::AccountId"},
                    ':log-group:x:*"}]}',
                ],
            ]
        },
        "Other": {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "lambda:InvokeFunction",
                    "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["Fn", "Arn"]}, ":*"]]},
                }
            ]
        },
    }
    found = iam_wildcards.statements("S/P", properties, region="us-east-1", account="x")
    assert {next(iter(s.resources)) for s in found} == {
        "arn:aws:logs:<AWS::Region>:<AWS::AccountId>:log-group:x:*",
        "<Fn.Arn>:*",
    }


def test_an_entry_without_a_real_reason_is_refused(tmp_path):
    path = tmp_path / "allow.toml"
    path.write_text('[[wildcard]]\npolicy = "S/P"\nactions = ["s3:*"]\nreason = "needed"\n')
    with pytest.raises(ValueError, match="needs a reason"):
        iam_wildcards.allow_list(path)


def test_a_reference_glob_matches_only_inside_a_reference():
    entry = iam_wildcards.Entry(
        "P",
        frozenset({"logs:PutLogEvents"}),
        frozenset({"arn:x:/aws/codebuild/<Pipeline*Smoke*>:*"}),
        "r" * 40,
    )
    ok = iam_wildcards.Statement(
        "P", entry.actions, frozenset({"arn:x:/aws/codebuild/<PipelinedevSmoke12AB>:*"})
    )
    wider = iam_wildcards.Statement("P", entry.actions, frozenset({"arn:x:/aws/codebuild/*"}))
    assert entry.matches(ok)
    assert not entry.matches(wider)
