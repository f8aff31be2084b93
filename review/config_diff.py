"""The settings that differ between stages, from cdk.json through the app's own validated StageConfig."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from stacks.config import CONTEXT_KEYS, ConfigError, load_stages


def stage_settings(cdk_json: Path) -> dict[str, dict[str, Any]]:
    """stage -> every resolved setting (defaults applied), exactly as the app builds the stage."""
    try:
        context = json.loads(cdk_json.read_text()).get("context", {})
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{cdk_json}: cannot read the app context ({error})") from None
    configs = load_stages({key: context[key] for key in CONTEXT_KEYS if key in context})
    return {config.name: dataclasses.asdict(config) for config in configs}


def differences(settings: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """setting -> {stage: value} for every setting not equal in all stages."""
    keys = {key for values in settings.values() for key in values} - {"name"}
    return {
        key: {stage: values.get(key) for stage, values in settings.items()}
        for key in sorted(keys)
        if len({json.dumps(values.get(key)) for values in settings.values()}) > 1
    }
