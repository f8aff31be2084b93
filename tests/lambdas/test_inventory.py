"""The inventory tools through their real handler on moto DynamoDB (stock) + the bundled catalogue."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from local.lambda_context import gateway_context
from tests.doubles.callers import OPERATOR, as_caller

pytestmark = pytest.mark.usefixtures("tables")
Caller = dict[str, Any] | None


def call(
    inventory: ModuleType, tool: str, args: Any, caller: dict[str, Any] | None = OPERATOR
) -> dict[str, Any]:
    return inventory.lambda_handler(as_caller(args, caller), gateway_context("inventory", tool))


def test_search_ranks_name_matches_first_and_adds_live_stock(inventory: ModuleType) -> None:
    result = call(inventory, "search_products", {"query": "waterproof jacket"})
    assert [p["sku"] for p in result["products"]][:2] == ["SKU-3001", "SKU-1004"]
    assert result["products"][0]["available"] == 5
    assert result["count"] == len(result["products"])


def test_search_by_category_with_in_stock_only(inventory: ModuleType) -> None:
    everything = call(inventory, "search_products", {"category": "apparel"})
    assert {p["sku"] for p in everything["products"]} == {"SKU-1002", "SKU-3001", "SKU-3002", "SKU-3003"}
    in_stock = call(inventory, "search_products", {"category": "apparel", "in_stock_only": True})
    assert {p["sku"] for p in in_stock["products"]} == {"SKU-1002", "SKU-3001", "SKU-3002"}


def test_search_respects_limit_and_reports_no_match(inventory: ModuleType) -> None:
    assert call(inventory, "search_products", {"limit": 3})["count"] == 3
    assert call(inventory, "search_products", {"query": "submarine"}) == {"products": [], "count": 0}


def test_check_stock(inventory: ModuleType) -> None:
    assert call(inventory, "check_stock", {"sku": "SKU-4001"}) == {
        "sku": "SKU-4001",
        "name": "Wireless noise-cancelling headphones",
        "available": 15,
        "reserved": 0,
        "in_stock": True,
    }
    assert call(inventory, "check_stock", {"sku": "SKU-1003"})["in_stock"] is False


def test_check_stock_unknown_sku_is_not_found(inventory: ModuleType) -> None:
    error = call(inventory, "check_stock", {"sku": "SKU-0000"})["error"]
    assert error["code"] == "NOT_FOUND"
    assert "search_products" in error["message"]


def test_reserve_stock_is_all_or_nothing(inventory: ModuleType) -> None:
    result = call(inventory, "reserve_stock", {"sku": "SKU-5001", "quantity": 3, "order_id": "ORD-1010"})
    assert result.pop("hold_expires_at") > "2025"
    assert result == {"sku": "SKU-5001", "reserved_now": 3, "held_by_you": 3, "available": 1, "reserved": 3}
    refused = call(inventory, "reserve_stock", {"sku": "SKU-5001", "quantity": 2})["error"]
    assert refused["code"] == "FAILED_PRECONDITION"
    assert (refused["available"], refused["requested"]) == (1, 2)
    assert call(inventory, "check_stock", {"sku": "SKU-5001"})["available"] == 1


def test_reserve_unknown_sku_is_not_found(inventory: ModuleType) -> None:
    result = call(inventory, "reserve_stock", {"sku": "SKU-0000", "quantity": 1})
    assert result["error"]["code"] == "NOT_FOUND"


def test_reserve_sold_out_product(inventory: ModuleType) -> None:
    error = call(inventory, "reserve_stock", {"sku": "SKU-4003", "quantity": 1})["error"]
    assert error["code"] == "FAILED_PRECONDITION"
    assert error["message"] == "cannot reserve 1 of SKU-4003: only 0 available"


@pytest.mark.parametrize(
    ("args", "field", "fragment"),
    [
        ({"sku": "SKU-1001", "quantity": 0}, "quantity", "must be >= 1, got 0"),
        ({"sku": "SKU-1001", "quantity": 101}, "quantity", "must be <= 100, got 101"),
        ({"sku": "SKU-1001", "quantity": "2"}, "quantity", "must be of type integer, got str"),
        ({"sku": "SKU-1001", "quantity": True}, "quantity", "must be of type integer, got bool"),
        ({"sku": "SKU-1001"}, "quantity", "missing required field(s) ['quantity']"),
        ({"sku": "", "quantity": 1}, "sku", "must be at least 1 characters long"),
    ],
)
def test_reserve_stock_argument_errors(inventory: ModuleType, args: dict, field: str, fragment: str) -> None:
    error = call(inventory, "reserve_stock", args)["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert error["field"] == field
    assert fragment in error["message"]
