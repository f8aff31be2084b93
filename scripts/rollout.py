#!/usr/bin/env python3
"""Canary rollout of a new agent runtime version: bake on the `canary` endpoint, then promote `live` or undo.

    python scripts/rollout.py --runtime-id <id> --stage dev --bake-minutes 30

State lives in the two endpoints themselves (never in a local file), so a re-run after a crash resumes:
- newest runtime version N == `live`'s version: nothing to roll out (already promoted).
- `canary`'s description records "rolled back N: <alarm>": the rollout of N failed before; fail again.
- `canary` not on N: point it at N; the bake starts at the canary endpoint's lastUpdatedAt.
- during the bake, any alarm named `<stage>-canary-*` in ALARM: `canary` back to `live`'s version, exit 1.
- bake over, no alarm: one UpdateAgentRuntimeEndpoint moves `live` to N (atomic: never half-promoted).
Callers pick `canary` for a share of NEW sessions by a hash of the session id (see docs/CANARY.md).
Exit codes: 0 promoted or nothing to do, 1 rolled back (the alarm is named), 2 bad arguments, 6 AWS error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

LIVE, CANARY = "live", "canary"
ROLLED_BACK = "rolled back "
AWS_ERROR = 6


def _endpoint(control: Any, runtime_id: str, name: str) -> dict[str, Any]:
    return control.get_agent_runtime_endpoint(agentRuntimeId=runtime_id, endpointName=name)


def _newest_version(control: Any, runtime_id: str) -> str:
    versions = control.list_agent_runtime_versions(agentRuntimeId=runtime_id)["agentRuntimes"]
    return str(max(int(v["agentRuntimeVersion"]) for v in versions))


def _firing(cloudwatch: Any, prefix: str) -> list[str]:
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=prefix, StateValue="ALARM")
    return sorted(a["AlarmName"] for a in alarms["MetricAlarms"] + alarms.get("CompositeAlarms", []))


def rollout(
    control: Any,
    cloudwatch: Any,
    *,
    runtime_id: str,
    stage: str,
    bake: timedelta,
    now: Callable[[], datetime],
    wait: Callable[[float], None],
    poll_seconds: float = 60,
) -> tuple[int, str]:
    """Drive one rollout to its end; returns (exit code, one-line outcome)."""
    live = _endpoint(control, runtime_id, LIVE)
    newest = _newest_version(control, runtime_id)
    if live["liveVersion"] == newest:
        return 0, f"live is on version {newest}: nothing to roll out"
    canary = _endpoint(control, runtime_id, CANARY)
    if canary.get("description", "").startswith(f"{ROLLED_BACK}{newest}:"):
        return 1, f"version {newest} was rolled back earlier: {canary['description']}"
    if canary["liveVersion"] != newest or canary.get("targetVersion", newest) != newest:
        canary = control.update_agent_runtime_endpoint(
            agentRuntimeId=runtime_id,
            endpointName=CANARY,
            agentRuntimeVersion=newest,
            description=f"baking {newest}",
        )
    bake_ends = canary["lastUpdatedAt"] + bake
    prefix = f"{stage}-canary-"
    while True:
        firing = _firing(cloudwatch, prefix)
        if firing:
            reason = f"{ROLLED_BACK}{newest}: {', '.join(firing)}"
            control.update_agent_runtime_endpoint(
                agentRuntimeId=runtime_id,
                endpointName=CANARY,
                agentRuntimeVersion=live["liveVersion"],
                description=reason[:200],
            )
            return 1, f"{reason}; live stays on version {live['liveVersion']}"
        left = (bake_ends - now()).total_seconds()
        if left <= 0:
            break
        wait(min(poll_seconds, left))
    control.update_agent_runtime_endpoint(
        agentRuntimeId=runtime_id,
        endpointName=LIVE,
        agentRuntimeVersion=newest,
        description=f"promoted {newest}",
    )
    return 0, f"live promoted to version {newest} after a clean bake of {bake}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime-id", required=True)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--bake-minutes", type=float, default=30)
    args = parser.parse_args(argv)
    if args.bake_minutes < 0:
        parser.error("--bake-minutes must be >= 0")
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        code, outcome = rollout(
            boto3.client("bedrock-agentcore-control"),
            boto3.client("cloudwatch"),
            runtime_id=args.runtime_id,
            stage=args.stage,
            bake=timedelta(minutes=args.bake_minutes),
            now=lambda: datetime.now(UTC),
            wait=time.sleep,
        )
    except (BotoCoreError, ClientError) as error:
        print(f"rollout: AWS call failed: {error}", file=sys.stderr)
        return AWS_ERROR
    print(f"rollout: {outcome}", file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
