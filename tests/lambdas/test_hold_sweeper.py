"""The expired-hold sweeper on moto DynamoDB: lapsed holds come back once, whoever held them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import pytest

from local.lambda_context import gateway_context
from tests.doubles.callers import CUSTOMER_A, CUSTOMER_B, OPERATOR, as_caller
from tests.doubles.dynamodb_transactions import cancelled_transactions, serialized_transactions
from tests.lambdas.conftest import INVENTORY_TABLE

pytestmark = pytest.mark.usefixtures("tables")
PAST = "2000-01-01T00:00:00Z"


def call(inventory: ModuleType, tool: str, args: dict[str, Any], caller: dict[str, Any]) -> dict[str, Any]:
    return inventory.lambda_handler(as_caller(args, caller), gateway_context("inventory", tool))


def stock(inventory: ModuleType, sku: str) -> tuple[int, int]:
    level = call(inventory, "check_stock", {"sku": sku}, OPERATOR)
    return level["available"], level["reserved"]


def lapse(inventory: ModuleType, holder: str, sku: str) -> None:
    """Move a hold's expiry into the past, as time would."""
    inventory.dynamodb_client().update_item(
        TableName=INVENTORY_TABLE,
        Key={"sku": {"S": f"HOLD#{holder}#{sku}"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"S": PAST}},
    )


def units_held(inventory: ModuleType, holder: str) -> int:
    key = {"sku": {"S": f"HOLDER#{holder}"}}
    item = inventory.dynamodb_client().get_item(TableName=INVENTORY_TABLE, Key=key)["Item"]
    return int(item["units_held"]["N"])


def sweep(hold_sweeper: ModuleType) -> dict[str, int]:
    return hold_sweeper.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, None)


def test_lapsed_holds_are_returned_without_their_holder(
    inventory: ModuleType, hold_sweeper: ModuleType
) -> None:
    call(inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 5}, CUSTOMER_A)
    call(inventory, "reserve_stock", {"sku": "SKU-4001", "quantity": 3}, CUSTOMER_A)
    call(inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 2}, CUSTOMER_B)  # not lapsed: stays
    lapse(inventory, "CUST-001", "SKU-1001")
    lapse(inventory, "CUST-001", "SKU-4001")
    assert sweep(hold_sweeper) == {"returned": 2, "units": 8, "skipped": 0, "failed": 0}
    assert stock(inventory, "SKU-1001") == (40, 2)
    assert stock(inventory, "SKU-4001") == (15, 0)
    assert units_held(inventory, "CUST-001") == 0
    assert units_held(inventory, "CUST-002") == 2
    assert call(inventory, "release_stock", {"sku": "SKU-1001"}, CUSTOMER_A)["released"] == 0


def test_a_second_run_changes_nothing(inventory: ModuleType, hold_sweeper: ModuleType) -> None:
    call(inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 5}, CUSTOMER_A)
    lapse(inventory, "CUST-001", "SKU-1001")
    assert sweep(hold_sweeper)["returned"] == 1
    after_first = stock(inventory, "SKU-1001")
    assert sweep(hold_sweeper) == {"returned": 0, "units": 0, "skipped": 0, "failed": 0}
    assert stock(inventory, "SKU-1001") == after_first == (42, 0)


def test_a_hold_renewed_since_the_index_was_read_is_left_alone(
    inventory: ModuleType, hold_sweeper: ModuleType
) -> None:
    """The index said lapsed, the table says renewed: the transaction's condition decides."""
    call(inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 2}, CUSTOMER_A)
    lapse(inventory, "CUST-001", "SKU-1001")
    (seen,) = hold_sweeper.lapsed_holds(INVENTORY_TABLE, hold_sweeper.stock_holds.now())
    call(
        inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 1}, CUSTOMER_A
    )  # returns it, holds 1 anew
    assert (
        hold_sweeper.stock_holds.return_hold(INVENTORY_TABLE, seen, lapsed_by=hold_sweeper.stock_holds.now())
        is False
    )
    assert stock(inventory, "SKU-1001") == (41, 1)
    assert units_held(inventory, "CUST-001") == 1


def test_the_sweep_and_a_concurrent_release_return_a_hold_once(
    inventory: ModuleType, hold_sweeper: ModuleType
) -> None:
    call(inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 5}, CUSTOMER_A)
    lapse(inventory, "CUST-001", "SKU-1001")
    client = inventory.dynamodb_client()
    with serialized_transactions(client, parties=2), ThreadPoolExecutor(2) as pool:
        swept = pool.submit(sweep, hold_sweeper)
        released = pool.submit(call, inventory, "release_stock", {"sku": "SKU-1001"}, CUSTOMER_A)
        outcome, release = swept.result(), released.result()
    assert stock(inventory, "SKU-1001") == (42, 0)  # 5 units back, not 10
    assert units_held(inventory, "CUST-001") == 0
    release_won = "error" not in release
    assert outcome["returned"] == (0 if release_won else 1)
    assert outcome["skipped"] == (1 if release_won else 0)
    if not release_won:
        assert release["error"]["code"] == "CONFLICT"  # retrying finds nothing left to release


def test_a_failed_return_is_left_for_the_next_run(inventory: ModuleType, hold_sweeper: ModuleType) -> None:
    call(inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 5}, CUSTOMER_A)
    lapse(inventory, "CUST-001", "SKU-1001")
    with cancelled_transactions(inventory.dynamodb_client(), ["None", "TransactionConflict", "None"]):
        assert sweep(hold_sweeper) == {"returned": 0, "units": 0, "skipped": 0, "failed": 1}
    assert stock(inventory, "SKU-1001") == (37, 5)
    assert sweep(hold_sweeper)["returned"] == 1
    assert stock(inventory, "SKU-1001") == (42, 0)


def test_the_sweep_reads_the_expiry_index_not_the_table(
    inventory: ModuleType, hold_sweeper: ModuleType
) -> None:
    client, queries = inventory.dynamodb_client(), []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        queries.append((model.name, params.get("IndexName")))

    client.meta.events.register("provide-client-params.dynamodb.*", record)
    try:
        sweep(hold_sweeper)
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.*", record)
    assert queries == [("Query", "by_expiry")]
