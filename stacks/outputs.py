"""Stack outputs, published one way and kept by name so later steps (the smoke test) can read them."""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from constructs import Construct


def publish(scope: Construct, outputs: Mapping[str, tuple[str, str]]) -> dict[str, cdk.CfnOutput]:
    """`{name: (value, description)}` -> CfnOutputs on `scope`, returned by name."""
    return {
        name: cdk.CfnOutput(scope, name, value=value, description=description)
        for name, (value, description) in outputs.items()
    }
