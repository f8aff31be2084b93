#!/usr/bin/env python3
"""Canary rollout of a new agent runtime version: bake on the `canary` endpoint, then promote `live` or undo.

    python scripts/rollout.py --runtime-id <id> --alarm-prefix agentcore-dev-canary- --bake-minutes 30

State lives in the two endpoints themselves (never in a local file), so a re-run after a crash resumes:
- newest runtime version N == `live`'s version: nothing to roll out (already promoted).
- `canary`'s description records "rolled back N: <alarm>": the rollout of N failed before; fail again.
- `canary` not on (or moving to) N: point it at N, then wait until it is READY on N; the bake starts at the
  READY endpoint's lastUpdatedAt. An update that fails (or is not READY in time) rolls back like an alarm.
- during the bake, any alarm whose name starts with the prefix in ALARM: `canary` back to `live`'s version,
  exit 1.
- bake over, no alarm: one UpdateAgentRuntimeEndpoint moves `live` to N (atomic: never half-promoted), and
  the step ends when `live` is READY on N.
Callers pick `canary` for a share of NEW sessions by a hash of the session id (see docs/CANARY.md).
With `--role-arn` (or AGENTCORE_STEP_ROLE_ARN: the pipeline's step for a stage in another account) every call
is made as that role (scripts/step_role.py).
Exit codes: 0 promoted or nothing to do, 1 rolled back (the alarm is named) or not promoted, 2 bad arguments,
6 AWS error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if not __package__:  # `python scripts/rollout.py`: the repository root makes `scripts.` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts import step_role

LIVE, CANARY = "live", "canary"
ROLLED_BACK = "rolled back "
AWS_ERROR = 6
READY = "READY"
FAILED = frozenset({"CREATE_FAILED", "UPDATE_FAILED"})  # GetAgentRuntimeEndpoint's status enum
READY_TIMEOUT = timedelta(minutes=15)  # an endpoint update that is not READY by then counts as failed
READY_POLL_SECONDS = 10


class NotReady(Exception):
    """An endpoint update failed or did not finish in time; the message is one line."""


def _endpoint(control: Any, runtime_id: str, name: str) -> dict[str, Any]:
    return control.get_agent_runtime_endpoint(agentRuntimeId=runtime_id, endpointName=name)


def _newest_version(control: Any, runtime_id: str) -> str:
    """The highest version number over every page (a runtime keeps up to 1,000 versions)."""
    pages = control.get_paginator("list_agent_runtime_versions").paginate(agentRuntimeId=runtime_id)
    return str(max(int(v["agentRuntimeVersion"]) for page in pages for v in page["agentRuntimes"]))


def _firing(cloudwatch: Any, prefix: str) -> list[str]:
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=prefix, StateValue="ALARM")
    return sorted(a["AlarmName"] for a in alarms["MetricAlarms"] + alarms.get("CompositeAlarms", []))


def _when_ready(
    control: Any,
    runtime_id: str,
    name: str,
    version: str,
    *,
    now: Callable[[], datetime],
    wait: Callable[[float], None],
) -> dict[str, Any]:
    """The endpoint once it is READY serving `version` (an update is asynchronous: UPDATING first)."""
    deadline = now() + READY_TIMEOUT
    while True:
        endpoint = _endpoint(control, runtime_id, name)
        if endpoint["status"] == READY and endpoint.get("liveVersion") == version:
            return endpoint
        if endpoint["status"] in FAILED or now() >= deadline:
            reason = endpoint.get("failureReason") or f"not READY on version {version} in {READY_TIMEOUT}"
            raise NotReady(f"{name} is {endpoint['status']}: {reason}")
        wait(READY_POLL_SECONDS)


def _roll_back(control: Any, runtime_id: str, newest: str, live_version: str, cause: str) -> tuple[int, str]:
    """`canary` back to `live`'s version, recording why in its description (a re-run then stops at once)."""
    reason = f"{ROLLED_BACK}{newest}: {cause}"
    control.update_agent_runtime_endpoint(
        agentRuntimeId=runtime_id,
        endpointName=CANARY,
        agentRuntimeVersion=live_version,
        description=reason[:200],
    )
    return 1, f"{reason}; live stays on version {live_version}"


