"""The change review's sections, in the order a reviewer must read them: security, data loss, the rest."""

from __future__ import annotations

from review.changes import LOSING, ChangeSet, StackChange, is_wildcard
from review.document import Cell, Code, Flag, Paragraph, Section, Table


def _statement_rows(change: StackChange) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for sign, statements in (("+", change.statements_added), ("-", change.statements_removed)):
        for s in statements:
            wild = sign == "+" and s["effect"] == "Allow" and is_wildcard(s)
            mark = lambda text, w=wild: Flag(text) if w and "*" in text else text  # noqa: E731
            rows.append([change.stack, sign, s["effect"], mark(s["principal"]), mark(s["action"]),
                         mark(s["resource"]), s["condition"]])  # fmt: skip
    for sign, arns in (
        ("+", change.raw["managedPoliciesAdded"]),
        ("-", change.raw["managedPoliciesRemoved"]),
    ):
        rows += [[change.stack, sign, "managed policy", "", "", str(arn), ""] for arn in arns]
    rows += [
        [change.stack, "~", Flag(what), logical_id, "", "", ""]
        for what, logical_id in change.policy_documents_changed
    ]
    return rows


def security(changes: ChangeSet) -> Section:
    rows = [row for change in changes.stacks for row in _statement_rows(change)]
    broadened = [c.stack for c in changes.stacks if c.raw["permissionsBroadened"]]
    blocks: list = []
    if broadened:
        blocks.append(Paragraph(f"Permissions broadened in: {', '.join(broadened)}."))
    headers = ["Stack", "±", "Effect", "Principal", "Action", "Resource", "Condition"]
    blocks.append(Table(headers, rows) if rows else Paragraph("No security changes."))
    return Section("Security changes", "security-changes", blocks)


def stateful(changes: ChangeSet) -> Section:
    blocked = {(id(stack), loss["logicalId"]) for stack, loss in changes.blocking()}
    rows: list[list[Cell]] = []
    for stack in changes.stacks:
        for loss in stack.stateful_losses:
            causes = [name for name, impact in loss["properties"].items() if impact in LOSING]
            if (id(stack), loss["logicalId"]) in blocked:
                gate: Cell = Flag(f"blocked: retained stage (ALLOW_REPLACE={loss['logicalId']} to accept)")
            elif stack.stage in changes.retained_stages:
                gate = "accepted by ALLOW_REPLACE"
            else:
                gate = "stage does not retain data"
            rows.append([stack.stack, loss["logicalId"], loss["type"], Flag(LOSING[loss["impact"]]),
                         ", ".join(causes) or "resource removed", gate])  # fmt: skip
    headers = ["Stack", "Logical id", "Type", "Impact", "Caused by", "Gate"]
    block = Table(headers, rows) if rows else Paragraph("No stateful resource is replaced or deleted.")
    return Section("Stateful resources replaced or deleted", "stateful-changes", [block])


def everything(changes: ChangeSet) -> Section:
    blocks: list = []
    for stack in changes.changed:
        blocks += [Paragraph(f"{stack.stack} ({stack.status})"), Code(stack.raw["text"].rstrip())]
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
            children=[security(changes), stateful(changes), everything(changes)],
        )
    ]
