"""The local Memory (SQLite) and Identity behind one endpoint, through the real boto3 client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from local.data_plane import DataPlane
from local.identity_server import IdentityServer
from local.memory_store import MemoryStore

MEMORY = "local_memory-abcdefghij"
NAMESPACES = {
    "facts": "/facts/{actorId}",
    "preferences": "/preferences/{actorId}",
    "summaries": "/summaries/{actorId}/{sessionId}",
}
SESSION = "s" * 33


@pytest.fixture
def endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    identity = IdentityServer(access_token="m2m").start()
    store = MemoryStore(tmp_path / "memory.sqlite3", memory_id=MEMORY, namespaces=NAMESPACES)
    plane = DataPlane(memory=store, identity_url=identity.endpoint_url).start()
    yield plane.endpoint_url, tmp_path / "memory.sqlite3"
    plane.stop()
    store.close()
    identity.stop()


def client(url: str):
    return boto3.client("bedrock-agentcore", region_name="us-east-1", endpoint_url=url)


def write(api, actor: str, text: str, role: str = "USER", at: datetime | None = None) -> None:
    api.create_event(
        memoryId=MEMORY,
        actorId=actor,
        sessionId=SESSION,
        eventTimestamp=at or datetime.now(UTC),
        payload=[{"conversational": {"content": {"text": text}, "role": role}}],
    )


def test_events_list_newest_first_with_paging_and_survive_a_restart(endpoint):
    url, path = endpoint
    api = client(url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for index in range(3):
        write(api, "alice", f"message {index}", at=start + timedelta(seconds=index))
    write(api, "bob", "not alice's")
    page = api.list_events(
        memoryId=MEMORY, actorId="alice", sessionId=SESSION, maxResults=2, includePayloads=True
    )
    texts = [e["payload"][0]["conversational"]["content"]["text"] for e in page["events"]]
    assert texts == ["message 2", "message 1"]
    rest = api.list_events(memoryId=MEMORY, actorId="alice", sessionId=SESSION, nextToken=page["nextToken"])
    assert [e["payload"][0]["conversational"]["content"]["text"] for e in rest["events"]] == ["message 0"]
    reopened = MemoryStore(path, memory_id=MEMORY, namespaces=NAMESPACES)
    status, body = reopened.respond("POST", f"/memories/{MEMORY}/actor/alice/sessions/{SESSION}", {})
    reopened.close()
    assert status == 200 and len(body["events"]) == 3


def test_retrieval_is_lexical_per_actor_namespace_and_extraction_is_emulated(endpoint):
    url, _ = endpoint
    api = client(url)

    def search(namespace: str, query: str) -> list[str]:
        found = api.retrieve_memory_records(
            memoryId=MEMORY, namespace=namespace, searchCriteria={"searchQuery": query, "topK": 5}
        )["memoryRecordSummaries"]
        assert all(record["namespaces"] == [namespace] for record in found)
        return [record["content"]["text"] for record in found]

    write(api, "alice", "I prefer express shipping for my orders")
    write(api, "alice", "my dog is called Rex")
    assert search("/facts/alice", "shipping") == []  # a turn's prompt is extracted once it was answered
    write(api, "alice", "the assistant's words are not extracted", role="ASSISTANT")
    write(api, "bob", "I prefer express shipping too")
    write(api, "bob", "noted", role="ASSISTANT")

    assert search("/facts/alice", "what shipping do I like?") == ["I prefer express shipping for my orders"]
    assert search("/preferences/alice", "shipping dog") == ["I prefer express shipping for my orders"]
    assert search("/facts/alice", "assistant words") == []
    summary = search(f"/summaries/alice/{SESSION}", "dog")
    assert len(summary) == 1 and "express shipping" in summary[0] and "Rex" in summary[0]
    assert search("/facts/bob", "shipping") == ["I prefer express shipping too"]


def test_a_fact_said_again_is_not_filed_again(endpoint):
    """The service consolidates what it extracts; the emulation keeps one record of the same words."""
    url, _ = endpoint
    api = client(url)
    for text in ("Where is my order ORD-1001?", "where is my  order ORD-1001?", "Where is ORD-1002?"):
        write(api, "alice", text)
        write(api, "alice", "It is on its way.", role="ASSISTANT")
    found = api.retrieve_memory_records(
        memoryId=MEMORY,
        namespace="/facts/alice",
        searchCriteria={"searchQuery": "where is my order", "topK": 5},
    )["memoryRecordSummaries"]
    assert sorted(record["content"]["text"] for record in found) == [
        "Where is ORD-1002?",
        "Where is my order ORD-1001?",
    ]


def test_unknown_memory_is_refused_like_the_service(endpoint):
    url, _ = endpoint
    with pytest.raises(ClientError) as error:
        client(url).list_events(memoryId="other_memory-abcdefghij", actorId="a", sessionId=SESSION)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_identity_calls_reach_the_identity_emulator(endpoint):
    url, _ = endpoint
    token = client(url).get_resource_oauth2_token(
        workloadIdentityToken="w", resourceCredentialProviderName="p", scopes=["s"], oauth2Flow="M2M"
    )
    assert token["accessToken"] == "m2m"
