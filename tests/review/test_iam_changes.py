"""Narrowing is never called broadening: each added or removed statement is judged against what it replaces.

Statements are given in the form the CDK diff engine hands review/iam_changes.py (its `parsed` view).
"""

from __future__ import annotations

import pytest

from review.iam_changes import BROADENS, DENIES, NARROWER, REMOVED, UNREADABLE, WIDER_DENY, verdicts

ROLE = "AWS:${AgentRole}"


def statement(
    actions, resources, *, effect="Allow", principals=(ROLE,), condition=None, not_actions=False
) -> dict:
    def targets(values, negated=False):
        return {"values": list(values), "not": negated}

    parsed = {
        "effect": effect,
        "principals": targets(principals),
        "actions": targets(actions, not_actions),
        "resources": targets(resources),
    }
    if condition is not None:
        parsed["condition"] = condition
    return {"parsed": parsed}


BASE = statement(["s3:GetObject", "s3:PutObject"], ["arn:aws:s3:::bucket/*"])
ACCOUNT = {"StringEquals": {"aws:SourceAccount": "111122223333"}}


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(
            statement(["s3:GetObject", "s3:PutObject"], ["arn:aws:s3:::bucket/*"], condition=ACCOUNT),
            id="added-condition",
        ),
        pytest.param(statement(["s3:GetObject"], ["arn:aws:s3:::bucket/*"]), id="removed-action"),
        pytest.param(statement(["s3:GetObject"], ["arn:aws:s3:::bucket/reports/*"]), id="narrower-resource"),
        pytest.param(statement(["S3:getobject"], ["arn:aws:s3:::bucket/*"]), id="action-case-ignored"),
    ],
)
def test_a_statement_that_allows_less_than_the_one_it_replaces_is_narrower(head):
    assert verdicts([head], [BASE]) == ([NARROWER], [REMOVED])


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(
            statement(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], ["arn:aws:s3:::bucket/*"]),
            id="added-action",
        ),
        pytest.param(statement(["s3:GetObject"], ["arn:aws:s3:::*"]), id="wider-resource"),
        pytest.param(statement(["s3:*"], ["arn:aws:s3:::bucket/*"]), id="action-wildcard"),
        pytest.param(
            statement(["s3:GetObject"], ["arn:aws:s3:::bucket/*"], principals=("*",)), id="any-principal"
        ),
        pytest.param(
            statement(["s3:GetObject"], ["arn:aws:s3:::bucket/*"], not_actions=True), id="not-action"
        ),
    ],
)
def test_a_statement_that_allows_more_broadens(head):
    assert verdicts([head], [BASE])[0] == [BROADENS]


def test_removing_or_widening_a_condition_broadens():
    conditioned = statement(["s3:GetObject"], ["arn:aws:s3:::bucket/*"], condition=ACCOUNT)
    unconditioned = statement(["s3:GetObject"], ["arn:aws:s3:::bucket/*"])
    two_accounts = statement(
        ["s3:GetObject"],
        ["arn:aws:s3:::bucket/*"],
        condition={"StringEquals": {"aws:SourceAccount": ["111122223333", "444455556666"]}},
    )
    assert verdicts([unconditioned], [conditioned])[0] == [BROADENS]
    assert verdicts([two_accounts], [conditioned])[0] == [BROADENS]
    assert verdicts([conditioned], [two_accounts])[0] == [NARROWER]


def test_a_brand_new_allow_broadens_and_a_removed_allow_is_only_removed():
    assert verdicts([BASE], []) == ([BROADENS], [])
    assert verdicts([], [BASE]) == ([], [REMOVED])


def test_denies_mirror_allows():
    deny = statement(["s3:DeleteObject"], ["arn:aws:s3:::bucket/*"], effect="Deny")
    wider_deny = statement(["s3:Delete*"], ["arn:aws:s3:::bucket/*"], effect="Deny")
    assert verdicts([deny], []) == ([DENIES], [])
    assert verdicts([], [deny]) == ([], [BROADENS])  # a removed Deny allows what it denied
    assert verdicts([wider_deny], [deny]) == ([DENIES], [WIDER_DENY])


def test_a_statement_it_cannot_read_counts_as_broadening():
    unknown = {"parsed": {**statement(["s3:GetObject"], ["*"])["parsed"], "effect": "Unknown"}}
    assert verdicts([unknown], [BASE])[0] == [UNREADABLE]
