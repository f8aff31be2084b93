"""Every IAM statement granting with a wildcard, and the allow-list (`iam_wildcards.toml`) explaining it.

A statement "has a wildcard" when one of its actions or resources contains `*`. Each such Allow statement
in every template must match one allow-list entry exactly: the policy it is in, its actions and its
wildcard resources. Deny statements are not listed (a wildcard there only takes permissions away).

Templates are rendered the way cdk-nag names its AwsSolutions-IAM5 findings (`<LogicalId.Arn>` for a
reference), with the stack's own region and account written `<AWS::Region>` / `<AWS::AccountId>`, so one
entry covers every stage.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ALLOW_LIST = Path(__file__).resolve().parent / "iam_wildcards.toml"
REGION, ACCOUNT = "<AWS::Region>", "<AWS::AccountId>"
# In an entry: the account of a stage the statement's stack acts on (the pipeline's post-deploy checks), which
# the user chooses: the stack's own account or any other.
STAGE_ACCOUNT = "<StageAccountId>"


@dataclass(frozen=True)
class Statement:
    """One Allow statement with a wildcard, located by `<stack id>/<logical id>` of its resource."""

    policy: str
    actions: frozenset[str]
    resources: frozenset[str]  # only the resources that contain a wildcard

    @property
    def findings(self) -> list[str]:
        """The AwsSolutions-IAM5 finding ids cdk-nag reports for this statement (before localizing)."""
        wild_actions = sorted(a for a in self.actions if "*" in a)
        return [f"Action::{a}" for a in wild_actions] + [f"Resource::{r}" for r in sorted(self.resources)]

    def describe(self) -> str:
        return f"{self.policy}: {sorted(self.actions)} on {sorted(self.resources) or 'named resources'}"


@dataclass(frozen=True)
class Entry:
    """One allow-list entry: `policy` may be a glob (e.g. every key's default key policy)."""

    policy: str
    actions: frozenset[str]
    resources: frozenset[str]
    reason: str

    def matches(self, statement: Statement) -> bool:
        return (
            fnmatch.fnmatchcase(statement.policy, self.policy)
            and statement.actions == self.actions
            and len(statement.resources) == len(self.resources)
            and all(any(_resource(p).fullmatch(r) for r in statement.resources) for p in self.resources)
        )


@functools.cache
def _resource(pattern: str) -> re.Pattern[str]:
    """An entry's resource: literal, except that `*` inside a `<LogicalId>` reference matches an id part
    (logical ids carry the stage name and a hash), and `<StageAccountId>` matches the stack's own account or
    a 12-digit one; a `*` anywhere else is the statement's own wildcard."""
    parts = re.split(r"(<[^>]*>)", pattern)
    return re.compile(
        "".join(
            f"(?:{re.escape(ACCOUNT)}|[0-9]{{12}})"
            if part == STAGE_ACCOUNT
            else ".".join(re.escape(piece).replace(r"\*", "[A-Za-z0-9]*") for piece in part.split("."))
            if part.startswith("<")
            else re.escape(part)
            for part in parts
        )
    )


def render(value: Any) -> str:
    """A CloudFormation value as cdk-nag prints it: literals as is, references as `<Id>` / `<Id.Attr>`."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            attribute = value["Fn::GetAtt"]
            return f"<{'.'.join(attribute) if isinstance(attribute, list) else attribute}>"
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(render(part) for part in parts)
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            return re.sub(r"\$\{([^}]+)\}", r"<\1>", value["Fn::Sub"])
        if "Fn::ImportValue" in value:
            return f"<{render(value['Fn::ImportValue'])}>"
    return json.dumps(value, sort_keys=True)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _documents(value: Any) -> Iterator[Mapping[str, Any]]:
    """Every policy document anywhere in a resource's properties (also JSON-encoded ones)."""
    if isinstance(value, Mapping):
        if isinstance(value.get("Statement"), list):
            yield value
            return
        if "Fn::Join" in value:  # a JSON policy string with references in it (e.g. resource policies)
            yield from _documents(render(value))
            return
        for child in value.values():
            yield from _documents(child)
    elif isinstance(value, list):
        for child in value:
            yield from _documents(child)
    elif isinstance(value, str) and value.lstrip().startswith("{") and '"Statement"' in value:
        try:
            yield from _documents(json.loads(value))
        except json.JSONDecodeError:
            return


def statements(policy: str, document: Any, *, region: str, account: str) -> list[Statement]:
    """The wildcard Allow statements of one resolved policy document (or a resource's properties)."""

    def local(text: str) -> str:
        text = text.replace(f":{region}:", f":{REGION}:").replace(f"-{region}", f"-{REGION}")
        return text.replace(account, ACCOUNT) if account.isdigit() else text

    found = []
    for doc in _documents(document):
        for statement in doc["Statement"]:
            if statement.get("Effect") != "Allow":
                continue
            actions = frozenset(render(a) for a in _as_list(statement.get("Action", [])))
            resources = [local(render(r)) for r in _as_list(statement.get("Resource", []))]
            wild = frozenset(r for r in resources if "*" in r)
            if wild or any("*" in a for a in actions):
                found.append(Statement(policy, actions, wild))
    return found


def template_statements(
    stack_id: str, template: Mapping[str, Any], *, region: str, account: str
) -> Iterator[Statement]:
    """Every wildcard Allow statement of one synthesized template."""
    for logical_id, resource in template.get("Resources", {}).items():
        yield from statements(
            f"{stack_id}/{logical_id}", resource.get("Properties", {}), region=region, account=account
        )


@functools.cache
def allow_list(path: Path = ALLOW_LIST) -> tuple[Entry, ...]:
    """The reviewed wildcard statements; refuses an entry without a real reason."""
    entries = []
    for raw in tomllib.loads(path.read_text())["wildcard"]:
        entry = Entry(raw["policy"], frozenset(raw["actions"]), frozenset(raw.get("resources", [])),
                      raw["reason"].strip())  # fmt: skip
        if len(entry.reason) < 40:
            raise ValueError(f"{path.name}: entry for {entry.policy} needs a reason a reviewer would accept")
        entries.append(entry)
    return tuple(entries)


def unlisted(found: list[Statement], entries: tuple[Entry, ...] | None = None) -> list[Statement]:
    """Statements no allow-list entry covers."""
    entries = allow_list() if entries is None else entries
    return [s for s in found if not any(e.matches(s) for e in entries)]


def entry_for(statement: Statement) -> Entry | None:
    """The allow-list entry that explains one statement, if any."""
    return next((e for e in allow_list() if e.matches(statement)), None)
