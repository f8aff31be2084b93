"""Fixtures for the Lambda tool tests: offline Powertools, moto DynamoDB with the real key schemas + seeds."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.lambda_context import LAMBDAS_DIR, SHARED_LAYER_DIR, load_handler

# Set before any handler import: Tracer/Metrics read these when the module-level router is built.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AgentCoreTools")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
if str(SHARED_LAYER_DIR) not in sys.path:
    sys.path.insert(0, str(SHARED_LAYER_DIR))

from gateway_tool.aws import dynamodb_client
from gateway_tool.dynamodb import batch_write_request, load_seed

ORDERS_TABLE = "orders-test"
INVENTORY_TABLE = "inventory-test"


def _index(name: str, partition: str, sort: str) -> dict[str, Any]:
    """A global secondary index projecting ALL, as `stacks/tools_stack.py` declares each."""
    keys = [{"AttributeName": partition, "KeyType": "HASH"}, {"AttributeName": sort, "KeyType": "RANGE"}]
    return {"IndexName": name, "KeySchema": keys, "Projection": {"ProjectionType": "ALL"}}


def _strings(*names: str) -> list[dict[str, str]]:
    return [{"AttributeName": name, "AttributeType": "S"} for name in names]


# The exact key schemas the CDK tools stack must create (documented in each handler's docstring).
TABLE_DEFINITIONS: dict[str, dict[str, Any]] = {
    "orders": {
        "TableName": ORDERS_TABLE,
        "KeySchema": [{"AttributeName": "order_id", "KeyType": "HASH"}],
        "AttributeDefinitions": _strings("order_id", "customer_id", "status", "created_at"),
        "GlobalSecondaryIndexes": [
            _index("by_customer", "customer_id", "created_at"),
            _index("by_status", "status", "created_at"),
        ],
        "BillingMode": "PAY_PER_REQUEST",
    },
    "inventory": {
        "TableName": INVENTORY_TABLE,
        "KeySchema": [{"AttributeName": "sku", "KeyType": "HASH"}],
        "AttributeDefinitions": _strings("sku", "record_type", "expires_at"),
        "GlobalSecondaryIndexes": [_index("by_expiry", "record_type", "expires_at")],  # holds only
        "BillingMode": "PAY_PER_REQUEST",
    },
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto-backed AWS with fake credentials, the table env vars set, and a fresh cached client."""
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("ORDERS_TABLE_NAME", ORDERS_TABLE)
    monkeypatch.setenv("INVENTORY_TABLE_NAME", INVENTORY_TABLE)
    with mock_aws():
        dynamodb_client.cache_clear()
        yield
    dynamodb_client.cache_clear()


def create_and_seed(function: str) -> None:
    """Create a function's table as the stack will, then seed it the way the deploy-time seeding step does."""
    client = dynamodb_client()
    definition = TABLE_DEFINITIONS[function]
    client.create_table(**definition)
    items = load_seed(LAMBDAS_DIR / function / "seed.json")
    response = client.batch_write_item(**batch_write_request(definition["TableName"], items))
    assert not response.get("UnprocessedItems")


@pytest.fixture
def tables(aws: None) -> None:
    """Both tables, created and seeded."""
    for function in TABLE_DEFINITIONS:
        create_and_seed(function)


@pytest.fixture(scope="session")
def orders() -> ModuleType:
    return load_handler(LAMBDAS_DIR / "orders")


@pytest.fixture(scope="session")
def inventory() -> ModuleType:
    return load_handler(LAMBDAS_DIR / "inventory")


@pytest.fixture(scope="session")
def hold_sweeper() -> ModuleType:
    return load_handler(LAMBDAS_DIR / "hold_sweeper")


def function_dirs() -> list[Path]:
    """Every tool function: a lambdas/<name>/ with a tools.json."""
    return sorted(path.parent for path in LAMBDAS_DIR.glob("*/tools.json"))
