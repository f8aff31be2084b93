"""The product's `MemoryStack` alone in every configured stage, under the compliance packs: the app.py of the
change review's throw-away repository (tests/review/test_change_review.py). The review machinery is the real
one (Makefile, review package, cdk.json, synth cache); only the app is small, since synthesizing it three
times is most of that test's time. `build_app` returns stages with `.memory`, as app.py's does."""

from __future__ import annotations

import sys

import aws_cdk as cdk
from constructs import Construct

from stacks import compliance
from stacks.config import ConfigError, StageConfig, context_of, load_stages
from stacks.memory_stack import MemoryStack


class MemoryStage(cdk.Stage):
    def __init__(self, scope: Construct, config: StageConfig) -> None:
        super().__init__(
            scope, config.name, env=cdk.Environment(account=config.account, region=config.region)
        )
        self.memory = MemoryStack(self, "Memory", config=config)


def build_app(app: cdk.App) -> list[MemoryStage]:
    configs = load_stages(context_of(app.node.try_get_context))
    compliance.add_packs(app)
    return [MemoryStage(app, config) for config in configs]


if __name__ == "__main__":
    app = cdk.App(builtin_cloud_formation_validation=False)
    try:
        build_app(app)
    except ConfigError as error:
        sys.exit(f"config error: {error}")
    app.synth()
