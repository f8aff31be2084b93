"""Holds under attack: hoarding across products, cancelled transactions, someone else's order id."""

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
IN_STOCK = ["SKU-1001", "SKU-1004", "SKU-2001", "SKU-3001", "SKU-4001"]  # each has at least 5 available


def call(inventory: ModuleType, tool: str, args: dict[str, Any], caller: dict[str, Any]) -> dict[str, Any]:
    return inventory.lambda_handler(as_caller(args, caller), gateway_context("inventory", tool))


def stock(inventory: ModuleType, sku: str) -> tuple[int, int]:
    level = call(inventory, "check_stock", {"sku": sku}, OPERATOR)
    return level["available"], level["reserved"]


def hold_item(inventory: ModuleType, holder: str, sku: str) -> dict[str, Any]:
    key = {"sku": {"S": f"HOLD#{holder}#{sku}"}}
    return inventory.dynamodb_client().get_item(TableName=INVENTORY_TABLE, Key=key).get("Item", {})


def test_a_customer_cannot_hoard_across_products(inventory: ModuleType) -> None:
    limit = inventory.CUSTOMER_UNITS_HELD_TOTAL
    per_product = inventory.CUSTOMER_UNITS_HELD_PER_SKU
    products = IN_STOCK[: limit // per_product]
    for sku in products:
        assert call(inventory, "reserve_stock", {"sku": sku, "quantity": per_product}, CUSTOMER_A)[
            "held_by_you"
        ]
    before = stock(inventory, IN_STOCK[-1])
    error = call(inventory, "reserve_stock", {"sku": IN_STOCK[-1], "quantity": 1}, CUSTOMER_A)["error"]
    assert (error["code"], error["limit"], error["held_total"]) == ("RESOURCE_EXHAUSTED", limit, limit)
    assert "across all products" in error["message"]
    assert stock(inventory, IN_STOCK[-1]) == before  # refused whole
    assert (
        call(inventory, "reserve_stock", {"sku": IN_STOCK[-1], "quantity": 1}, CUSTOMER_B)["held_by_you"] == 1
    )
    call(inventory, "release_stock", {"sku": products[0]}, CUSTOMER_A)  # releasing makes room again
    assert (
        call(inventory, "reserve_stock", {"sku": IN_STOCK[-1], "quantity": 1}, CUSTOMER_A)["held_by_you"] == 1
    )


def test_the_total_cap_is_a_setting(inventory: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_UNITS_HELD_PER_CUSTOMER", "7")
    assert (
        call(inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 5}, CUSTOMER_A)["held_by_you"] == 5
    )
    error = call(inventory, "reserve_stock", {"sku": "SKU-1004", "quantity": 3}, CUSTOMER_A)["error"]
    assert (error["code"], error["limit"]) == ("RESOURCE_EXHAUSTED", 7)
    assert (
        call(inventory, "reserve_stock", {"sku": "SKU-1004", "quantity": 2}, CUSTOMER_A)["held_by_you"] == 2
    )


@pytest.mark.parametrize("bad", ["0", "-3", "many", "1.5"])
def test_a_bad_cap_setting_is_a_one_line_internal_error(
    inventory: ModuleType, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("MAX_UNITS_HELD_PER_CUSTOMER", bad)
    error = call(inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 1}, CUSTOMER_A)["error"]
    assert error["code"] == "INTERNAL" and "MAX_UNITS_HELD_PER_CUSTOMER" in error["message"]
    assert stock(inventory, "SKU-1001") == (42, 0)


def test_concurrent_reservations_of_different_products_cannot_pass_the_total_together(
    inventory: ModuleType,
) -> None:
    """All four pass the check before the transaction (their reads happen before any commit); only the
    condition on the ledger, inside each transaction, can keep them under the cap."""
    for sku in IN_STOCK[:2]:
        call(inventory, "reserve_stock", {"sku": sku, "quantity": 5}, CUSTOMER_A)  # 10 of 15 held
    contenders = [*IN_STOCK[2:], "SKU-5001"]
    before = {sku: stock(inventory, sku) for sku in contenders}
    client = inventory.dynamodb_client()
    with (
        serialized_transactions(client, parties=len(contenders)),
        ThreadPoolExecutor(len(contenders)) as pool,
    ):
        results = list(
            pool.map(
                lambda sku: call(inventory, "reserve_stock", {"sku": sku, "quantity": 4}, CUSTOMER_A),
                contenders,
            )
        )
    won = [sku for sku, result in zip(contenders, results, strict=True) if "error" not in result]
    assert len(won) == 1
    assert {result["error"]["code"] for result in results if "error" in result} == {"RESOURCE_EXHAUSTED"}
    for sku in contenders:
        available, reserved = before[sku]
        moved = 4 if sku in won else 0
        assert stock(inventory, sku) == (available - moved, reserved + moved)
    ledger = client.get_item(TableName=INVENTORY_TABLE, Key={"sku": {"S": "HOLDER#CUST-001"}})["Item"]
    assert ledger["units_held"] == {"N": "14"}


@pytest.mark.parametrize(
    ("codes", "code"),
    [
        (["None", "TransactionConflict", "None"], "CONFLICT"),
        (["TransactionConflict", "None", "None"], "CONFLICT"),
        (["ThrottlingError", "None", "None"], "UNAVAILABLE"),
        (["None", "ValidationError", "None"], "INTERNAL"),
    ],
)
def test_a_cancelled_release_is_reported_and_the_hold_stays(
    inventory: ModuleType, codes: list[str], code: str
) -> None:
    call(inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 3}, CUSTOMER_A)
    with cancelled_transactions(inventory.dynamodb_client(), codes) as sent:
        result = call(inventory, "release_stock", {"sku": "SKU-1001"}, CUSTOMER_A)
    assert sent  # the transaction was sent, and DynamoDB's reply cancelled it
    assert result["error"]["code"] == code
    assert result["error"]["retryable"] is (code != "INTERNAL")
    assert "released" not in result
    assert stock(inventory, "SKU-1001") == (39, 3)
    assert hold_item(inventory, "CUST-001", "SKU-1001")["quantity"] == {"N": "3"}


