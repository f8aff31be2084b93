"""Session fixtures: the whole app (every stage) is synthesized once, with the real `cdk.json` context."""

from __future__ import annotations

import atexit
import gc
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# Calling a deprecated CDK API fails the tests instead of printing a warning nobody reads.
os.environ.setdefault("JSII_DEPRECATED", "fail")
# A test process holds 1-2 M long-lived objects (synthesized apps' jsii proxies, moto's models, agents).
# At CPython's default thresholds (700, 10, 10) a worker scanned that whole heap ~45 times: 30 s of its
# CPU, a fifth of the suite's. Collecting the young generation every 100,000 allocations instead of
# every 700 still collects cycles, and the full scans become rare (`pytest -n 2`: 163 s -> 123 s).
gc.set_threshold(100_000, 20, 100)


def _exit_without_teardown() -> None:
    """An xdist worker's last step: its results are already with the controller, and CPython's teardown of a
    2 M-object heap kept every run waiting 4-6 s after the last test. Registered when this conftest loads,
    so the handlers registered later (the jsii kernel's stop, tracer providers) run before it; logging's,
    registered earlier, is run here."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if os.environ.get("PYTEST_XDIST_WORKER"):
    atexit.register(_exit_without_teardown)

    @pytest.hookimpl(tryfirst=True)
    def pytest_unconfigure(config: pytest.Config) -> None:
        """Before pytest's unraisable-exception plugin collects twice more at the end (a full scan of this
        worker's heap is ~1.8 s each, right on the suite's tail): move every object to the permanent
        generation. The worker's results are with the controller and it skips teardown anyway; garbage made
        during the tests was collected (and its unraisable exceptions reported) as the tests ran."""
        gc.freeze()


ROOT = Path(__file__).resolve().parent.parent


def cdk_context() -> dict[str, Any]:
    """The app context exactly as `cdk synth` reads it from cdk.json."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


@dataclass
class Synthesized:
    """The synthesized cloud assembly of every stage, with helpers to read its templates."""

    stages: dict[str, Any]
    outdir: Path

    def template_path(self, stage: str, stack: str) -> Path:
        artifact = self.stages[stage].synth().get_stack_by_name(f"{stage}-{stack}")
        return Path(artifact.template_full_path)

    def template(self, stage: str, stack: str) -> Any:
        from aws_cdk.assertions import Template

        return Template.from_json(json.loads(self.template_path(stage, stack).read_text()))

    def all_templates(self) -> Iterator[tuple[str, str, Path]]:
        for name, stage in self.stages.items():
            for artifact in stage.synth().stacks:
                yield name, artifact.stack_name, Path(artifact.template_full_path)


# Session fixtures that synthesize an app -> their tests' xdist group. The session's app and tests/stacks'
# variant share one group: a test comparing them would otherwise build both on two workers.
SYNTH_GROUPS = {
    "synthesized": "synthesized-app",
    "variant": "synthesized-app",
    "every_template": "every-template",
    "pipeline_app": "every-template",
}


@pytest.hookimpl(wrapper=True)  # around xdist's own hook: before it reads the groups, after it applies them
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """Tests of a synthesized app share its xdist group and run first: one worker pays for each synthesis
    (the slowest fixtures) while the others take the rest (`--dist loadgroup`, see pyproject.toml). Every
    other test is grouped by its file, so a module-scoped fixture (a stage of servers, a pipeline synth) is
    built once, not once per worker that happens to get one of its tests."""
    grouped: list[pytest.Item] = []
    for item in items:
        groups = {group for name, group in SYNTH_GROUPS.items() if name in getattr(item, "fixturenames", ())}
        if len(groups) > 1:
            raise pytest.UsageError(f"{item.nodeid} uses apps of two groups ({', '.join(sorted(groups))})")
        if groups:
            item.add_marker(pytest.mark.xdist_group(groups.pop()))
            grouped.append(item)
        elif item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    ids = {id(item) for item in grouped}
    items[:] = grouped + [item for item in items if id(item) not in ids]
    yield
    # pytest-xdist 3.8 tells its scheduler a test's group by suffixing `item._nodeid` with `@group`, which
    # pytest 9.2 no longer reads (the node id is `item._id`), so every group is silently split across workers.
    # Until xdist catches up, put the suffix where pytest reads it (for every group, e.g. tests/review's).
    if getattr(config.option, "loadgroup", False):
        for item in items:
            group = item.get_closest_marker("xdist_group")
            if group is not None and "@" not in item.nodeid:
                name = group.args[0] if group.args else group.kwargs.get("name", "default")
                item._id = type(item._id).parse(f"{item.nodeid}@{name}")


@pytest.fixture(scope="session", autouse=True)
def moto_models() -> None:
    """moto's lazy first use is not thread-safe (see local/moto_models.py): do it once, before any test."""
    from local.moto_models import prepare_services

    prepare_services()


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:

    from app import build_app, new_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = new_app(context=cdk_context(), outdir=str(outdir))
    stages = build_app(app)
    app.synth()
    return Synthesized(stages={stage.stage_name: stage for stage in stages}, outdir=outdir)


@pytest.fixture(scope="session")
def reviewed(synthesized: Synthesized) -> Any:
    """`make review`'s model of the session's assembly (one cfn-lint pass over every template, shared by the
    compliance gate and the report tests)."""
    from review.config_diff import differences, stage_settings
    from review.model import collect

    return collect(synthesized.outdir, lambda: differences(stage_settings(ROOT / "cdk.json")))


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Any]:
    """The local stage's OTLP trace receiver on a free port, keeping exports under `tmp_path`."""
    from local.traces import TraceReceiver

    server = TraceReceiver(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()
