"""Every template of every stage passes cfn-lint and the three cdk-nag packs, with scoped acknowledgments."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from cfnlint.api import lint

from stacks import compliance

PACKS = {"AwsSolutions", "Serverless", "NIST.800.53.R5"}
# W3005 (redundant DependsOn) is how CDK L2s make ordering explicit; it changes nothing at deploy time.
CFN_LINT_IGNORED = {"W3005"}


def test_every_stage_is_synthesized(synthesized):
    assert set(synthesized.stages) == {"dev", "staging", "prod"}
    for stage in synthesized.stages:
        names = {artifact.stack_name for artifact in synthesized.stages[stage].synth().stacks}
        assert f"{stage}-Identity" in names


def test_cfn_lint_reports_no_errors_on_any_template(synthesized):
    problems = []
    for stage, stack, path in synthesized.all_templates():
        region = synthesized.stages[stage].config.region
        matches = lint(path.read_text(), regions=[region])
        problems += [
            f"{stack}: {m.rule.id} {m.message} ({m.path})"
            for m in matches
            if m.rule.id[0] in "EW" and m.rule.id not in CFN_LINT_IGNORED
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

    app = cdk.App(outdir=str(tmp_path))
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


def _acknowledgments(stage: cdk.Stage):
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    for construct in stage.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                for rule, reason in entry.data.items():
                    yield construct, rule.removeprefix("Annotation::"), reason


def test_every_acknowledgment_is_scoped_and_explained(synthesized):
    seen = 0
    for stage in synthesized.stages.values():
        for construct, rule, reason in _acknowledgments(stage):
            seen += 1
            where = f"{rule} @ {construct.node.path}"
            assert not isinstance(construct, cdk.Stack | cdk.Stage), (
                f"{where} is acknowledged for a whole stack"
            )
            assert len(reason.strip()) >= compliance.MIN_REASON_CHARS, where
            assert rule.split("[")[0].rsplit("-", 1)[0] in PACKS, where
    assert seen > 0


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
