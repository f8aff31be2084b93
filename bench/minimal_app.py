"""The reference for the synth benchmark: one stack holding one L2 `Runtime` built from the agent's sources.

Run by bench/bench_synth.py with the project's `cdk.json` (same feature flags, so the same built-in CDK
validation), it is what synthesizing any AgentCore agent costs; the project's app is compared with it.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_bedrockagentcore as agentcore

AGENT_SOURCES = Path(__file__).resolve().parents[1] / "agent_src"

app = cdk.App()
stack = cdk.Stack(app, "Minimal", env=cdk.Environment(region="us-east-1"))
agentcore.Runtime(
    stack,
    "Runtime",
    runtime_name="minimal",
    agent_runtime_artifact=agentcore.AgentRuntimeArtifact.from_asset(str(AGENT_SOURCES)),
)
app.synth()
