"""One turn at a time per session, without a session ever staying locked by a client that left early."""

from __future__ import annotations

import asyncio
import json

from agentcore_agent import app as app_module
from agentcore_agent.app import UNSTARTED_TURN_SECONDS, create_app
from agentcore_agent.settings import Settings
from bedrock_agentcore.runtime import RequestContext
from starlette.responses import JSONResponse

from local.scripted_model import ScriptedModel, Text

SESSION = "busy-session-0123456789-0123456789-0123"
PAYLOAD = {"prompt": "hello"}


def _handler():
    settings = Settings.from_env({"AWS_REGION": "us-east-1", "MODEL_ID": "anthropic.test-v1:0"})
    app = create_app(settings, model_factory=lambda _: ScriptedModel([Text("hi there")]))
    return app.handlers["main"]


def _is_busy(reply) -> bool:
    if not isinstance(reply, JSONResponse):
        return False
    assert reply.status_code == 409
    assert json.loads(reply.body)["error"] == "SessionBusy"
    return True


def test_a_running_turn_holds_its_session_until_its_stream_ends():
    handler = _handler()

    async def scenario() -> None:
        context = RequestContext(session_id=SESSION)
        first = await handler(PAYLOAD, context)
        stream = first.__aiter__()
        assert (await stream.__anext__())["type"] == "text"
        assert _is_busy(await handler(PAYLOAD, context))
        rest = [event async for event in stream]
        assert rest[-1]["type"] == "end"
        assert not _is_busy(await handler(PAYLOAD, context))

    asyncio.run(scenario())


def test_a_turn_whose_stream_never_started_frees_the_session_after_the_grace_period(monkeypatch):
    handler = _handler()
    clock = [1000.0]
    monkeypatch.setattr(app_module.time, "monotonic", lambda: clock[0])

    async def scenario() -> None:
        context = RequestContext(session_id=SESSION)
        abandoned = await handler(PAYLOAD, context)  # the client leaves before the response starts
        assert not _is_busy(abandoned)
        clock[0] += UNSTARTED_TURN_SECONDS - 1
        assert _is_busy(await handler(PAYLOAD, context))
        clock[0] += 2
        retry = await handler(PAYLOAD, context)
        assert not _is_busy(retry)
        stream = retry.__aiter__()
        await stream.__anext__()
        late = [event async for event in abandoned]  # the SDK starts the old stream after all
        assert late == [{**late[0], "type": "error", "error": "SessionBusy"}] and late[0]["retryable"]
        assert _is_busy(await handler(PAYLOAD, context)), "the old turn's clean-up freed the new turn's slot"
        assert [event async for event in stream][-1]["type"] == "end"
        assert not _is_busy(await handler(PAYLOAD, context))

    asyncio.run(scenario())
