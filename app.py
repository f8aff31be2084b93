#!/usr/bin/env python3
"""CDK entry point: one `AgentCoreStage` per configured stage (+ the pipeline when configured), under the
compliance packs.

`--context agentcore:stage=NAME` (`make synth STAGE=NAME`) builds that stage only, for a faster loop while
working on it; the configuration of every stage is still validated, and the pipeline (which promotes every
stage) is left out.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import aws_cdk as cdk

from stacks import compliance
from stacks.agent_image import IMAGE_KEY, pinned_image
from stacks.config import ConfigError, StageConfig, context_of, load_pipeline, load_stages
from stacks.stage import AgentCoreStage

ONLY_STAGE_KEY = "agentcore:stage"


def selected(configs: list[StageConfig], only: Any) -> list[StageConfig]:
    """Every stage, or the one named by the `agentcore:stage` context key."""
    if only is None or only == "":
        return configs
    chosen = [config for config in configs if config.name == only]
    if not chosen:
        names = ", ".join(config.name for config in configs)
        raise ConfigError(f"context '{ONLY_STAGE_KEY}': no stage {json.dumps(only)} (configured: {names})")
    return chosen


def build_app(app: cdk.App) -> list[AgentCoreStage]:
    """Add every configured stage (and the pipeline, if configured) to `app`.

    Raises ConfigError before building anything when the configuration is bad.
    """
    context = context_of(app.node.try_get_context)
    configs = load_stages(context)
    pipeline = load_pipeline(context)
    only = app.node.try_get_context(ONLY_STAGE_KEY)
    chosen = selected(configs, only)
    image = pinned_image(app.node.try_get_context(IMAGE_KEY))
    compliance.add_packs(app)
    stages = [AgentCoreStage(app, config, image=image) for config in chosen]
    if pipeline is not None and chosen == configs:
        from stacks.pipeline_stack import PipelineStack  # imported only when built: aws_cdk.pipelines is slow

        PipelineStack(
            app,
            "Pipeline",
            pipeline=pipeline,
            stages=stages,
            stack_name=f"{configs[0].project}-pipeline",
            env=cdk.Environment(account=pipeline.account, region=pipeline.region),
        )
    return stages


def new_app(**props: Any) -> cdk.App:
    """The CDK app, without the CDK's built-in CloudFormation validation plugin.

    That plugin only warns (its errors are downgraded) and checks the resource schemas cfn-lint also checks,
    as a gate, over every template (`make lint`, `make test`, `make review`); it cost a third of `make synth`
    (a WebAssembly engine compiled at every synth). See docs/benchmarks/synth.md.
    """
    return cdk.App(builtin_cloud_formation_validation=False, **props)


def main() -> None:
    app = new_app()
    try:
        build_app(app)
    except ConfigError as error:
        sys.exit(f"config error: {error}")
    app.synth()


if __name__ == "__main__":
    main()
