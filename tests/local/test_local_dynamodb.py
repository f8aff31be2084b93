"""`make local`'s DynamoDB: item answers written as plain JSON are the answers moto's serializer writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.serialize import ResponseSerializer
from moto.dynamodb.responses import DynamoResult

from local import dynamodb
from local.dev_stage import Table

TABLE = Table(
    name="agentcore-equivalence",
    env_var="ORDERS_TABLE",
    definition={
        "TableName": "agentcore-equivalence",
        "KeySchema": [{"AttributeName": "order_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "order_id", "AttributeType": "S"},
            {"AttributeName": "customer_id", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by-customer",
                "KeySchema": [{"AttributeName": "customer_id", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    },
)
NAME = TABLE.name
ORDER = {
    "order_id": {"S": "ORD-1"},
    "customer_id": {"S": "CUST-001"},
    "total": {"N": "138.99"},
    "items": {"L": [{"M": {"sku": {"S": "SKU-1"}, "quantity": {"N": "2"}}}]},
    "tags": {"SS": ["gift", "express"]},
    "gift": {"BOOL": True},
    "note": {"NULL": True},
}
SIGNED = {"order_id": {"S": "ORD-2"}, "customer_id": {"S": "CUST-002"}, "receipt": {"B": b"\x00\x01\xff"}}


def calls(client: Any) -> list[Any]:
    """The item operations the tool handlers and the stage make, in order; their parsed answers."""

    def run(name: str, **arguments: Any) -> Any:
        try:
            answer = getattr(client, name)(**arguments)
        except client.exceptions.ClientError as error:
            return (name, error.response["Error"]["Code"])
        answer.pop("ResponseMetadata", None)
        return (name, answer)

    return [
        run("put_item", TableName=NAME, Item=ORDER),
        run("put_item", TableName=NAME, Item=SIGNED, ReturnConsumedCapacity="TOTAL"),
        run("get_item", TableName=NAME, Key={"order_id": {"S": "ORD-1"}}, ConsistentRead=True),
        run("get_item", TableName=NAME, Key={"order_id": {"S": "ORD-2"}}),
        run("get_item", TableName=NAME, Key={"order_id": {"S": "missing"}}),
        run(
            "query",
            TableName=NAME,
            IndexName="by-customer",
            KeyConditionExpression="customer_id = :c",
            ExpressionAttributeValues={":c": {"S": "CUST-001"}},
        ),
        run("scan", TableName=NAME, Limit=1),
        run(
            "update_item",
            TableName=NAME,
            Key={"order_id": {"S": "ORD-1"}},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "CANCELLED"}},
            ReturnValues="ALL_NEW",
        ),
        run(
            "update_item",
            TableName=NAME,
            Key={"order_id": {"S": "ORD-1"}},
            UpdateExpression="SET #s = :s",
            ConditionExpression="#s = :was",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "SHIPPED"}, ":was": {"S": "PENDING"}},
        ),
        run("batch_get_item", RequestItems={NAME: {"Keys": [{"order_id": {"S": "ORD-1"}}]}}),
        run(
            "transact_write_items",
            TransactItems=[{"Put": {"TableName": NAME, "Item": {"order_id": {"S": "X"}}}}],
        ),
        run("delete_item", TableName=NAME, Key={"order_id": {"S": "ORD-2"}}, ReturnValues="ALL_OLD"),
    ]


@pytest.fixture
def local_dynamodb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dynamodb.LocalDynamoDB]:
    """The local stage's moto server with the table; moto's own answers come back after the test."""
    monkeypatch.setattr(DynamoResult, "execute_result", DynamoResult.execute_result)
    server = dynamodb.LocalDynamoDB(tmp_path, [TABLE], "us-east-1").start()
    try:
        yield server
    finally:
        server.stop()


def serializer_uses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each answer moto's shape-driven serializer writes."""
    used: list[str] = []
    real: Callable[..., Any] = ResponseSerializer.serialize

    def counted(self: ResponseSerializer, result: Any) -> Any:
        used.append(type(result).__name__)
        return real(self, result)

    monkeypatch.setattr(ResponseSerializer, "serialize", counted)
    return used


def test_plain_json_answers_are_moto_serializer_answers(
    local_dynamodb: dynamodb.LocalDynamoDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = calls(local_dynamodb.client())
    monkeypatch.setattr(DynamoResult, "execute_result", dynamodb._serialized)
    with mock_aws():
        reference = boto3.client("dynamodb", region_name="us-east-1")
        reference.create_table(BillingMode="PAY_PER_REQUEST", **TABLE.definition)
        expected = calls(reference)
    assert fast == expected
    assert ("update_item", "ConditionalCheckFailedException") in fast
    assert fast[3][1]["Item"]["receipt"] == {"B": b"\x00\x01\xff"}  # bytes: through the serializer


def test_an_order_is_read_without_the_serializer(
    local_dynamodb: dynamodb.LocalDynamoDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = local_dynamodb.client()
    client.put_item(TableName=NAME, Item=ORDER)
    used = serializer_uses(monkeypatch)
    answer = client.get_item(TableName=NAME, Key={"order_id": {"S": "ORD-1"}}, ConsistentRead=True)
    assert answer["Item"] == ORDER and used == []
