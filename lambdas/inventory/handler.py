"""Inventory tools behind the AgentCore Gateway target `inventory`.

Two stores, each fit for its data:
- the product catalogue (`catalog.json`, bundled with the function) is read-only reference data that changes
  with releases: keyword search runs in memory (no DynamoDB Scan, no search cluster) in microseconds;
- stock levels change per order and need atomic conditional writes: DynamoDB table (env INVENTORY_TABLE_NAME),
  partition key `sku` (S), no sort key, no GSI; attributes `available`, `reserved`, `version`, `updated_at`.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway_tool import ErrorCode, ToolError
from gateway_tool.aws import dynamodb_client, required_env
from gateway_tool.dynamodb import unmarshal_item
from gateway_tool.router import ToolRouter

TABLE_ENV = "INVENTORY_TABLE_NAME"
BATCH_GET_LIMIT = 100

router = ToolRouter(Path(__file__).with_name("tools.json"), service="inventory")
CATALOG: dict[str, dict[str, Any]] = {
    product["sku"]: product
    for product in json.loads(Path(__file__).with_name("catalog.json").read_text(encoding="utf-8"))
}

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    {"a", "an", "and", "for", "i", "in", "is", "it", "me", "my", "of", "on", "or", "some", "the", "to"}
)


def _terms(text: str) -> set[str]:
    """Lower-case word stems (plural 's' dropped) without stop words: enough for a small catalogue."""
    words = (word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS)
    return {word[:-1] if len(word) > 3 and word.endswith("s") else word for word in words}


_INDEX: dict[str, tuple[set[str], set[str], str]] = {
    sku: (_terms(product["name"]), _terms(product["description"]), product["category"])
    for sku, product in CATALOG.items()
}


def _score(sku: str, query_terms: set[str]) -> int:
    """Name hits weigh most, then category, then description."""
    name_terms, description_terms, category = _INDEX[sku]
    return sum(
        3 * (term in name_terms) + 2 * (term == category.rstrip("s")) + (term in description_terms)
        for term in query_terms
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _table() -> str:
    return required_env(TABLE_ENV)


def _product(sku: str) -> dict[str, Any]:
    if sku not in CATALOG:
        raise ToolError(
            ErrorCode.NOT_FOUND,
            f"no product with sku {sku!r}; use search_products to find a product's sku",
            sku=sku,
        )
    return CATALOG[sku]


def _stock_levels(skus: list[str]) -> dict[str, int]:
    """Available units per sku via BatchGetItem (≤ 100 keys a call); a sku without a stock row has 0.

    Keys DynamoDB leaves unprocessed after three tries are left out, so callers report them as unknown.
    """
    levels: dict[str, int] = {}
    client, table = dynamodb_client(), _table()
    for start in range(0, len(skus), BATCH_GET_LIMIT):
        chunk = skus[start : start + BATCH_GET_LIMIT]
        request: dict[str, Any] = {
            table: {"Keys": [{"sku": {"S": sku}} for sku in chunk], "ProjectionExpression": "sku, available"}
        }
        for attempt in range(3):
            response = client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                row = unmarshal_item(item)
                levels[row["sku"]] = int(row.get("available", 0))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.05 * 2**attempt)
        unprocessed = {key["sku"]["S"] for entry in request.values() for key in entry.get("Keys", [])}
        levels.update({sku: 0 for sku in chunk if sku not in levels and sku not in unprocessed})
    return levels


@router.tool()
def search_products(args: dict[str, Any]) -> dict[str, Any]:
    """Rank catalogue products by keyword overlap, then attach live stock for the page returned."""
    query_terms = _terms(args.get("query", ""))
    candidates = [sku for sku in CATALOG if args.get("category") in (None, CATALOG[sku]["category"])]
    if query_terms:
        scored = [(_score(sku, query_terms), sku) for sku in candidates]
        candidates = [sku for score, sku in sorted(scored, key=lambda pair: (-pair[0], pair[1])) if score > 0]
    limit = int(args["limit"])
    window = candidates if args.get("in_stock_only") else candidates[:limit]
    levels = _stock_levels(window)
    if args.get("in_stock_only"):
        window = [sku for sku in window if levels.get(sku, 0) > 0]
    products = [{**CATALOG[sku], "available": levels.get(sku)} for sku in window[:limit]]
    return {"products": products, "count": len(products)}


@router.tool()
def check_stock(args: dict[str, Any]) -> dict[str, Any]:
    """Strongly consistent read, so a reservation just made is visible."""
    product = _product(args["sku"])
    response = dynamodb_client().get_item(
        TableName=_table(), Key={"sku": {"S": product["sku"]}}, ConsistentRead=True
    )
    row = unmarshal_item(response.get("Item", {}))
    available, reserved = int(row.get("available", 0)), int(row.get("reserved", 0))
    return {
        "sku": product["sku"],
        "name": product["name"],
        "available": available,
        "reserved": reserved,
        "in_stock": available > 0,
    }


@router.tool()
def reserve_stock(args: dict[str, Any]) -> dict[str, Any]:
    """One conditional UpdateItem (`available >= quantity`): concurrent reservations can never oversell."""
    product = _product(args["sku"])
    quantity = int(args["quantity"])
    reservation = {"quantity": {"N": str(quantity)}, "at": {"S": _now()}}
    if args.get("order_id"):
        reservation["order_id"] = {"S": args["order_id"]}
    client = dynamodb_client()
    try:
        response = client.update_item(
            TableName=_table(),
            Key={"sku": {"S": product["sku"]}},
            UpdateExpression=(
                "SET available = available - :qty, reserved = if_not_exists(reserved, :zero) + :qty,"
                " version = if_not_exists(version, :zero) + :one, updated_at = :now,"
                " last_reservation = :reservation"
            ),
            ConditionExpression="attribute_exists(sku) AND available >= :qty",
            ExpressionAttributeValues={
                ":qty": {"N": str(quantity)},
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
                ":now": reservation["at"],
                ":reservation": {"M": reservation},
            },
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as exc:
        available = int(unmarshal_item(exc.response.get("Item", {})).get("available", 0))
        raise ToolError(
            ErrorCode.FAILED_PRECONDITION,
            f"cannot reserve {quantity} of {product['sku']}: only {available} available",
            sku=product["sku"],
            available=available,
            requested=quantity,
        ) from exc
    row = unmarshal_item(response["Attributes"])
    return {
        "sku": product["sku"],
        "reserved_now": quantity,
        "available": int(row["available"]),
        "reserved": int(row["reserved"]),
    }


lambda_handler = router.build_handler()
