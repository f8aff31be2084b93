"""Every template of every stage passes cfn-lint and the three cdk-nag packs, with scoped acknowledgments."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest

from app import new_app
from review import assembly
from stacks import compliance, iam_wildcards
from tests.conftest import ROOT, cdk_context

PACKS = {"AwsSolutions", "Serverless", "NIST.800.53.R5"}


def test_every_stage_is_synthesized(synthesized):
    assert set(synthesized.stages) == {"dev", "staging", "prod"}
    for stage in synthesized.stages:
        names = {artifact.stack_name for artifact in synthesized.stages[stage].synth().stacks}
        assert f"{stage}-Identity" in names


def test_cfn_lint_reports_no_errors_on_any_template(synthesized, reviewed):
    """cfn-lint over every template of every stage (the review's run: the CLI, per region, W3005 ignored)."""
    linted = {stack.id for report in reviewed.stages for stack in report.stacks}
    assert linted == {
        f"{stage}/{stack.removeprefix(stage + '-')}" for stage, stack, _ in synthesized.all_templates()
    }
    problems = [
        f"{finding.stack}: {finding.rule} {finding.message} ({finding.path})"
        for report in reviewed.stages
        for finding in report.lint
        if finding.rule[0] in "EW"
    ]
    assert problems == []


def test_nag_packs_find_nothing_unacknowledged_warnings_included(synthesized):
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    violations = [
        f"{v['ruleName']} @ {c['constructPath']}"
        for plugin in report["pluginReports"]
        for v in plugin.get("violations", [])
        for c in v["violatingConstructs"]
    ]
    assert violations == []


def test_the_packs_catch_a_violation(tmp_path):
    """The gate can fail: an unencrypted topic and an untraced function are reported by all three packs."""
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_sns as sns

    app = new_app(outdir=str(tmp_path))
    compliance.add_packs(app)
    probe = cdk.Stack(app, "Probe")
    sns.Topic(probe, "Unencrypted")
    lambda_.Function(
        probe,
        "Untraced",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.h",
        code=lambda_.Code.from_inline("def h(e, c): pass"),
    )
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert {plugin["pluginName"] for plugin in report["pluginReports"]} == PACKS


def test_every_acknowledgment_is_scoped_and_explained(synthesized):
    seen = 0
    for stage in synthesized.stages.values():
        stacks = {stack.node.path for stack in stage.node.children if isinstance(stack, cdk.Stack)}
        for path, rule, reason in compliance.acknowledgments(stage):
            seen += 1
            where = f"{rule} @ {path}"
            assert path not in stacks | {stage.node.path}, f"{where} is acknowledged for a whole stack"
            assert len(reason.strip()) >= compliance.MIN_REASON_CHARS, where
            assert rule.split("[")[0].rsplit("-", 1)[0] in PACKS, where
    assert seen > 0


def test_the_assembly_lists_every_acknowledgment_in_one_place(synthesized):
    """`compliance.assembly_acknowledgments(cdk.out)` is the one list a reviewer reads."""
    from_tree = {
        (f"/{path}", rule, reason)
        for stage in synthesized.stages.values()
        for path, rule, reason in compliance.acknowledgments(stage)
    }
    listed = set(compliance.assembly_acknowledgments(synthesized.outdir))
    assert listed == from_tree
    assert any(rule.startswith("AwsSolutions-IAM5[") for _, rule, _ in listed)


def _template_findings(template: dict, logical_id: str, region: str) -> set[str]:
    """The IAM5 finding ids a policy resource's wildcard statements produce (unlocalized)."""
    properties = template["Resources"][logical_id]["Properties"]
    found = iam_wildcards.statements("", properties, region=region, account="<AWS::AccountId>")
    return {finding for statement in found for finding in statement.findings}


def test_iam5_acknowledgments_name_findings_of_statements_that_exist(synthesized):
    """Exact findings: every IAM5 acknowledgment on a policy is a finding one of its statements produces.

    Read from the assembly (each acknowledgment is metadata of the policy's L1, beside its logical id)."""
    checked = 0
    for stage in assembly.load(synthesized.outdir):
        region, account = synthesized.stages[stage.name].config.region, "<AWS::AccountId>"
        for stack in stage.stacks:
            logical_ids = {path: logical_id for logical_id, path in stack.paths.items()}
            for path, entries in stack.metadata.items():
                rules = [rule for e in entries if e["type"] == compliance.ACKNOWLEDGED for rule in e["data"]]
                for rule in (r.removeprefix("Annotation::") for r in rules):
                    if not rule.startswith("AwsSolutions-IAM5["):
                        continue
                    finding = rule.removeprefix("AwsSolutions-IAM5[").removesuffix("]")
                    expected = {
                        f.replace(iam_wildcards.REGION, region).replace(iam_wildcards.ACCOUNT, account)
                        for f in _template_findings(stack.template, logical_ids[path], region)
                    }
                    assert finding in expected, f"{rule} @ {path}"
                    checked += 1
    assert checked > 20


def test_a_new_wildcard_statement_on_an_acknowledged_role_is_a_new_finding(tmp_path):
    """The runtime role's `Resource::*` is acknowledged for named statements; another one fails synth."""
    from aws_cdk import aws_iam as iam

    from app import ONLY_STAGE_KEY, build_app, new_app

    app = new_app(context={**cdk_context(), ONLY_STAGE_KEY: "dev"}, outdir=str(tmp_path))
    stages = build_app(app)
    stages[0].runtime.runtime.add_to_role_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"])
    )
    new_finding = r"AwsSolutions-IAM5: Runtime/RuntimeExecutionRole.*'s3:GetObject'.* is not in iam_wildcards"
    with pytest.raises(Exception, match=new_finding):
        app.synth()


def test_compliance_imports_no_stack():
    """Stacks import compliance to acknowledge their findings; compliance never imports a stack (no cycle)."""
    import ast

    tree = ast.parse((ROOT / "stacks" / "compliance.py").read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    names = {
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "stacks"
        for alias in node.names
    }
    assert names == {"stacks.iam_wildcards"}
    assert not any(name.startswith("stacks.") and name != "stacks.iam_wildcards" for name in imported)


@pytest.mark.parametrize("reason", ["", "needed", "   short reason with spaces    "])
def test_acknowledge_refuses_empty_or_trivial_reasons(reason):
    stack = cdk.Stack(cdk.App(), "S")
    construct = cdk.CfnResource(stack, "R", type="AWS::SNS::Topic")
    with pytest.raises(ValueError, match="reason"):
        compliance.acknowledge(construct, "AwsSolutions-SNS2", reason)


def test_acknowledge_refuses_stack_wide_scope():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ValueError, match="not on"):
        compliance.acknowledge(
            stack, "AwsSolutions-SNS2", "a long enough reason that would otherwise be accepted"
        )


def test_every_role_agentcore_assumes_is_bound_to_this_account_and_resource(synthesized):
    """Confused-deputy guard: no trust statement lets the service assume a role for another account."""
    checked = 0
    for _, stack, path in synthesized.all_templates():
        for name, resource in json.loads(path.read_text())["Resources"].items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            for statement in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
                if "bedrock-agentcore" not in json.dumps(statement.get("Principal", {})):
                    continue
                checked += 1
                condition = statement.get("Condition", {})
                assert "aws:SourceAccount" in condition.get("StringEquals", {}), f"{stack}/{name}"
                assert "aws:SourceArn" in condition.get("ArnLike", {}), f"{stack}/{name}"
    assert checked >= 15  # gateway, memory, runtime, browser, code interpreter in every stage
