"""The per-turn pipeline waits for its context fetches together, and the model call never waits for a write.

Each fake below refuses to finish until another step of the turn has started (a rendezvous, never a sleep),
so a pipeline that ran the steps one after the other would stall until a deadline and fail these tests;
no timing is measured here (that is `bench/bench_turn_latency.py`).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from agentcore_agent.gateway_tools import TOOLS_UNAVAILABLE_NOTE, GatewayToolSearch
from agentcore_agent.memory_hooks import MemoryHooks
from strands import Agent

from local.scripted_model import ScriptedModel, Text

MEMORY_ID = "agentMemory-abcdefghij"
ACTOR, SESSION = "alice-7f3e1c", "session-0001-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
WAIT_S = 5.0  # how long a rendezvous waits before it gives up (far above any normal step)


class MemoryClient:
    """The three data-plane calls the hooks make, with rendezvous points; records every call."""

    def __init__(self) -> None:
        self.search_started = threading.Event()  # set by the gateway fake
        self.model_called = threading.Event()  # set by the model
        self.history_requested = threading.Event()
        self.calls: list[str] = []
        self.late: list[str] = []  # calls whose partner never showed up

    def list_events(self, **kwargs: Any) -> dict[str, Any]:
        self.history_requested.set()
        if not self.search_started.wait(WAIT_S):
            self.late.append("list_events")
        self.calls.append("list_events")
        history = [("USER", "earlier question"), ("ASSISTANT", "earlier answer")]
        return {
            "events": [
                {
                    "eventId": f"e{index}",
                    "eventTimestamp": index,
                    "payload": [{"conversational": {"content": {"text": text}, "role": role}}],
                }
                for index, (role, text) in enumerate(history)
            ]
        }

    def retrieve_memory_records(self, **kwargs: Any) -> dict[str, Any]:
        if not self.search_started.wait(WAIT_S):
            self.late.append("retrieve")
        self.calls.append("retrieve")
        return {"memoryRecordSummaries": [{"content": {"text": "ALICE-FACT lives in Lyon"}, "score": 0.9}]}

    def create_event(self, **kwargs: Any) -> None:
        role = kwargs["payload"][0]["conversational"]["role"]
        if role == "USER" and not self.model_called.wait(WAIT_S):
            self.late.append("create_event USER")
        self.calls.append(f"create_event {role}")


class Gateway:
    """Stands in for `gateway_client.Gateway`: its search finishes only once memory has been asked too."""

    def __init__(self, memory: MemoryClient) -> None:
        self.memory = memory

    async def search(self, query: str, *, caller: Any = None, session_id: str | None = None) -> list[Any]:
        self.memory.search_started.set()
        seen = await asyncio.get_running_loop().run_in_executor(
            None, self.memory.history_requested.wait, WAIT_S
        )
        if not seen:
            self.memory.late.append("search")
        return []


class Model(ScriptedModel):
    """The scripted double, announcing each call."""

    def __init__(self, memory: MemoryClient) -> None:
        super().__init__([Text("Lyon, I remember.")])
        self.memory = memory

    async def stream(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.memory.model_called.set()
        async for event in super().stream(*args, **kwargs):
            yield event


def test_history_records_and_tool_search_are_awaited_together_and_writes_do_not_delay_the_model():
    memory = MemoryClient()
    model = Model(memory)
    hooks = MemoryHooks(
        client=memory,
        memory_id=MEMORY_ID,
        actor_id=ACTOR,
        session_id=SESSION,
        namespaces={"facts": "/facts/{actorId}"},
        timeout_seconds=WAIT_S * 2,
    )
    search = GatewayToolSearch(Gateway(memory), session_id=SESSION)  # type: ignore[arg-type]
    agent = Agent(model=model, plugins=[hooks, search], system_prompt="base", callback_handler=None)

    assert str(agent("where do I live?")).strip() == "Lyon, I remember."

    assert memory.late == []  # every step found its partner running: nothing waited for another to finish
    (request,) = model.requests
    assert "ALICE-FACT" in str(request.system_prompt)  # the records reached the first model call
    assert [m["content"][0]["text"] for m in request.messages] == [
        "earlier question",
        "earlier answer",
        "where do I live?",
    ]  # the history went before the new prompt, in the model call and in the agent
    assert [m["content"][0]["text"] for m in agent.messages][:3] == request_texts(request)
    assert TOOLS_UNAVAILABLE_NOTE not in str(agent.messages[-1])
    # Both writes finished before the turn returned, in the conversation's order.
    assert [call for call in memory.calls if call.startswith("create_event")] == [
        "create_event USER",
        "create_event ASSISTANT",
    ]


def request_texts(request: Any) -> list[str]:
    return [m["content"][0]["text"] for m in request.messages]


def test_a_first_turn_rolled_back_by_the_app_gets_the_restored_history_again():
    """The app restores `agent.messages` after a failed turn; the next turn must still see the history."""
    memory = MemoryClient()
    memory.search_started.set()  # no gateway in this test
    memory.model_called.set()
    model = ScriptedModel([Text("first"), Text("second")])
    hooks = MemoryHooks(client=memory, memory_id=MEMORY_ID, actor_id=ACTOR, session_id=SESSION, namespaces={})
    agent = Agent(model=model, plugins=[hooks], callback_handler=None)
    agent("one")
    agent.messages[:] = []  # what app.py does when a turn fails
    agent("two")
    assert request_texts(model.requests[1]) == ["earlier question", "earlier answer", "two"]
    assert memory.calls.count("list_events") == 1  # loaded once, kept


class EventStore:
    """A memory whose ListEvents answers late, so a write of the new prompt could overtake it."""

    def __init__(self, history: list[tuple[str, str]]) -> None:
        self.events = [
            {"eventId": f"e{index}", "eventTimestamp": index, "payload": [payload(role, text)]}
            for index, (role, text) in enumerate(history)
        ]
        self.written = threading.Event()

    def list_events(self, **kwargs: Any) -> dict[str, Any]:
        self.written.wait(0.5)  # a correct pipeline writes nothing before the history is loaded
        return {"events": list(self.events)}

    def create_event(self, **kwargs: Any) -> None:
        self.events.append({"eventId": "new", "eventTimestamp": kwargs["eventTimestamp"], **kwargs})
        self.written.set()


def payload(role: str, text: str) -> dict[str, Any]:
    return {"conversational": {"content": {"text": text}, "role": role}}


def test_the_restored_history_never_contains_the_new_prompt():
    history = [("USER", "q1"), ("ASSISTANT", "a1"), ("USER", "q2"), ("ASSISTANT", "a2")]
    model = ScriptedModel([Text("a3")])
    hooks = MemoryHooks(
        client=EventStore(history),
        memory_id=MEMORY_ID,
        actor_id=ACTOR,
        session_id=SESSION,
        namespaces={},
        last_k_turns=1,
    )
    agent = Agent(model=model, plugins=[hooks], callback_handler=None)
    agent("q3")
    assert request_texts(model.requests[0]) == ["q2", "a2", "q3"]
