"""The report's first section: what the reviewer must decide, blocking findings first, in a few lines.

Everything below it is the evidence; this section only says what needs a decision and where to look, so it
fits on the first screen however large the change is.
"""

from __future__ import annotations

from review.change_sections import causes
from review.changes import LOSING, ChangeSet, StackChange
from review.document import Cell, Flag, Items, Paragraph, Section
from review.iam_changes import BROADENS
from review.model import Review

TITLE = "Decision summary"
SHOWN = 6  # stacks named in one line; the rest are counted


def _names(names: list[str]) -> str:
    more = len(names) - SHOWN
    return ", ".join(names[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def _broadened(stack: StackChange) -> str:
    added, _ = stack.verdicts
    count = sum(1 for v in added if v == BROADENS)
    wild = len(stack.new_wildcards)
    return f"{stack.stack} ({count} new" + (f", {wild} with a wildcard)" if wild else ")")


def _change_items(changes: ChangeSet) -> list[Cell]:
    items: list[Cell] = []
    blocking = changes.blocking()
    for stack, loss in blocking:
        items.append(Flag(
            f"Blocked: {stack.stack} would have {loss['type']} {loss['logicalId']} {LOSING[loss['impact']]} "
            f"({causes(loss)}) in retained stage {stack.stage}. Keep the resource, or accept the data loss "
            f"with ALLOW_REPLACE={loss['logicalId']}."
        ))  # fmt: skip
    others = [
        f"{stack.stack}: {loss['logicalId']} {LOSING[loss['impact']]}"
        for stack in changes.stacks
        for loss in stack.stateful_losses
        if not any(loss is blocked for _, blocked in blocking)
    ]
    if others:
        items.append(f"Stateful resources replaced or deleted where the stage keeps no data or "
                     f"ALLOW_REPLACE accepts it: {_names(others)}.")  # fmt: skip
    broadened = [stack for stack in changes.stacks if stack.broadened]
    if broadened:
        items.append(Flag(
            f"Permissions broadened in {_names([_broadened(s) for s in broadened])}: check each statement "
            "marked 'broadens' under Security changes."
        ))  # fmt: skip
    narrowed = [s.stack for s in changes.stacks if s.has_security_changes and not s.broadened]
    if narrowed:
        items.append(f"Permissions only narrowed in {_names(narrowed)}: each added statement allows no more "
                     "than the statements it replaces.")  # fmt: skip
    if not blocking and not broadened:
        items.append("No blocking data loss and no broadened permission.")
    changed = len(changes.changed)
    items.append(f"{changed} of {len(changes.stacks)} stacks change; each stack's raw diff is folded under "
                 "All changes by stage and stack.")  # fmt: skip
    return items


def decision(review: Review, changes: ChangeSet | None) -> Section:
    """Blocking data loss, broadened permissions, narrowed ones, lint findings; without a base, the
    assembly's own figures."""
    items = _change_items(changes) if changes is not None else []
    findings = sum(len(stage.lint) for stage in review.stages)
    if findings:
        items.append(Flag(f"cfn-lint: {findings} findings (per stage under cfn-lint)."))
    if changes is not None:
        return Section(TITLE, "decision", [Items(items)])
    wildcards = ", ".join(f"{stage.name} {stage.wildcard_count}" for stage in review.stages)
    items.append(f"Allow statements with a wildcard, per stage: {wildcards} (listed under IAM roles).")
    hint = Paragraph("The assembly alone: make review BASE=main also reports what a change does.")
    return Section(TITLE, "decision", [Items(items), hint])
