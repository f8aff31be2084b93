"""The change review's sections, in the order a reviewer must read them: data loss, security, the rest (the
engine's raw diff of each stack, folded)."""

from __future__ import annotations

from review.changes import LOSING, ChangeSet, StackChange, is_wildcard
from review.document import Cell, Code, Details, Flag, Paragraph, Section, Table
from review.iam import render_conditions
from review.iam_changes import BROADENING, BROADENS

SECURITY_HEADERS = ["Stack", "±", "Verdict", "Effect", "Principal", "Action", "Resource", "Condition"]
SECURITY_WIDTHS = [10, 3, 10, 6, 15, 17, 19, 20]


def _statement_rows(change: StackChange) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    added, removed = change.verdicts
    for sign, statements, verdicts in (
        ("+", change.statements_added, added),
        ("-", change.statements_removed, removed),
    ):
        for s, verdict in zip(statements, verdicts, strict=True):
            wild = verdict == BROADENS and s["effect"] == "Allow" and is_wildcard(s)

            def values(text: str, wild: bool = wild) -> list[str | Flag]:  # one per line, wildcards flagged
                return [Flag(v) if wild and "*" in v else v for v in text.splitlines()]

            conditions: list[str | Flag] = [*render_conditions(s["parsed"]["condition"]).split("; ")]
            verdict_cell: Cell = Flag(verdict) if verdict in BROADENING else verdict
            rows.append([change.stack, sign, verdict_cell, s["effect"], values(s["principal"]),
                         values(s["action"]), values(s["resource"]), conditions])  # fmt: skip
    for sign, arns in (
        ("+", change.raw["managedPoliciesAdded"]),
        ("-", change.raw["managedPoliciesRemoved"]),
    ):
        verdict: Cell = Flag(BROADENS) if sign == "+" else "removed"
        rows += [[change.stack, sign, verdict, "managed policy", "", "", str(arn), ""] for arn in arns]
    rows += [
        [change.stack, "~", Flag(what) if change.broadened else what, "", logical_id, "", "", ""]
        for what, logical_id in change.policy_documents_changed
    ]
    return rows


def security(changes: ChangeSet) -> Section:
    ordered = sorted(changes.stacks, key=lambda change: not change.broadened)  # broadenings first
    rows = [row for change in ordered for row in _statement_rows(change)]
    blocks: list = []
    broadened = [c.stack for c in changes.stacks if c.broadened]
    narrowed = [c.stack for c in changes.stacks if c.has_security_changes and not c.broadened]
    if broadened:
        blocks.append(Paragraph(f"Permissions broadened in: {', '.join(broadened)}."))
    if narrowed:
        blocks.append(Paragraph(f"Permissions only narrowed in: {', '.join(narrowed)}."))
    table = Table(SECURITY_HEADERS, rows, SECURITY_WIDTHS)
    blocks.append(table if rows else Paragraph("No security changes."))
    return Section("Security changes", "security-changes", blocks)


def gate(changes: ChangeSet, stack: StackChange, loss: dict) -> Cell:
    """Whether a stateful loss blocks the review, and how to accept it."""
    if any(blocked is loss for _, blocked in changes.blocking()):
        return Flag(f"blocked: retained stage (ALLOW_REPLACE={loss['logicalId']} to accept)")
    if stack.stage in changes.retained_stages:
        return "accepted by ALLOW_REPLACE"
    return "stage does not retain data"


def causes(loss: dict) -> str:
    return ", ".join(name for name, impact in loss["properties"].items() if impact in LOSING) or (
        "resource removed"
    )


def stateful(changes: ChangeSet) -> Section:
    rows: list[list[Cell]] = [
        [stack.stack, loss["logicalId"], loss["type"], Flag(LOSING[loss["impact"]]), causes(loss),
         gate(changes, stack, loss)]
        for stack in changes.stacks
        for loss in stack.stateful_losses
    ]  # fmt: skip
    headers = ["Stack", "Logical id", "Type", "Impact", "Caused by", "Gate"]
    block = Table(headers, rows) if rows else Paragraph("No stateful resource is replaced or deleted.")
    return Section("Stateful resources replaced or deleted", "stateful-changes", [block])


def _summary(stack: StackChange) -> str:
    count = len(stack.raw["resources"])
    return f"{stack.stack} ({stack.status})" + (f": {count} resource{'s' * (count != 1)}" if count else "")


def everything(changes: ChangeSet) -> Section:
    blocks: list = [Details(_summary(stack), [Code(stack.raw["text"].rstrip())]) for stack in changes.changed]
    if blocks:
        blocks.insert(
            0, Paragraph("What the CDK diff engine prints for each stack (as cdk diff does), folded.")
        )
    return Section("All changes by stage and stack", "all-changes", blocks or [Paragraph("No changes.")])


def change_sections(changes: ChangeSet, commit: str) -> list[Section]:
    changed = len(changes.changed)
    security_count = sum(1 for stack in changes.stacks if stack.has_security_changes)
    summary = Paragraph(
        f"Base {changes.base} ({commit[:12]}): {changed} of {len(changes.stacks)} stacks change, "
        f"{security_count} with security changes, {len(changes.blocking())} blocking stateful losses."
        if changed
        else f"Base {changes.base} ({commit[:12]}): no changes."
    )
    return [
        Section(
            f"Changes against {changes.base}",
            "changes",
            [summary],
            children=[stateful(changes), security(changes), everything(changes)],
        )
    ]
