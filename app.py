#!/usr/bin/env python3
"""CDK entry point: one `AgentCoreStage` per stage in the `cdk.json` context, under the compliance packs."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk

from stacks import compliance
from stacks.config import ConfigError, load_stages
from stacks.stage import AgentCoreStage


def build_app(app: cdk.App) -> list[AgentCoreStage]:
    """Add every configured stage to `app`; raises ConfigError before building anything if config is bad."""
    context: Mapping[str, Any] = {
        key: app.node.try_get_context(key)
        for key in ("agentcore:project", "agentcore:defaults", "agentcore:stages")
    }
    configs = load_stages({k: v for k, v in context.items() if v is not None})
    compliance.add_packs(app)
    return [AgentCoreStage(app, config) for config in configs]


def main() -> None:
    app = cdk.App()
    try:
        build_app(app)
    except ConfigError as error:
        sys.exit(f"config error: {error}")
    app.synth()


if __name__ == "__main__":
    main()
