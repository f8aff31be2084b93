"""Token budgets: charged per verified caller, refused before the model once spent, reset daily, race-free.

The usage table lives in the local DynamoDB (a moto server spoken to over HTTP, as the agent speaks to
DynamoDB); the model is the local ConverseStream server, whose `metadata.usage` is what gets charged.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from agentcore_agent.app import create_app
from agentcore_agent.model_retries import ModelRetries
from agentcore_agent.token_budget import LEASE_SECONDS, Admission, Refusal, TokenBudget

from local.dev_stage import Table
from local.dynamodb import LocalDynamoDB
from local.scripted_model import Text
from local.scripted_turns import USAGE
from tests.agent.bedrock_fixtures import FAST_RETRIES, scripted_model_id
from tests.agent.conftest import SESSION_A, SESSION_B, Server, serve, settings
from tests.ports import refused_port

pytest_plugins = ["tests.agent.bedrock_fixtures"]

TABLE = "local-token-usage"
DEFINITION = {
    "TableName": TABLE,
    "KeySchema": [{"AttributeName": "usage_key", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "usage_key", "AttributeType": "S"}],
}
NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC).timestamp()
PER_CALL = USAGE["inputTokens"] + USAGE["outputTokens"]  # what the ConverseStream double reports per call


class Clock:
    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def dynamodb(tmp_path_factory):
    local = LocalDynamoDB(
        tmp_path_factory.mktemp("usage"), [Table(TABLE, "TOKEN_BUDGET_TABLE", DEFINITION)], "us-east-1"
    )
    local.start()
    yield local
    local.stop()


@pytest.fixture
def client(dynamodb):
    client = dynamodb.client()
    for item in client.scan(TableName=TABLE)["Items"]:
        client.delete_item(TableName=TABLE, Key={"usage_key": item["usage_key"]})
    return client


def budget(client, clock=None, **limits) -> TokenBudget:
    return TokenBudget(
        client, TABLE, {"user": 100, "operator": 1_000, "machine": 500, **limits}, clock=clock or Clock()
    )


def used(client, actor: str, day: str = "2026-12-07") -> int:
    item = client.get_item(TableName=TABLE, Key={"usage_key": {"S": f"{actor}#{day}"}}).get("Item")
    return int(item["used"]["N"]) if item else 0


def test_a_spent_budget_refuses_the_next_turn_and_says_when_it_resets(client):
    guard = budget(client)
    for _ in range(2):
        admitted = guard.admit("alice", "user")
        assert isinstance(admitted, Admission)
        guard.charge(admitted, 60)
    refused = guard.admit("alice", "user")
    assert refused == Refusal(
        "TokenBudgetExhausted",
        "You have used today's token budget (100 tokens). It resets at 00:00 UTC, in 12 h 00 min.",
        False,
    )
    assert used(client, "alice") == 120  # one turn over, never more


def test_the_budget_resets_at_midnight_utc_and_the_day_expires_by_ttl(client):
    clock = Clock()
    guard = budget(client, clock)
    admitted = guard.admit("alice", "user")
    guard.charge(admitted, 150)
    assert isinstance(guard.admit("alice", "user"), Refusal)
    clock.now = datetime(2026, 12, 8, 0, 0, 1, tzinfo=UTC).timestamp()
    assert isinstance(guard.admit("alice", "user"), Admission)
    item = client.get_item(TableName=TABLE, Key={"usage_key": {"S": "alice#2026-12-07"}})["Item"]
    assert int(item["expires_at"]["N"]) == datetime(2026, 12, 10, tzinfo=UTC).timestamp()


def test_each_caller_and_each_kind_has_its_own_budget(client):
    guard = budget(client)
    guard.charge(guard.admit("alice", "user"), 100)
    assert isinstance(guard.admit("alice", "user"), Refusal)
    assert isinstance(guard.admit("bob", "user"), Admission)
    guard.charge(guard.admit("olivia", "operator"), 900)
    assert isinstance(guard.admit("olivia", "operator"), Admission)  # 900 of 1,000


def test_parallel_admissions_never_see_the_same_state(client):
    """Each admission is a conditional write on the item's version: with a budget smaller than a turn's
    floor, exactly one of many simultaneous turns of one caller runs; the others are told to wait."""
    guard = budget(client)
    barrier = threading.Barrier(8)
    outcomes: list[Admission | Refusal] = []

    def turn() -> None:
        barrier.wait()
        outcomes.append(guard.admit("alice", "user"))

    threads = [threading.Thread(target=turn) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    admitted = [o for o in outcomes if isinstance(o, Admission)]
    assert len(admitted) == 1, outcomes
    assert {o.code for o in outcomes if isinstance(o, Refusal)} == {"TokenBudgetBusy"}


def test_parallel_turns_run_together_while_they_all_fit(client):
    guard = budget(client, user=100_000)
    assert all(isinstance(guard.admit("alice", "user"), Admission) for _ in range(10))


def test_a_turn_whose_process_died_stops_counting_after_its_lease(client):
    clock = Clock()
    guard = budget(client, clock)
    assert isinstance(guard.admit("alice", "user"), Admission)  # never charged: its process died
    assert isinstance(guard.admit("alice", "user"), Refusal)
    clock.now += LEASE_SECONDS + 1
    assert isinstance(guard.admit("alice", "user"), Admission)


def test_an_unreachable_table_refuses_the_turn_as_retryable():
    import boto3

    unreachable = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{refused_port()}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    refused = budget(unreachable).admit("alice", "user")
    assert isinstance(refused, Refusal) and refused.code == "TokenBudgetUnavailable" and refused.retryable


# -- through the agent's HTTP server, with the model's usage from the ConverseStream double -----------------


@pytest.fixture
def agent(bedrock, client, issuer, auth_env):
    """The agent with a user budget of one model call and a half: the second turn overspends it (by less
    than a turn), the third is refused."""
    model_id = scripted_model_id("budget")
    bedrock.script(Text("Answered."), model_id=model_id)
    guard = budget(client, user=PER_CALL + PER_CALL // 2)
    app = create_app(
        settings(MODEL_ID=model_id, **auth_env),
        retry_factory=lambda: ModelRetries(**FAST_RETRIES),
        budget=guard,
    )
    with serve(app) as port:
        yield Server(port=port)


def test_turns_are_charged_the_models_usage_and_refused_before_the_model_once_spent(
    agent, bedrock, client, issuer
):
    token = issuer.mint(sub="alice-sub", client_id="client-a")
    for session in (SESSION_A, SESSION_B):
        reply = agent.post({"prompt": "hi"}, session=session, token=token)
        assert reply.events[-1]["type"] == "end"
    assert used(client, "alice-sub") == 2 * PER_CALL
    calls = len(bedrock.requests)
    reply = agent.post({"prompt": "once more"}, session=SESSION_A, token=token)
    assert reply.status == 200
    (event,) = reply.events  # nothing streamed before it: the model was not called
    assert event["type"] == "error" and event["error"] == "TokenBudgetExhausted"
    assert event["message"].startswith("You have used today's token budget") and not event["retryable"]
    assert len(bedrock.requests) == calls
    other = agent.post(
        {"prompt": "hi"}, session=SESSION_B, token=issuer.mint(sub="bob-sub", client_id="client-a")
    )
    assert other.events[-1]["type"] == "end"  # bob's budget is his own


def test_parallel_turns_of_one_user_overspend_by_at_most_one_turn(agent, client, issuer):
    token = issuer.mint(sub="alice-sub", client_id="client-a")
    sessions = [f"session-{n}-0123456789-0123456789-0123456789" for n in range(6)]
    replies: dict[str, list[dict]] = {}
    barrier = threading.Barrier(len(sessions))

    def turn(session: str) -> None:
        barrier.wait()
        replies[session] = agent.post({"prompt": "hi"}, session=session, token=token).events

    threads = [threading.Thread(target=turn, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = [events[-1].get("error", events[-1]["type"]) for events in replies.values()]
    assert set(outcomes) <= {"end", "TokenBudgetBusy", "TokenBudgetExhausted"}, outcomes
    assert "end" in outcomes
    assert used(client, "alice-sub") <= PER_CALL + PER_CALL // 2 + PER_CALL  # the budget plus one turn


def test_two_processes_of_one_user_keep_one_consistent_count(client):
    """Each process writes against the item as it last wrote it; a change made by the other one fails the
    condition, is read, and the write is redone: no charge is lost and no refusal rests on stale state."""
    first, second = budget(client), budget(client)
    turn = first.admit("alice", "user")
    assert isinstance(turn, Admission)
    second.charge(turn, 30)  # the other process ends the turn (as a later session would see it end)
    again = first.admit("alice", "user")
    assert isinstance(again, Admission)  # not refused for the turn it last saw running
    first.charge(again, 30)
    third = second.admit("alice", "user")  # second's copy is stale: 30 used, not 60
    assert isinstance(third, Admission)
    second.charge(third, 50)
    assert used(client, "alice") == 110
    refused = first.admit("alice", "user")  # first's copy says 60 of 100: the refusal is decided on 110
    assert isinstance(refused, Refusal) and refused.code == "TokenBudgetExhausted"
