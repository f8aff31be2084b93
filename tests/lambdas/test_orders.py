"""The orders tools through their real handler, with gateway-shaped events and contexts, on moto DynamoDB."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from local.lambda_context import gateway_context
from tests.doubles.callers import OPERATOR, as_caller

pytestmark = pytest.mark.usefixtures("tables")
Caller = dict[str, Any] | None


def call(
    orders: ModuleType, tool: str, args: Any, caller: dict[str, Any] | None = OPERATOR
) -> dict[str, Any]:
    return orders.lambda_handler(as_caller(args, caller), gateway_context("orders", tool))


def test_get_order_returns_the_full_order(orders: ModuleType) -> None:
    order = call(orders, "get_order", {"order_id": "ORD-1002"})["order"]
    assert order["customer_id"] == "CUST-001"
    assert order["status"] == "SHIPPED"
    assert order["total"] == 149.0
    assert order["items"] == [
        {"sku": "SKU-3001", "name": "Waterproof hiking jacket", "quantity": 1, "unit_price": 149.0}
    ]
    assert [entry["status"] for entry in order["status_history"]] == ["PENDING", "CONFIRMED", "SHIPPED"]


def test_get_order_unknown_id_is_not_found(orders: ModuleType) -> None:
    result = call(orders, "get_order", {"order_id": "ORD-9999"})
    assert result["error"]["code"] == "NOT_FOUND"
    assert "ORD-9999" in result["error"]["message"]
    assert result["error"]["retryable"] is False


def test_list_orders_by_customer_newest_first(orders: ModuleType) -> None:
    result = call(orders, "list_orders", {"customer_id": "CUST-001"})
    assert [o["order_id"] for o in result["orders"]] == ["ORD-1003", "ORD-1002", "ORD-1001"]
    assert result["count"] == 3
    assert result["next_token"] is None
    assert result["orders"][2]["item_count"] == 3


def test_list_orders_by_customer_and_status(orders: ModuleType) -> None:
    result = call(orders, "list_orders", {"customer_id": "CUST-003", "status": "SHIPPED"})
    assert [o["order_id"] for o in result["orders"]] == ["ORD-1008"]


def test_list_orders_by_status_pages_with_next_token(orders: ModuleType) -> None:
    first = call(orders, "list_orders", {"status": "PENDING", "limit": 2})
    assert [o["order_id"] for o in first["orders"]] == ["ORD-1010", "ORD-1006"]
    assert first["next_token"]
    second = call(orders, "list_orders", {"status": "PENDING", "limit": 2, "next_token": first["next_token"]})
    assert [o["order_id"] for o in second["orders"]] == ["ORD-1003"]


def test_list_orders_needs_a_filter(orders: ModuleType) -> None:
    result = call(orders, "list_orders", {})
    assert result["error"]["code"] == "INVALID_ARGUMENT"
    assert result["error"]["field"] == "customer_id"


def test_list_orders_rejects_a_forged_next_token(orders: ModuleType) -> None:
    result = call(orders, "list_orders", {"status": "PENDING", "next_token": "not-a-token!"})
    assert result["error"] == {
        "code": "INVALID_ARGUMENT",
        "message": "field 'next_token' is not a token returned by list_orders",
        "retryable": False,
        "field": "next_token",
    }


def test_order_moves_forward_through_its_lifecycle(orders: ModuleType) -> None:
    for status in ("CONFIRMED", "SHIPPED", "DELIVERED"):
        result = call(orders, "update_order_status", {"order_id": "ORD-1003", "status": status, "note": "ok"})
        assert result["changed"] is True
        assert result["order"]["status"] == status
    order = result["order"]
    assert order["version"] == 4
    assert [e["status"] for e in order["status_history"]] == ["PENDING", "CONFIRMED", "SHIPPED", "DELIVERED"]
    assert order["status_history"][-1]["note"] == {"untrusted_text": "ok"}
    assert order["updated_at"].endswith("Z")


def test_repeating_a_status_update_is_idempotent(orders: ModuleType) -> None:
    result = call(orders, "update_order_status", {"order_id": "ORD-1002", "status": "SHIPPED"})
    assert result["changed"] is False
    assert result["order"]["version"] == 3


@pytest.mark.parametrize(
    ("order_id", "status", "current"),
    [
        ("ORD-1005", "SHIPPED", "CANCELLED"),  # cannot ship a cancelled order
        ("ORD-1003", "SHIPPED", "PENDING"),  # cannot skip confirmation
        ("ORD-1001", "CONFIRMED", "DELIVERED"),  # cannot go backwards
    ],
)
def test_illegal_transitions_are_refused_and_explained(
    orders: ModuleType, order_id: str, status: str, current: str
) -> None:
    result = call(orders, "update_order_status", {"order_id": order_id, "status": status})
    error = result["error"]
    assert error["code"] == "FAILED_PRECONDITION"
    assert error["current_status"] == current
    assert error["allowed_next_statuses"] == sorted(orders.TRANSITIONS[current])
    assert f"is {current}; it cannot move to {status}" in error["message"]
    assert call(orders, "get_order", {"order_id": order_id})["order"]["status"] == current


def test_update_of_unknown_order_is_not_found(orders: ModuleType) -> None:
    result = call(orders, "update_order_status", {"order_id": "ORD-0000", "status": "CONFIRMED"})
    assert result["error"]["code"] == "NOT_FOUND"


def test_update_cannot_cancel(orders: ModuleType) -> None:
    result = call(orders, "update_order_status", {"order_id": "ORD-1003", "status": "CANCELLED"})
    assert result["error"]["code"] == "INVALID_ARGUMENT"
    assert result["error"]["field"] == "status"
    assert "must be one of ['CONFIRMED', 'SHIPPED', 'DELIVERED']" in result["error"]["message"]


def test_cancel_order_records_the_reason(orders: ModuleType) -> None:
    result = call(orders, "cancel_order", {"order_id": "ORD-1004", "reason": "Ordered twice"})
    assert result["changed"] is True
    assert result["order"]["status"] == "CANCELLED"
    assert result["order"]["status_history"][-1]["note"] == {"untrusted_text": "Ordered twice"}
    again = call(orders, "cancel_order", {"order_id": "ORD-1004", "reason": "Ordered twice"})
    assert again["changed"] is False


def test_shipped_order_cannot_be_cancelled(orders: ModuleType) -> None:
    result = call(orders, "cancel_order", {"order_id": "ORD-1008", "reason": "Too slow"})
    assert result["error"]["code"] == "FAILED_PRECONDITION"
    assert result["error"]["current_status"] == "SHIPPED"
    assert result["error"]["allowed_next_statuses"] == ["DELIVERED"]


def test_cancel_unknown_order_is_not_found(orders: ModuleType) -> None:
    result = call(orders, "cancel_order", {"order_id": "ORD-0000", "reason": "x"})
    assert result["error"]["code"] == "NOT_FOUND"


def test_a_concurrent_change_is_not_lost(orders: ModuleType) -> None:
    """The state read by the caller is stale: the conditional write refuses instead of overwriting."""
    assert call(orders, "cancel_order", {"order_id": "ORD-1009", "reason": "changed mind"})["changed"]
    result = call(orders, "update_order_status", {"order_id": "ORD-1009", "status": "SHIPPED"})
    assert result["error"]["code"] == "FAILED_PRECONDITION"
    order = call(orders, "get_order", {"order_id": "ORD-1009"})["order"]
    assert order["status"] == "CANCELLED"
    assert order["version"] == 3


def test_status_writes_are_single_conditional_updates(orders: ModuleType) -> None:
    """Atomicity comes from DynamoDB evaluating the condition with the write (moto does not lock items,
    so real races cannot be tested offline): assert every status write carries the guard."""
    from gateway_tool.aws import dynamodb_client

    calls: list[dict[str, Any]] = []
    dynamodb_client().meta.events.register(
        "provide-client-params.dynamodb.UpdateItem", lambda params, **_: calls.append(dict(params))
    )
    call(orders, "update_order_status", {"order_id": "ORD-1006", "status": "CONFIRMED"})
    call(orders, "cancel_order", {"order_id": "ORD-1006", "reason": "race"})
    assert [c["ConditionExpression"] for c in calls] == [
        "attribute_exists(order_id) AND #status IN (:from0)",
        "attribute_exists(order_id) AND #status IN (:from0, :from1)",
    ]
    assert calls[0]["ExpressionAttributeValues"][":from0"] == {"S": "PENDING"}
    values = calls[1]["ExpressionAttributeValues"]
    assert {values[":from0"]["S"], values[":from1"]["S"]} == {"CONFIRMED", "PENDING"}
    assert all(c["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD" for c in calls)


def test_list_orders_with_a_status_filter_fills_the_page_past_non_matching_orders(orders: ModuleType) -> None:
    """CUST-001's newest orders are PENDING and SHIPPED; a one-order page still finds the DELIVERED one."""
    result = call(orders, "list_orders", {"customer_id": "CUST-001", "status": "DELIVERED", "limit": 1})
    assert [o["order_id"] for o in result["orders"]] == ["ORD-1001"]
    assert result["count"] == 1
