"""What the report says about the assembly: one section per concern, per stage, built from the model."""

from __future__ import annotations

import json

from review import diagram
from review.document import Cell, Details, Figure, Flag, Paragraph, Section, Table
from review.iam import Statement
from review.model import Review, StageReport


def _marked(values: list[str], flagged: list[str]) -> list[str | Flag]:
    return [Flag(v) if v in flagged else v for v in values]


def statement_row(statement: Statement) -> list[Cell]:
    return [
        statement.effect,
        _marked(statement.principals, statement.wildcard_principals),
        [Flag("NotAction"), *statement.actions] if statement.not_actions else
        _marked(statement.actions, statement.wildcard_actions),
        _marked(statement.resources, statement.wildcard_resources),
        statement.conditions,
    ]  # fmt: skip


STATEMENT_HEADERS = ["Effect", "Principal", "Actions", "Resources", "Conditions"]


def _anchor(*parts: str) -> str:
    return "-".join(p.replace("(", "").replace(")", "").replace("/", "-") for p in parts).lower()


def summary(review: Review) -> Section:
    rows: list[list[Cell]] = []
    for stage in review.stages:
        retained = sum(1 for r in stage.stateful if r.retained)
        wildcards = stage.wildcard_count
        rows.append(
            [
                stage.name,
                str(len(stage.stacks)),
                str(sum(s.resource_count for s in stage.stacks)),
                f"{retained}/{len(stage.stateful)} retained",
                str(len(stage.roles)),
                Flag(str(wildcards)) if wildcards else "0",
                str(len(stage.acknowledgments)),
                Flag(str(len(stage.lint))) if stage.lint else "0",
            ]
        )
    headers = ["Stage", "Stacks", "Resources", "Stateful", "Roles", "Wildcard statements", "Acknowledged",
               "cfn-lint findings"]  # fmt: skip
    return Section("Summary", "summary", [Table(headers, rows)])


def config_differences(review: Review) -> Section:
    stages = [stage.name for stage in review.stages if stage.name in _first(review.config_differences)]
    rows: list[list[Cell]] = [
        [key] + [json.dumps(values.get(stage)) for stage in stages]
        for key, values in review.config_differences.items()
    ]
    return Section(
        "Configuration differences between stages",
        "config",
        [
            Paragraph("From cdk.json through stacks/config.py (defaults applied)."),
            Table(["Setting", *stages], rows),
        ],
    )


def _first(differences: dict[str, dict[str, object]]) -> dict[str, object]:
    return next(iter(differences.values()), {})


def _stacks(stage: StageReport) -> Section:
    names = {s.id: s.name for s in stage.stacks}
    rows: list[list[Cell]] = [
        [
            s.name,
            s.id,
            s.description,
            str(s.resource_count),
            ", ".join(names.get(d, d) for d in s.dependencies),
        ]
        for s in stage.stacks
    ]
    blocks = [
        Table(["Stack", "Id", "Description", "Resources", "Deploys after"], rows),
        Figure(diagram.svg(stage.stacks), "\n".join(diagram.text(stage.stacks))),
    ]
    return Section(f"{stage.name}: stacks", _anchor(stage.name, "stacks"), blocks)


def _resources(stage: StageReport) -> Section:
    rows: list[list[Cell]] = [[kind, str(count)] for kind, count in sorted(stage.resource_types.items())]
    total = sum(stage.resource_types.values())
    folded = Details(f"{total} resources of {len(rows)} types", [Table(["Type", "Count"], rows)])
    return Section(f"{stage.name}: resources by type", _anchor(stage.name, "resources"), [folded])


def _outputs(stage: StageReport) -> Section:
    rows: list[list[Cell]] = [[o.stack, o.key, o.description, o.value] for o in stage.outputs]
    folded = Details(f"{len(rows)} outputs", [Table(["Stack", "Output", "Description", "Value"], rows)])
    return Section(f"{stage.name}: outputs", _anchor(stage.name, "outputs"), [folded])


def _stateful(stage: StageReport) -> Section:
    rows: list[list[Cell]] = [
        [
            r.type,
            r.path,
            r.deletion_policy if r.retained else Flag(r.deletion_policy),
            r.update_replace_policy if r.update_replace_policy != "Delete" else Flag(r.update_replace_policy),
            r.protection,
        ]
        for r in stage.stateful
    ]
    headers = ["Type", "Construct", "DeletionPolicy", "UpdateReplacePolicy", "Deletion protection"]
    return Section(
        f"{stage.name}: stateful resources", _anchor(stage.name, "stateful"), [Table(headers, rows)]
    )


def _iam(stage: StageReport) -> Section:
    blocks: list = []
    for stack, role in stage.roles:
        blocks.append(Paragraph(f"Role {role.path} ({stack}, {role.logical_id})"))
        rows = [["trust", *statement_row(s)] for s in role.trust]
        owner = role.path.removesuffix("/Resource") + "/"
        rows += [
            [f"{p.kind}: {p.name.removeprefix(owner)}", *statement_row(s)]
            for p in role.policies
            for s in p.statements
        ]
        rows += [["managed", "Allow", "", [arn], "", ""] for arn in role.managed_arns]
        blocks.append(Table(["Policy", *STATEMENT_HEADERS], rows))
    if stage.resource_policies:
        blocks.append(Paragraph("Resource policies and permissions"))
        rows = [
            [f"{p.kind}: {p.name} ({stack})", *statement_row(s)]
            for stack, p in stage.resource_policies
            for s in p.statements
        ]
        blocks.append(Table(["Policy", *STATEMENT_HEADERS], rows))
    summary = (
        f"{len(stage.roles)} roles, {len(stage.resource_policies)} resource policies and permissions; "
        f"{stage.wildcard_count} Allow statements with a wildcard (flagged)"
    )
    return Section(
        f"{stage.name}: IAM roles and policies", _anchor(stage.name, "iam"), [Details(summary, blocks)]
    )


def _acknowledgments(stage: StageReport) -> Section:
    rows: list[list[Cell]] = [[a.rule, a.construct, a.reason] for a in stage.acknowledgments]
    folded = Details(
        f"{len(rows)} acknowledgments: rule, construct, reason",
        [Table(["Rule", "Construct", "Reason"], rows)],
    )
    return Section(
        f"{stage.name}: cdk-nag acknowledgments ({len(rows)})",
        _anchor(stage.name, "acknowledgments"),
        [folded],
    )


def _lint(stage: StageReport) -> Section:
    rows: list[list[Cell]] = [[f.stack, Flag(f.level), f.rule, f.message, f.path] for f in stage.lint]
    blocks = (
        [Table(["Stack", "Level", "Rule", "Message", "Path"], rows)] if rows else [Paragraph("No findings.")]
    )
    return Section(f"{stage.name}: cfn-lint", _anchor(stage.name, "cfn-lint"), blocks)


def stage(report: StageReport) -> Section:
    children = [
        builder(report)
        for builder in (_stacks, _resources, _outputs, _stateful, _iam, _acknowledgments, _lint)
    ]
    return Section(f"Stage {report.name}", _anchor("stage", report.name), children=children)


def assembly_sections(review: Review) -> list[Section]:
    return [summary(review), config_differences(review)] + [stage(report) for report in review.stages]