def test_a_conflicting_reservation_is_a_retryable_conflict_not_out_of_stock(inventory: ModuleType) -> None:
    with cancelled_transactions(inventory.dynamodb_client(), ["None", "TransactionConflict", "None"]):
        error = call(inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 1}, CUSTOMER_A)["error"]
    assert (error["code"], error["retryable"]) == ("CONFLICT", True)
    assert stock(inventory, "SKU-1001") == (42, 0)


def test_a_hold_refuses_another_customers_order(inventory: ModuleType) -> None:
    refused = call(
        inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 2, "order_id": "ORD-1004"}, CUSTOMER_A
    )["error"]
    assert refused["code"] == "PERMISSION_DENIED" and "ORD-1004" in refused["message"]
    assert stock(inventory, "SKU-1001") == (42, 0)
    assert hold_item(inventory, "CUST-001", "SKU-1001") == {}
    unknown = call(
        inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 2, "order_id": "ORD-9999"}, CUSTOMER_A
    )["error"]
    assert unknown["code"] == "PERMISSION_DENIED"  # a customer is not told which orders exist
    own = call(
        inventory, "reserve_stock", {"sku": "SKU-1001", "quantity": 2, "order_id": "ORD-1001"}, CUSTOMER_A
    )
    assert own["held_by_you"] == 2
    assert hold_item(inventory, "CUST-001", "SKU-1001")["order_id"] == {"S": "ORD-1001"}


def test_an_operator_may_name_any_existing_order(inventory: ModuleType) -> None:
    args = {"sku": "SKU-1001", "quantity": 2, "order_id": "ORD-1004"}
    assert call(inventory, "reserve_stock", args, OPERATOR)["held_by_you"] == 2
    missing = call(inventory, "reserve_stock", {**args, "order_id": "ORD-9999"}, OPERATOR)["error"]
    assert missing["code"] == "NOT_FOUND"
