"""Collects everything the report shows, per stage, from the assembly (the renderers only format this)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from review import acknowledgments, assembly, iam, stateful
from review.intrinsics import render
from review.lint import Finding, LintRun


@dataclass
class Output:
    stack: str
    key: str
    description: str
    value: str


@dataclass
class StackSummary:
    id: str
    name: str
    description: str
    resource_count: int
    dependencies: list[str]
    types: Counter[str]


@dataclass
class StageReport:
    name: str
    stacks: list[StackSummary]
    resource_types: Counter[str]
    outputs: list[Output]
    stateful: list[stateful.StatefulResource]
    roles: list[tuple[str, iam.Role]]  # (stack id, role)
    resource_policies: list[tuple[str, iam.Policy]]
    acknowledgments: list[acknowledgments.Acknowledgment]
    lint: list[Finding] = field(default_factory=list)

    @property
    def wildcard_count(self) -> int:
        statements = [s for _, role in self.roles for p in role.policies for s in p.statements]
        statements += [s for _, policy in self.resource_policies for s in policy.statements]
        return sum(1 for s in statements if s.has_wildcard)


@dataclass
class Review:
    stages: list[StageReport]
    config_differences: dict[str, dict[str, Any]]
    cdk_out: Path


def _outputs(stack: assembly.Stack) -> list[Output]:
    return [
        Output(stack.id, key, output.get("Description", ""), render(output.get("Value")))
        for key, output in stack.template.get("Outputs", {}).items()
        if not key.startswith("PublishOutput")  # CDK's weak cross-stack references, not operator outputs
    ]


def _stage(stage: assembly.Stage) -> StageReport:
    summaries, types, outputs, found_stateful, roles, resource_policies, acks = (
        [],
        Counter(),
        [],
        [],
        [],
        [],
        [],
    )
    for stack in stage.stacks:
        stack_types = Counter(r.get("Type", "?") for r in stack.resources.values())
        stack_types.pop("AWS::CDK::Metadata", None)
        types.update(stack_types)
        summaries.append(
            StackSummary(
                stack.id,
                stack.name,
                stack.template.get("Description", ""),
                sum(stack_types.values()),
                stack.dependencies,
                stack_types,
            )
        )
        outputs += _outputs(stack)
        found_stateful += stateful.stateful_resources(stack)
        roles += [(stack.id, role) for role in iam.roles(stack)]
        resource_policies += [
            (stack.id, policy) for policy in iam.policies(stack) if policy.kind in ("resource", "permission")
        ]
        acks += acknowledgments.acknowledgments(stack)
    return StageReport(stage.name, summaries, types, outputs, found_stateful, roles, resource_policies, acks)


def collect(cdk_out: Path, config_differences: Callable[[], dict[str, dict[str, Any]]]) -> Review:
    """The review of one assembly; cfn-lint runs in the background while the rest is read."""
    stages = assembly.load(cdk_out)
    lint = LintRun(stages)
    differences = config_differences()
    reports = [_stage(stage) for stage in stages]
    findings = lint.findings()
    for report in reports:
        ids = {stack.id for stack in report.stacks}
        report.lint = [finding for finding in findings if finding.stack in ids]
    return Review(reports, differences, cdk_out)
