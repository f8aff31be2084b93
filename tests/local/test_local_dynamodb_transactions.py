"""The local DynamoDB makes transactions atomic under concurrency, as the service does.

Rounds of twenty parallel reservations, each a TransactWriteItems moving one unit from the stock to a
new hold; half
are cancelled by their second item (the hold already exists), after their first was applied. Afterwards
stock and holds must agree: every unit that left `available` is in `reserved`, and `reserved` is what the
granted holds add up to. moto alone copies the tables before a transaction and puts the copies back when
one is cancelled, so a concurrent call's copy can hold a cancelled call's half-applied update, or a
restore can undo a concurrent granted call.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from local import dynamodb
from local.dev_stage import Table

NAME = "agentcore-transactions"
TABLE = Table(
    name=NAME,
    env_var="STOCK_TABLE",
    definition={
        "TableName": NAME,
        "KeySchema": [{"AttributeName": "sku", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "sku", "AttributeType": "S"}],
    },
)
STOCK = 200
CALLS = 20
ROUNDS = 4  # each round's interleaving is left to the scheduler; four make a lucky pass unlikely
FILLER = 300  # other items: moto's table copy per transaction takes long enough for calls to overlap


@pytest.fixture
def local_dynamodb(tmp_path: Path) -> Iterator[dynamodb.LocalDynamoDB]:
    server = dynamodb.LocalDynamoDB(tmp_path, [TABLE], "us-east-1").start()
    try:
        yield server
    finally:
        server.stop()


def _reserve(client: Any, n: int, round_: int) -> bool:
    """One unit from the stock to hold `n`, in one transaction; False when it was cancelled (odd `n`: the
    hold exists already)."""
    try:
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": NAME,
                        "Key": {"sku": {"S": "SKU-1"}},
                        "UpdateExpression": "SET available = available - :one, reserved = reserved + :one",
                        "ConditionExpression": "available >= :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {
                    "Put": {
                        "TableName": NAME,
                        "Item": {"sku": {"S": f"HOLD-{round_}-{n}"}, "quantity": {"N": "1"}},
                        "ConditionExpression": "attribute_not_exists(sku)",
                    }
                },
            ]
        )
    except client.exceptions.TransactionCanceledException:
        return False
    return True


def test_parallel_reservations_keep_stock_and_holds_equal(local_dynamodb: dynamodb.LocalDynamoDB) -> None:
    setup = local_dynamodb.client()
    setup.put_item(
        TableName=NAME, Item={"sku": {"S": "SKU-1"}, "available": {"N": str(STOCK)}, "reserved": {"N": "0"}}
    )
    for round_ in range(ROUNDS):
        for n in range(1, CALLS, 2):
            hold = {"sku": {"S": f"HOLD-{round_}-{n}"}, "quantity": {"N": "0"}}
            setup.put_item(TableName=NAME, Item=hold)
    for n in range(FILLER):
        setup.put_item(TableName=NAME, Item={"sku": {"S": f"OTHER-{n}"}, "padding": {"S": "x" * 200}})
    clients = [local_dynamodb.client() for _ in range(CALLS)]  # one connection each: all run at once
    granted = 0
    with ThreadPoolExecutor(CALLS) as pool:
        for round_ in range(ROUNDS):
            granted += sum(pool.map(_reserve, clients, range(CALLS), [round_] * CALLS))

    stock = setup.get_item(TableName=NAME, Key={"sku": {"S": "SKU-1"}}, ConsistentRead=True)["Item"]
    held = sum(
        int(item["quantity"]["N"])
        for page in setup.get_paginator("scan").paginate(TableName=NAME)
        for item in page["Items"]
        if item["sku"]["S"].startswith("HOLD-")
    )
    available, reserved = int(stock["available"]["N"]), int(stock["reserved"]["N"])
    assert granted == ROUNDS * CALLS // 2
    assert (available, reserved, held) == (STOCK - granted, granted, granted)
