#!/usr/bin/env python3
"""CDK entry point: one `AgentCoreStage` per configured stage (+ the pipeline when configured), under the
compliance packs."""

from __future__ import annotations

import sys
from typing import Any

import aws_cdk as cdk

from stacks import compliance
from stacks.config import CONTEXT_KEYS, ConfigError, load_pipeline, load_stages
from stacks.pipeline_stack import PipelineStack
from stacks.stage import AgentCoreStage


def build_app(app: cdk.App) -> list[AgentCoreStage]:
    """Add every configured stage (and the pipeline, if configured) to `app`.

    Raises ConfigError before building anything when the configuration is bad.
    """
    context: dict[str, Any] = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    context = {key: value for key, value in context.items() if value is not None}
    configs = load_stages(context)
    pipeline = load_pipeline(context)
    compliance.add_packs(app)
    stages = [AgentCoreStage(app, config) for config in configs]
    if pipeline is not None:
        PipelineStack(
            app,
            "Pipeline",
            pipeline=pipeline,
            stages=stages,
            stack_name=f"{configs[0].project}-pipeline",
            env=cdk.Environment(account=pipeline.account, region=pipeline.region),
        )
    return stages


def main() -> None:
    app = cdk.App()
    try:
        build_app(app)
    except ConfigError as error:
        sys.exit(f"config error: {error}")
    app.synth()


if __name__ == "__main__":
    main()
