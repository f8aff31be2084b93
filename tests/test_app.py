"""The CDK entry point: every stage by default, or only the one `make synth STAGE=...` names."""

from __future__ import annotations

import pytest

from app import ONLY_STAGE_KEY, build_app, new_app
from stacks.config import ConfigError
from tests.conftest import cdk_context
from tests.stacks.test_pipeline_stack import PIPELINE


def built(**context):
    app = new_app(context={**cdk_context(), **context})
    stages = build_app(app)
    return [stage.stage_name for stage in stages], [child.node.id for child in app.node.children]


def test_the_stage_key_builds_that_stage_only_and_no_pipeline():
    stages, children = built(**{ONLY_STAGE_KEY: "staging", "agentcore:pipeline": PIPELINE})

    assert stages == ["staging"]
    assert "Pipeline" not in children
    assert not {"dev", "prod"} & set(children)


def test_an_unknown_stage_is_a_config_error_naming_the_configured_ones():
    with pytest.raises(ConfigError, match=r"no stage \"qa\" \(configured: dev, staging, prod\)"):
        built(**{ONLY_STAGE_KEY: "qa"})


def test_the_other_stages_are_still_validated():
    context = cdk_context()
    context["agentcore:stages"]["prod"]["log_retention_days"] = 8

    with pytest.raises(ConfigError, match="stage 'prod'"):
        built(**{"agentcore:stages": context["agentcore:stages"], ONLY_STAGE_KEY: "dev"})
