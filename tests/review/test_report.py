"""`make review` over this repository's own assembly: every stack, role and acknowledgment is reported."""

from __future__ import annotations

import json
import re

import aws_cdk as cdk

from review import assembly
from review.__main__ import main
from review.lint import LintRun
from review.markdown import escape
from tests.conftest import ROOT


def _constructs(synthesized):
    for stage in synthesized.stages.values():
        yield from stage.node.find_all()


def _cfn_of_type(synthesized, cfn_type):
    return [
        "/" + c.node.path
        for c in _constructs(synthesized)
        if cdk.CfnResource.is_cfn_resource(c) and c.cfn_resource_type == cfn_type
    ]


def test_every_stack_of_every_stage_is_listed(synthesized, report):
    markdown, page = report
    names = [a.stack_name for stage in synthesized.stages.values() for a in stage.synth().stacks]
    assert len(names) >= 15
    for name in names:
        assert f"| {name} |" in markdown
        assert f">{name}<" in page


def test_every_role_is_listed_with_its_trust_policy(synthesized, report):
    markdown, _ = report
    roles = _cfn_of_type(synthesized, "AWS::IAM::Role")  # from the construct tree, not the templates
    assert len(roles) > 20
    for path in roles:
        assert f"Role {path} (" in markdown
    assert markdown.count("| trust | Allow |") >= len(roles)


def test_every_acknowledgment_is_listed_with_rule_construct_and_reason(synthesized, report):
    markdown, _ = report
    acknowledged = [
        (c.node.path, rule.removeprefix("Annotation::"), reason)
        for c in _constructs(synthesized)
        for entry in c.node.metadata
        if entry.type == "aws:cdk:acknowledged-rules"
        for rule, reason in entry.data.items()
    ]
    assert len(acknowledged) > 200
    for path, rule, reason in acknowledged:
        row = f"| {escape(rule)} | /{path} | {escape(reason)} |"
        assert row in markdown, row
    stages = assembly.load(synthesized.outdir)
    assert markdown.count("acknowledgments (") == len(stages)


def test_stateful_resources_show_removal_policy_per_stage(report):
    markdown, _ = report
    prod = markdown.split("### prod: stateful resources", 1)[1].split("###", 1)[0]
    dev = markdown.split("### dev: stateful resources", 1)[1].split("###", 1)[0]
    for kind in ("AWS::BedrockAgentCore::Memory", "AWS::Cognito::UserPool", "AWS::DynamoDB::GlobalTable",
                 "AWS::ECR::Repository", "AWS::KMS::Key", "AWS::Logs::LogGroup"):  # fmt: skip
        assert kind in prod and kind in dev
    assert "⚠️ **Delete**" not in prod
    assert "| Retain | Retain | DeletionProtection=ACTIVE |" in prod
    memory_row = next(line for line in dev.splitlines() if "AWS::BedrockAgentCore::Memory" in line)
    assert "⚠️ **Delete**" in memory_row


def test_wildcards_are_flagged(report):
    markdown, page = report
    assert "⚠️ **\\*** |" in markdown  # a Resource "*" (e.g. X-Ray, ECR auth token) is flagged
    assert '<span class="flag">*</span>' in page


def test_configuration_differences_between_stages(report):
    markdown, _ = report
    assert '| removal | "destroy" | "destroy" | "retain" |' in markdown
    assert '| mfa | "optional" | "optional" | "required" |' in markdown
    assert "| model_id |" not in markdown  # the same in every stage


def test_outputs_and_resource_types(report):
    markdown, _ = report
    assert "| prod/Runtime | InvocationUrl |" in markdown
    assert "| AWS::BedrockAgentCore::Runtime | 1 |" in markdown


def test_cfn_lint_findings_are_reported(tmp_path, synthesized):
    """A template with an unknown property shows up as a finding of its stack."""
    stage = assembly.load(synthesized.outdir)[0]
    stack = stage.stacks[0]
    template = json.loads(stack.template_path.read_text())
    next(iter(template["Resources"].values()))["Properties"] = {"NoSuchProperty": 1}
    stack.template_path = tmp_path / "broken.template.json"
    stack.template_path.write_text(json.dumps(template))
    findings = LintRun([assembly.Stage(stage.name, [stack])]).findings()
    assert [(f.stack, f.rule) for f in findings if "NoSuchProperty" in f.message] == [(stack.id, "E3002")]


def test_a_missing_assembly_is_one_line(tmp_path, capsys):
    assert main(["--cdk-out", str(tmp_path / "nowhere"), "--cdk-json", str(ROOT / "cdk.json")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_html_loads_nothing(report):
    """No script, stylesheet, image or link that leaves the page: every href is an in-page anchor."""
    _, page = report
    for tag in ("<script", "<link", "<img", "<iframe", " src=", "url(http"):
        assert tag not in page
    assert re.findall(r'href="([^#][^"]*)"', page) == []