def rollout(
    control: Any,
    cloudwatch: Any,
    *,
    runtime_id: str,
    alarm_prefix: str,
    bake: timedelta,
    now: Callable[[], datetime],
    wait: Callable[[float], None],
    poll_seconds: float = 60,
    live_name: str = LIVE,
) -> tuple[int, str]:
    """Drive one rollout to its end; returns (exit code, one-line outcome)."""
    live = _endpoint(control, runtime_id, live_name)
    newest = _newest_version(control, runtime_id)
    if live["liveVersion"] == newest:
        return 0, f"{live_name} is on version {newest}: nothing to roll out"
    canary = _endpoint(control, runtime_id, CANARY)
    if canary.get("description", "").startswith(f"{ROLLED_BACK}{newest}:"):
        return 1, f"version {newest} was rolled back earlier: {canary['description']}"
    if canary.get("targetVersion", canary.get("liveVersion")) != newest:  # not on N, nor moving to it
        control.update_agent_runtime_endpoint(
            agentRuntimeId=runtime_id,
            endpointName=CANARY,
            agentRuntimeVersion=newest,
            description=f"baking {newest}",
        )
    try:
        canary = _when_ready(control, runtime_id, CANARY, newest, now=now, wait=wait)
    except NotReady as error:
        return _roll_back(control, runtime_id, newest, live["liveVersion"], str(error))
    bake_ends = canary["lastUpdatedAt"] + bake
    while True:
        firing = _firing(cloudwatch, alarm_prefix)
        if firing:
            return _roll_back(control, runtime_id, newest, live["liveVersion"], ", ".join(firing))
        left = (bake_ends - now()).total_seconds()
        if left <= 0:
            break
        wait(min(poll_seconds, left))
    control.update_agent_runtime_endpoint(
        agentRuntimeId=runtime_id,
        endpointName=live_name,
        agentRuntimeVersion=newest,
        description=f"promoted {newest}",
    )
    try:
        _when_ready(control, runtime_id, live_name, newest, now=now, wait=wait)
    except NotReady as error:  # the endpoint keeps serving its previous version; a re-run tries again
        return 1, f"{live_name} was not promoted to version {newest}: {error}"
    return 0, f"{live_name} promoted to version {newest} after a clean bake of {bake}"


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime-id", required=True, help="the stage's runtime (output RuntimeId)")
    parser.add_argument(
        "--alarm-prefix", required=True, help="alarms that roll back, e.g. agentcore-dev-canary-"
    )
    parser.add_argument("--bake-minutes", type=float, default=30)
    parser.add_argument("--live-endpoint", default=LIVE, help="the endpoint clients call (endpoint_name)")
    parser.add_argument(
        "--role-arn",
        help=f"assume this role for every AWS call (env {step_role.ENVIRONMENT}; a stage in another account)",
    )
    args = parser.parse_args(argv)
    if args.bake_minutes < 0:
        parser.error("--bake-minutes must be >= 0")
    if args.live_endpoint == CANARY:
        parser.error(f"--live-endpoint cannot be '{CANARY}' (the canary's own endpoint)")
    try:
        role = step_role.role_arn(args.role_arn, environ)
    except step_role.RoleArnError as error:
        print(f"rollout: {error}", file=sys.stderr)
        return 2
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = step_role.clients(role, "agentcore-rollout")
        code, outcome = rollout(
            client("bedrock-agentcore-control"),
            client("cloudwatch"),
            runtime_id=args.runtime_id,
            alarm_prefix=args.alarm_prefix,
            bake=timedelta(minutes=args.bake_minutes),
            now=lambda: datetime.now(UTC),
            wait=time.sleep,
            live_name=args.live_endpoint,
        )
    except (BotoCoreError, ClientError) as error:
        print(f"rollout: AWS call failed: {error}", file=sys.stderr)
        return AWS_ERROR
    print(f"rollout: {outcome}", file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
