"""A turn's estimated cost: its tokens at the stage's configured prices (`input_token_usd_per_1k`,
`output_token_usd_per_1k` in cdk.json, the prices the stage's cost dashboard uses; `stacks/config.py`).

Read from cdk.json, not through `stacks.config.load_stages`: validating a stage imports the CDK (and starts
its Node process), which the page's server must not need. `make synth` validates the same keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.config import DEFAULTS_KEY, SETTINGS, STAGES_KEY

REPO_ROOT = Path(__file__).resolve().parents[1]
PRICE_KEYS = ("input_token_usd_per_1k", "output_token_usd_per_1k")


@dataclass(frozen=True)
class Prices:
    input_usd_per_1k: float
    output_usd_per_1k: float

    def cost(self, usage: Mapping[str, Any]) -> float:
        """The estimated USD cost of a usage event's tokens."""
        return (
            int(usage.get("inputTokens") or 0) * self.input_usd_per_1k
            + int(usage.get("outputTokens") or 0) * self.output_usd_per_1k
        ) / 1000


def stage_settings(stage: str, cdk_json: Path = REPO_ROOT / "cdk.json") -> dict[str, Any]:
    """The stage's settings as cdk.json sets them (defaults, then the stage's own); {} for an unknown
    stage or an unreadable file (the page then shows the settings' defaults)."""
    try:
        context = json.loads(cdk_json.read_text())["context"]
        overrides = context.get(STAGES_KEY, {}).get(stage, {})
        return {**context.get(DEFAULTS_KEY, {}), **overrides}
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return {}


def stage_prices(settings: Mapping[str, Any]) -> Prices:
    values = [settings.get(key, SETTINGS[key].default) for key in PRICE_KEYS]
    return Prices(*(float(value) for value in values))
