"""Resource policies the review lists: also those whose document is JSON text built with intrinsics (a Logs
resource policy, and the one the Transaction Search handler writes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from review import iam
from review.assembly import Stack

SPANS_POLICY = {
    "Fn::Join": [
        "",
        [
            '{"Statement":[{"Effect":"Allow","Principal":{"Service":"xray.amazonaws.com"},'
            '"Action":"logs:PutLogEvents","Resource":"arn:aws:logs:us-east-1:',
            {"Ref": "AWS::AccountId"},
            ':log-group:aws/spans:*"}]}',
        ],
    ]
}


def _stack(tmp_path: Path, resources: dict) -> Stack:
    path = tmp_path / "t.template.json"
    path.write_text(json.dumps({"Resources": resources}))
    return Stack("dev/Account", "dev-Account", "dev", "us-east-1", path, {})


@pytest.mark.parametrize(
    ("kind", "prop"),
    [("AWS::Logs::ResourcePolicy", "PolicyDocument"), ("Custom::TransactionSearch", "LogsPolicyDocument")],
)
def test_a_policy_document_joined_with_intrinsics_is_read(tmp_path, kind, prop):
    (policy,) = iam.policies(_stack(tmp_path, {"P": {"Type": kind, "Properties": {prop: SPANS_POLICY}}}))
    (statement,) = policy.statements
    assert policy.kind == "resource"
    assert statement.principals == ["Service:xray.amazonaws.com"]
    assert statement.actions == ["logs:PutLogEvents"]
    assert statement.resources == ["arn:aws:logs:us-east-1:${AWS::AccountId}:log-group:aws/spans:*"]


def test_a_document_that_is_no_json_lists_no_statement(tmp_path):
    broken = {"Fn::Join": ["", ["{not json", {"Ref": "AWS::AccountId"}]]}
    resources = {"P": {"Type": "AWS::Logs::ResourcePolicy", "Properties": {"PolicyDocument": broken}}}
    (policy,) = iam.policies(_stack(tmp_path, resources))
    assert policy.statements == []
