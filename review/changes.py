"""What a change does, stack by stack, from the CDK's own diff engine (review/diff.js), sorted by risk:
security changes first, then stateful resources replaced or deleted, then everything else."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from review.assembly import Stack, Stage
from review.iam_changes import BROADENING, BROADENS, verdicts
from review.readable import readable
from review.stateful import STATEFUL_TYPES

DIFF_SCRIPT = Path(__file__).with_name("diff.js")
# Impacts that lose (or detach) the data of a stateful resource.
LOSING = {"WILL_REPLACE": "replaced", "MAY_REPLACE": "may be replaced", "WILL_DESTROY": "deleted",
          "WILL_ORPHAN": "removed from the stack (orphaned)"}  # fmt: skip
POLICY_PROPERTIES = {"AWS::IAM::Role": "AssumeRolePolicyDocument", "AWS::KMS::Key": "KeyPolicy"}


class DiffError(RuntimeError):
    """The diff engine could not run; the message is one line for the operator."""


@dataclass
class StackChange:
    stage: str
    stack: str  # stack id, e.g. prod/Memory
    status: str  # added | removed | changed | unchanged
    raw: dict[str, Any]

    @property
    def statements_added(self) -> list[dict[str, str]]:
        return self.raw["statementsAdded"]

    @property
    def statements_removed(self) -> list[dict[str, str]]:
        return self.raw["statementsRemoved"]

    @cached_property
    def verdicts(self) -> tuple[list[str], list[str]]:
        """review/iam_changes.py's verdict on each added and each removed statement."""
        return verdicts(self.statements_added, self.statements_removed)

    @property
    def broadened(self) -> bool:
        """Some access is new: an added statement allows what no removed one did, a Deny went, a managed
        policy or security group rule was added."""
        added, removed = self.verdicts
        return bool(
            any(v in BROADENING for v in added + removed)
            or self.raw["managedPoliciesAdded"] or self.raw["securityGroupRulesAdded"]
        )  # fmt: skip

    @property
    def new_wildcards(self) -> list[dict[str, str]]:
        added, _ = self.verdicts
        pairs = zip(self.statements_added, added, strict=True)
        return [s for s, verdict in pairs if verdict == BROADENS and is_wildcard(s)]

    @property
    def policy_documents_changed(self) -> list[tuple[str, str]]:
        """(what, logical id) for every trust policy and key policy the change touches."""
        found = []
        for resource in self.raw["resources"]:
            prop = POLICY_PROPERTIES.get(resource["type"] or "")
            if prop and (prop in resource["properties"] or resource["added"] or resource["removed"]):
                what = "trust policy" if prop == "AssumeRolePolicyDocument" else "key policy"
                state = "added" if resource["added"] else "removed" if resource["removed"] else "changed"
                found.append((f"{what} {state}", resource["logicalId"]))
        return found

    @property
    def has_security_changes(self) -> bool:
        raw = self.raw
        return bool(
            raw["statementsAdded"] or raw["statementsRemoved"] or raw["managedPoliciesAdded"]
            or raw["managedPoliciesRemoved"] or self.policy_documents_changed
        )  # fmt: skip

    @property
    def stateful_losses(self) -> list[dict[str, Any]]:
        return [r for r in self.raw["resources"] if r["type"] in STATEFUL_TYPES and r["impact"] in LOSING]


@dataclass
class ChangeSet:
    base: str
    stacks: list[StackChange]
    retained_stages: set[str] = field(default_factory=set)
    allowed: set[str] = field(default_factory=set)

    @property
    def changed(self) -> list[StackChange]:
        return [s for s in self.stacks if s.status != "unchanged"]

    def blocking(self) -> list[tuple[StackChange, dict[str, Any]]]:
        """Stateful losses in a retained stage that ALLOW_REPLACE does not acknowledge."""
        return [
            (stack, loss)
            for stack in self.stacks
            if stack.stage in self.retained_stages
            for loss in stack.stateful_losses
            if not {loss["logicalId"], f"{stack.stack}/{loss['logicalId']}"} & self.allowed
        ]


def is_wildcard(statement: dict[str, str]) -> bool:
    return any("*" in statement.get(key, "") for key in ("action", "resource", "principal"))


def _pairs(base: list[Stage], head: list[Stage]) -> list[tuple[str, str, Stack | None, Stack | None]]:
    old = {(stage.name, stack.id): stack for stage in base for stack in stage.stacks}
    new = {(stage.name, stack.id): stack for stage in head for stack in stage.stacks}
    keys = list(new) + [key for key in old if key not in new]
    return [
        (stage, stack_id, old.get((stage, stack_id)), new.get((stage, stack_id))) for stage, stack_id in keys
    ]


def _readable_copy(stack: Stack | None, path: Path) -> str | None:
    if stack is None:
        return None
    path.write_text(json.dumps(readable(stack.template)))
    return str(path)


def diff(base: list[Stage], head: list[Stage], base_ref: str) -> ChangeSet:
    """Every stack of either assembly through the diff engine (one Node process for all of them), each
    template as review/readable.py leaves it."""
    pairs = _pairs(base, head)
    with tempfile.TemporaryDirectory(prefix="review-diff-") as scratch:
        request = [
            {
                "id": stack_id,
                "old": _readable_copy(old, Path(scratch, f"{index}.old.json")),
                "new": _readable_copy(new, Path(scratch, f"{index}.new.json")),
                "paths": {**(old.paths if old else {}), **(new.paths if new else {})},
            }
            for index, (_, stack_id, old, new) in enumerate(pairs)
        ]
        Path(scratch, "request.json").write_text(json.dumps(request))
        command = ["node", str(DIFF_SCRIPT), str(Path(scratch, "request.json"))]
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip() and "!!" not in line]
        raise DiffError(f"cloudformation-diff failed: {lines[-1] if lines else 'no output'}")
    stacks = []
    for (stage, stack_id, old, new), raw in zip(pairs, json.loads(result.stdout), strict=True):
        status = "added" if old is None else "removed" if new is None else "changed"
        stacks.append(StackChange(stage, stack_id, "unchanged" if raw["empty"] else status, raw))
    return ChangeSet(base_ref, stacks)
