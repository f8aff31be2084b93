"""The reference of bench/bench_first_turn.py: the least an agent with memory and gateway tools does.

`BedrockAgentCoreApp` + a Strands `Agent` (`BedrockModel`) + an MCP client, making the same calls per turn
as the project's agent: on a session's first turn ListEvents (its history), every turn RetrieveMemoryRecords
(the prompt as query) and the gateway's semantic search, all three at once, then the model with the found
tools, and a CreateEvent per message. Written as a sample would write it: the memory client and the model
are built at import, the caller's token is not checked (the runtime's authorizer did that), there are no
deadlines, degradations or spans of its own. Configured by the same environment variables as the agent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from datetime import UTC, datetime
from typing import Any

import boto3
from bedrock_agentcore.runtime import BedrockAgentCoreApp, RequestContext
from mcp.client.streamable_http import streamablehttp_client
from mcp.types import Tool
from strands import Agent
from strands.models.bedrock import BedrockModel
from strands.tools.mcp import MCPClient
from strands.tools.mcp.mcp_agent_tool import MCPAgentTool

MEMORY_ID = os.environ["MEMORY_ID"]
NAMESPACE = "/facts/{actorId}"
SEARCH = "x_amz_bedrock_agentcore_search"

app = BedrockAgentCoreApp()
memory = boto3.client("bedrock-agentcore", region_name=os.environ["AWS_REGION"])
model = BedrockModel(model_id=os.environ["MODEL_ID"], region_name=os.environ["AWS_REGION"])
conversations: dict[str, list[Any]] = {}
gateways: dict[str, MCPClient] = {}


def actor_of(token: str) -> str:
    """The token's `sub`, unverified: the runtime's JWT authorizer checked the token."""
    body = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["sub"])


def history(actor: str, session: str) -> list[Any]:
    events = memory.list_events(
        memoryId=MEMORY_ID, actorId=actor, sessionId=session, includePayloads=True, maxResults=100
    )["events"]
    messages = []
    for event in reversed(events):
        for item in event.get("payload", []):
            if "conversational" in item:
                turn = item["conversational"]
                messages.append(
                    {"role": turn["role"].lower(), "content": [{"text": turn["content"]["text"]}]}
                )
    return messages


def records(actor: str, prompt: str) -> str:
    found = memory.retrieve_memory_records(
        memoryId=MEMORY_ID,
        namespace=NAMESPACE.format(actorId=actor),
        searchCriteria={"searchQuery": prompt, "topK": 3},
        maxResults=3,
    )["memoryRecordSummaries"]
    return "\n".join(record["content"]["text"] for record in found)


def tools(actor: str, token: str, prompt: str) -> list[MCPAgentTool]:
    client = gateways.get(actor)
    if client is None:
        url, headers = os.environ["GATEWAY_URL"], {"Authorization": f"Bearer {token}"}
        client = gateways[actor] = MCPClient(lambda: streamablehttp_client(url, headers=headers))
        client.start()
    result = client.call_tool_sync("search", SEARCH, {"query": prompt})
    definitions = json.loads(result["content"][0]["text"])["tools"]
    return [MCPAgentTool(Tool(**definition), client) for definition in definitions]


def write(actor: str, session: str, role: str, text: str) -> None:
    memory.create_event(
        memoryId=MEMORY_ID,
        actorId=actor,
        sessionId=session,
        eventTimestamp=datetime.now(UTC),
        payload=[{"conversational": {"content": {"text": text}, "role": role}}],
    )


@app.entrypoint
async def invoke(payload: dict[str, Any], context: RequestContext) -> Any:
    token = context.request_headers["Authorization"].split()[1]
    actor, session, prompt = actor_of(token), str(context.session_id), payload["prompt"]
    new = session not in conversations
    loaded, found, offered = await asyncio.gather(
        asyncio.to_thread(history, actor, session) if new else asyncio.sleep(0, conversations[session]),
        asyncio.to_thread(records, actor, prompt),
        asyncio.to_thread(tools, actor, token, prompt),
    )
    writes = [asyncio.ensure_future(asyncio.to_thread(write, actor, session, "USER", prompt))]
    agent = Agent(
        model=model,
        tools=offered,
        messages=loaded,
        system_prompt=f"You are a helpful assistant.\n<memory>\n{found}\n</memory>",
        callback_handler=None,
    )
    answer = []
    async for event in agent.stream_async(prompt):
        if event.get("data"):
            answer.append(event["data"])
            yield {"type": "text", "text": event["data"]}
    conversations[session] = agent.messages
    writes.append(
        asyncio.ensure_future(asyncio.to_thread(write, actor, session, "ASSISTANT", "".join(answer)))
    )
    await asyncio.gather(*writes)
    yield {"type": "end"}
