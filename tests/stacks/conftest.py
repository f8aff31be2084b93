"""Apps synthesized once per session besides the default one: a variant with the agent's optional features
on (OpenAI model, browser sites, recordings), so each option is checked in the templates it changes, and
every template there is (every stage, one more with the options' grants, the pipeline) for the allow-lists."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cdk_context

CROSS_ACCOUNT = "333344445555"  # prod's account in the pipeline variant with a stage in another account
OPENAI_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:agentcore/dev/openai-AbCdEf"
OPENAI_SECRET_KEY = "arn:aws:kms:us-east-1:111122223333:key/0b1c2d3e-aaaa-bbbb-cccc-0123456789ab"
# dev: OpenAI + browser sites + recordings; prod: recordings and online evaluation in a retained stage.
VARIANT_OPTIONS = {
    "dev": {
        "model_provider": "openai",
        "openai_model_id": "gpt-4o-mini",
        "openai_api_key_secret_arn": OPENAI_SECRET_ARN,
        "openai_api_key_secret_kms_key_arn": OPENAI_SECRET_KEY,
        "browser_allowed_domains": ["docs.aws.amazon.com", "*.example.com"],
        "browser_recording": True,
    },
    "prod": {
        "policy_validation": "ignore",
        "browser_recording": True,
        "trace_content": True,
        "online_evaluation": True,
        "online_evaluation_percent": 2.5,
        "online_evaluators": ["Builtin.GoalSuccessRate", "Builtin.ToolParameterAccuracy"],
        "online_evaluation_min_score": 0.7,
    },
}


@dataclass
class Variant:
    stages: dict[str, Any]
    outdir: Path

    def template(self, stage: str, stack: str) -> dict[str, Any]:
        artifact = self.stages[stage].synth().get_stack_by_name(f"{stage}-{stack}")
        return json.loads(Path(artifact.template_full_path).read_text())

    def template_paths(self) -> list[tuple[str, Path]]:
        return [
            (name, Path(artifact.template_full_path))
            for name, stage in self.stages.items()
            for artifact in stage.synth().stacks
        ]


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Variant:
    """dev and prod with VARIANT_OPTIONS, synthesized under the compliance packs."""

    from app import build_app, new_app

    context = copy.deepcopy(cdk_context())
    stages = context["agentcore:stages"]
    context["agentcore:stages"] = {
        name: {**stages[name], **options} for name, options in VARIANT_OPTIONS.items()
    }
    outdir = tmp_path_factory.mktemp("variant.out")
    app = new_app(context=context, outdir=str(outdir))
    built = build_app(app)
    app.synth()
    return Variant(stages={stage.stage_name: stage for stage in built}, outdir=outdir)


@dataclass(frozen=True)
class StackTemplate:
    """One synthesized template, named as the allow-lists name stacks (`Runtime`, `Pipeline`, ...)."""

    stack_id: str
    stack_name: str
    region: str
    account: str
    template: dict[str, Any]


@pytest.fixture(scope="session")
def pipeline_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Every stage of cdk.json and the pipeline promoting them (tests/stacks/test_pipeline_stack.PIPELINE),
    synthesized once: its cloud assembly, for the pipeline tests and `every_template`."""
    from app import build_app, new_app
    from tests.stacks.test_pipeline_stack import PIPELINE

    context = {**copy.deepcopy(cdk_context()), "agentcore:pipeline": PIPELINE}
    app = new_app(context=context, outdir=str(tmp_path_factory.mktemp("pipeline")))
    build_app(app)
    return app.synth()


@pytest.fixture(scope="session")
def every_template(pipeline_app: Any, tmp_path_factory: pytest.TempPathFactory) -> list[StackTemplate]:
    """Every template of every stage and the pipeline (`pipeline_app`), of one more stage with the
    optional features' grants (the OpenAI model, browser recordings), synthesized alone, and of the pipeline
    with a stage in another account."""
    from aws_cdk.assertions import Template

    from app import ONLY_STAGE_KEY, build_app, new_app
    from tests.stacks.test_model_access import OPENAI
    from tests.stacks.test_pipeline_stack import PIPELINE, _built_pipeline

    context = copy.deepcopy(cdk_context())
    context["agentcore:stages"]["openai"] = {**OPENAI, "browser_recording": True}
    context[ONLY_STAGE_KEY] = "openai"
    app = new_app(context=context, outdir=str(tmp_path_factory.mktemp("every-template")))
    build_app(app)
    every_stack = _stack_templates(pipeline_app, app)
    # The pipeline again with a stage in another account: the statements only cross-account stages get, and
    # that stage's role for the pipeline's steps (stacks/pipeline_access.py).
    cross_account = _built_pipeline(PIPELINE, {"prod": {"account": CROSS_ACCOUNT}})
    return [
        StackTemplate(
            "Pipeline",
            "cross-account-pipeline",
            "us-east-1",
            PIPELINE["account"],
            Template.from_stack(cross_account).to_json(),
        ),
        StackTemplate(
            "PipelineAccess",
            "prod-PipelineAccess",
            "us-east-1",
            CROSS_ACCOUNT,
            Template.from_stack(cross_account.access["prod"]).to_json(),
        ),
        *every_stack,
    ]


def _stack_templates(pipeline_app: Any, app: Any) -> list[StackTemplate]:
    return [
        StackTemplate(
            artifact.hierarchical_id.split("/")[-1],
            artifact.stack_name,
            artifact.environment.region,
            artifact.environment.account,
            json.loads(Path(artifact.template_full_path).read_text()),
        )
        for assembly in (pipeline_app, app.synth())
        for artifact in assembly.stacks_recursively
    ]
