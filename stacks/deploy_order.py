"""At most N resources of one kind in flight at once during a deploy, by dependencies CloudFormation honours.

A gateway accepts at most 5 concurrent target create/update/delete operations (AgentCore quotas); beyond
that a deploy fails part-way. CloudFormation creates independent resources in parallel, so each resource
waits for the one N places before it: no two resources in flight are N apart, so at most N run at once
(deletes run the same chain backwards). Fewer than N resources get no dependency, and no time is lost.
"""

from __future__ import annotations

from collections.abc import Sequence

from constructs import IConstruct

GATEWAY_TARGET_OPERATIONS = 5  # concurrent target create/update/delete operations per gateway


def at_most_in_flight(resources: Sequence[IConstruct], limit: int) -> None:
    """Make `resources[i]` depend on `resources[i - limit]`."""
    for index in range(limit, len(resources)):
        resources[index].node.add_dependency(resources[index - limit])
