"""A test double of `step_role.clients` that records the role a script asks for and every client it makes,
then makes them with `boto3.client` (which the scripts' tests point at their moto/Stubber doubles).
tests/scripts/test_step_role.py proves the real factory signs every client with the assumed role."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from scripts import step_role

ROLE = "arn:aws:iam::333344445555:role/agentcore-prod-pipeline-steps"


@dataclass
class RecordedClients:
    roles: list[tuple[str | None, str]] = field(default_factory=list)  # (role ARN, session name)
    services: list[str] = field(default_factory=list)


def record(monkeypatch: pytest.MonkeyPatch) -> RecordedClients:
    recorded = RecordedClients()
    own = step_role.clients

    def clients(arn: str | None, name: str, **_: Any) -> step_role.Clients:
        recorded.roles.append((arn, name))
        factory = own(None, name)

        def make(service: str, *args: Any, **kwargs: Any) -> Any:
            recorded.services.append(service)
            return factory(service, *args, **kwargs)

        return make

    monkeypatch.setattr(step_role, "clients", clients)
    return recorded
