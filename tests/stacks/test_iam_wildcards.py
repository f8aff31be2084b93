"""Every wildcard IAM grant of every stage and the pipeline is in stacks/iam_wildcards.toml, with a reason."""

from __future__ import annotations

import pytest

from stacks import iam_wildcards


@pytest.fixture(scope="module")
def wildcard_statements(every_template) -> list[iam_wildcards.Statement]:
    """The wildcard Allow statements of every template: every stage (+ one on OpenAI), and the pipeline."""
    assert {t.stack_name for t in every_template} >= {"dev-Runtime", "prod-Gateway", "openai-Runtime"}
    return [
        statement
        for t in every_template
        for statement in iam_wildcards.template_statements(
            t.stack_id, t.template, region=t.region, account=t.account
        )
    ]


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


def test_a_stage_account_placeholder_matches_an_account_and_nothing_wider():
    entry = iam_wildcards.Entry(
        "P",
        frozenset({"cognito-idp:AdminCreateUser"}),
        frozenset({"arn:aws:cognito-idp:<AWS::Region>:<StageAccountId>:userpool/*"}),
        "r" * 40,
    )

    def statement(account: str) -> iam_wildcards.Statement:
        return iam_wildcards.Statement(
            "P", entry.actions, frozenset({f"arn:aws:cognito-idp:<AWS::Region>:{account}:userpool/*"})
        )

    assert entry.matches(statement("<AWS::AccountId>")) and entry.matches(statement("210987654321"))
    assert not entry.matches(statement("*")) and not entry.matches(statement("21098765432"))
