"""The chat page of `make local`: the local stage's agent, its users, its traces (each turn's timeline) and
the dev stage's prices; turns kept in `<state>/chat.sqlite3`, so sessions survive a restart of the stage."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from local.traces import TRACES_FILE
from local.users import ROLES
from scripts import invoke
from webui.chat_target import ChatTarget, model_label
from webui.pricing import stage_prices, stage_settings
from webui.server import ChatServer
from webui.transcripts import Transcripts

TRANSCRIPTS_FILE = "chat.sqlite3"
PRICED_AS = "dev"  # the local stage runs the dev stage's settings


def local_chat(stage_file: Path, model: str, environment: Mapping[str, str]) -> ChatTarget:
    """The running local stage (`stage_file`: the one it wrote) as the page's target; `model` as
    `LocalStage.model` names it, `environment` the agent's."""
    target, _ = invoke.local_target(stage_file, None)
    return ChatTarget(
        name="local",
        target=target,
        model=model_label(model, environment.get("MODEL_ID"), environment.get("OPENAI_BASE_URL")),
        prices=stage_prices(stage_settings(PRICED_AS)),
        users=tuple(ROLES),
        stage_file=stage_file,
        traces=stage_file.parent / TRACES_FILE,
    )


@contextmanager
def serving(
    stage_file: Path, model: str, environment: Mapping[str, str], port: int = 0
) -> Iterator[ChatServer]:
    """The page served on 127.0.0.1:`port` while the context lasts (its turns next to the stage file)."""
    transcripts = Transcripts(stage_file.parent / TRANSCRIPTS_FILE)
    try:
        with ChatServer(local_chat(stage_file, model, environment), transcripts, port) as server:
            yield server
    finally:
        transcripts.close()
