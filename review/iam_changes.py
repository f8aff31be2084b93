"""Whether a change broadens or narrows permissions, statement by statement.

Why not the diff engine's `permissionsBroadened`: it is true for any added Allow statement, so a statement
that only gains a condition (removed, then added back narrower) reads as a broadening. Here an added Allow
statement is narrower when the removed Allow statements already allowed all it allows: each principal,
action and resource it names is matched by a removed statement whose conditions its own conditions imply.
A Deny is the mirror image: a removed Deny is covered when added Deny statements deny at least as much. What
cannot be shown to be narrower (an intrinsic statement, a `NotAction` against a list, a changed numeric
condition) counts as a broadening: the check errs towards asking the reviewer.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from review.intrinsics import as_list

BROADENS = "broadens"
UNREADABLE = "cannot tell (an intrinsic statement)"
NARROWER = "narrower than what it replaces"
REMOVED = "removed"
DENIES = "denies more"
WIDER_DENY = "replaced by a wider Deny"
BROADENING = (BROADENS, UNREADABLE)

Conditions = dict[tuple[str, str], frozenset[str]]  # (operator, key in lower case) -> values


@dataclass(frozen=True)
class Targets:
    values: tuple[str, ...]
    negated: bool  # NotAction / NotResource / NotPrincipal: everything but the values


@dataclass(frozen=True)
class Grant:
    """One statement as the engine read it (its `parsed` form, intrinsics rendered as `${Name}`)."""

    effect: str  # Allow | Deny | Unknown (an intrinsic statement)
    principals: Targets
    actions: Targets
    resources: Targets
    conditions: Conditions

    @classmethod
    def of(cls, statement: dict[str, Any]) -> Grant:
        parsed = statement["parsed"]
        targets = {
            name: Targets(tuple(parsed[name]["values"]), parsed[name]["not"])
            for name in ("principals", "actions", "resources")
        }
        return cls(parsed["effect"], conditions=_conditions(parsed.get("condition")), **targets)


def _conditions(raw: Any) -> Conditions:
    if not isinstance(raw, dict):
        return {}
    return {
        (operator, key.lower()): frozenset(json.dumps(v, sort_keys=True) for v in as_list(values))
        for operator, tests in raw.items()
        if isinstance(tests, dict)
        for key, values in tests.items()
    }


def _matches(pattern: str, value: str, fold: bool) -> bool:
    """Whether `pattern` matches every string `value` stands for (both IAM globs: `*`, `?`)."""
    regex = "".join(".*" if c == "*" else "[^*]" if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if fold else 0) is not None


def _covers(wide: Targets, narrow: Targets, fold: bool) -> bool:
    if not wide.negated and not narrow.negated:
        return all(any(_matches(w, v, fold) for w in wide.values) for v in narrow.values)
    if wide.negated and narrow.negated:  # all but W holds all but N when N excludes all W excludes
        return all(any(_matches(n, w, fold) for n in narrow.values) for w in wide.values)
    if wide.negated:  # all but W holds each plain value W does not match (a glob might overlap W: no)
        return all("*" not in v and "?" not in v and not any(_matches(w, v, fold) for w in wide.values)
                   for v in narrow.values)  # fmt: skip
    return "*" in wide.values


def _implied(narrow: frozenset[str] | None, wide: frozenset[str], operator: str) -> bool:
    if narrow is None:
        return False
    operator = operator.split(":")[-1]  # without ForAllValues: / ForAnyValue:
    if operator.startswith(("Numeric", "Date", "Bool", "Null")):
        return narrow == wide
    if "Not" in operator:  # StringNotEquals, ArnNotLike, NotIpAddress: excluding more values narrows
        return narrow >= wide
    return narrow <= wide  # StringEquals, ArnLike, IpAddress: allowing fewer values narrows


def _implies(narrow: Conditions, wide: Conditions) -> bool:
    """Whether every request that `narrow`'s conditions let through, `wide`'s let through too."""
    return all(_implied(narrow.get(test), values, test[0]) for test, values in wide.items())


def _units(grant: Grant) -> list[Grant]:
    """The grant split into one principal, action and resource each (a negated list stays whole)."""

    def split(targets: Targets) -> list[Targets]:
        if targets.negated or not targets.values:
            return [targets]
        return [Targets((value,), False) for value in targets.values]

    dimensions = (split(grant.principals), split(grant.actions), split(grant.resources))
    units = itertools.product(*dimensions)
    return [replace(grant, principals=p, actions=a, resources=r) for p, a, r in units]


def _holds(wide: Grant, narrow: Grant) -> bool:
    return (
        wide.effect == narrow.effect
        and _covers(wide.principals, narrow.principals, fold=False)
        and _covers(wide.actions, narrow.actions, fold=True)  # action names are case-insensitive
        and _covers(wide.resources, narrow.resources, fold=False)
        and _implies(narrow.conditions, wide.conditions)
    )


def covered(narrow: Grant, wide: list[Grant]) -> bool:
    """Whether the `wide` statements together hold all that `narrow` does."""
    return all(any(_holds(w, unit) for w in wide) for unit in _units(narrow))


def verdicts(added: list[dict[str, Any]], removed: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """A verdict for each added and each removed statement (the engine's dicts, in order)."""
    new, old = [Grant.of(s) for s in added], [Grant.of(s) for s in removed]
    old_allows = [g for g in old if g.effect == "Allow"]
    new_denies = [g for g in new if g.effect == "Deny"]

    def of_added(grant: Grant) -> str:
        if grant.effect == "Deny":
            return DENIES
        if grant.effect == "Allow":
            return NARROWER if covered(grant, old_allows) else BROADENS
        return UNREADABLE

    def of_removed(grant: Grant) -> str:
        if grant.effect == "Allow":
            return REMOVED
        if grant.effect == "Deny":
            return WIDER_DENY if covered(grant, new_denies) else BROADENS
        return UNREADABLE

    return [of_added(g) for g in new], [of_removed(g) for g in old]
