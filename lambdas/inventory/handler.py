"""Inventory tools behind the AgentCore Gateway target `inventory`.

Two stores, each fit for its data:
- the product catalogue (`catalog.json`, bundled with the function) is read-only reference data that changes
  with releases: keyword search runs in memory (no DynamoDB Scan, no search cluster) in microseconds;
- stock levels change per order and need atomic conditional writes: DynamoDB table (env INVENTORY_TABLE_NAME),
  partition key `sku` (S), no sort key, no GSI; attributes `available`, `reserved`, `version`, `updated_at`.

Reservations are holds owned by the verified caller (see gateway_tool.caller), kept in the same table under
`sku = HOLD#<holder>#<sku>` (holder = the customer id, or an operator's sub) with `quantity` and
`expires_at`. A reservation moves units from the stock row to the caller's hold in one transaction, so a
hold can never disagree with the stock. Customers are capped per call and per product held, holds expire
after HOLD_MINUTES, and `release_stock` returns a hold's units. An expired hold is returned when its holder
next reserves or releases that product (there is no background sweeper). The machine identity reserves
nothing; anyone verified may read the catalogue and stock levels.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway_tool import ErrorCode, ToolError
from gateway_tool.aws import dynamodb_client, required_env
from gateway_tool.caller import Caller, Role
from gateway_tool.dynamodb import unmarshal_item
from gateway_tool.router import ToolRouter

TABLE_ENV = "INVENTORY_TABLE_NAME"
BATCH_GET_LIMIT = 100
CUSTOMER_UNITS_PER_CALL = 5
"""At most this many units per reserve_stock call by a customer (the schema allows operators up to 100)."""
CUSTOMER_UNITS_HELD_PER_SKU = 5
"""At most this many units of one product on hold per customer at a time."""
HOLD_MINUTES = 30
"""A hold lapses this long after its last reservation."""

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


def _hold_key(caller: Caller, sku: str) -> dict[str, Any]:
    holder = caller.customer_id if caller.role is Role.CUSTOMER else caller.sub
    return {"sku": {"S": f"HOLD#{holder}#{sku}"}}


def _read_hold(caller: Caller, sku: str) -> dict[str, Any]:
    """The caller's hold on `sku` (`{}` if none), read strongly consistent."""
    response = dynamodb_client().get_item(TableName=_table(), Key=_hold_key(caller, sku), ConsistentRead=True)
    return unmarshal_item(response.get("Item", {}))


def _expired(hold: dict[str, Any]) -> bool:
    return bool(hold) and str(hold.get("expires_at", "")) <= _now()


def _return_hold(caller: Caller, sku: str, hold: dict[str, Any]) -> int:
    """Give a hold's units back to the stock and delete the hold, in one transaction (0 if none)."""
    quantity = int(hold.get("quantity", 0)) if hold else 0
    if not quantity:
        return 0
    qty = {"N": str(quantity)}
    _transact(
        [
            {
                "Update": {
                    "TableName": _table(),
                    "Key": {"sku": {"S": sku}},
                    "UpdateExpression": "SET available = available + :qty, reserved = reserved - :qty,"
                    " version = version + :one, updated_at = :now",
                    "ConditionExpression": "attribute_exists(sku)",
                    "ExpressionAttributeValues": {":qty": qty, ":one": {"N": "1"}, ":now": {"S": _now()}},
                }
            },
            {
                "Delete": {
                    "TableName": _table(),
                    "Key": _hold_key(caller, sku),
                    "ConditionExpression": "quantity = :qty",
                    "ExpressionAttributeValues": {":qty": qty},
                }
            },
        ],
        sku=sku,
    )
    return quantity


def _transact(items: list[dict[str, Any]], *, sku: str) -> list[str]:
    """Run a TransactWriteItems; a lost race on the hold is CONFLICT, a failed stock condition is returned."""
    client = dynamodb_client()
    try:
        client.transact_write_items(TransactItems=items)
    except client.exceptions.TransactionCanceledException as exc:
        reasons = [reason.get("Code", "None") for reason in exc.response.get("CancellationReasons", [])]
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            raise ToolError(
                ErrorCode.CONFLICT, f"the hold on {sku} changed concurrently; retry", sku=sku
            ) from exc
        return reasons
    return []


@router.tool()
def reserve_stock(args: dict[str, Any]) -> dict[str, Any]:
    """Move units from the stock to the caller's hold in one transaction (`available >= quantity`, so
    concurrent reservations never oversell), within the customer caps."""
    caller: Caller = args["caller"]
    caller.require(Role.CUSTOMER, Role.OPERATOR, action="reserving stock")
    product = _product(args["sku"])
    sku, quantity = product["sku"], int(args["quantity"])
    if caller.role is Role.CUSTOMER and quantity > CUSTOMER_UNITS_PER_CALL:
        raise ToolError(
            ErrorCode.RESOURCE_EXHAUSTED,
            f"a customer may reserve at most {CUSTOMER_UNITS_PER_CALL} units per call",
            sku=sku,
            requested=quantity,
            limit=CUSTOMER_UNITS_PER_CALL,
        )
    hold = _read_hold(caller, sku)
    if _expired(hold):
        _return_hold(caller, sku, hold)
        hold = {}
    held = int(hold.get("quantity", 0))
    if caller.role is Role.CUSTOMER and held + quantity > CUSTOMER_UNITS_HELD_PER_SKU:
        raise ToolError(
            ErrorCode.RESOURCE_EXHAUSTED,
            f"{held} units of {sku} are already on hold for this customer; at most "
            f"{CUSTOMER_UNITS_HELD_PER_SKU} may be held (release_stock frees them)",
            sku=sku,
            held=held,
            limit=CUSTOMER_UNITS_HELD_PER_SKU,
        )
    now = _now()
    expires_at = (datetime.now(UTC) + timedelta(minutes=HOLD_MINUTES)).isoformat(timespec="seconds")
    expires_at = expires_at.replace("+00:00", "Z")
    hold_values: dict[str, Any] = {
        ":total": {"N": str(held + quantity)},
        ":expires": {"S": expires_at},
        ":now": {"S": now},
        ":product": {"S": sku},
    }
    hold_update = "SET quantity = :total, expires_at = :expires, updated_at = :now, product_sku = :product"
    if args.get("order_id"):
        hold_update += ", order_id = :order"
        hold_values[":order"] = {"S": args["order_id"]}
    hold_condition = "attribute_not_exists(sku)" if not hold else "quantity = :held"
    if hold:
        hold_values[":held"] = {"N": str(held)}
    qty = {"N": str(quantity)}
    failed = _transact(
        [
            {
                "Update": {
                    "TableName": _table(),
                    "Key": {"sku": {"S": sku}},
                    "UpdateExpression": "SET available = available - :qty,"
                    " reserved = if_not_exists(reserved, :zero) + :qty,"
                    " version = if_not_exists(version, :zero) + :one, updated_at = :now",
                    "ConditionExpression": "attribute_exists(sku) AND available >= :qty",
                    "ExpressionAttributeValues": {
                        ":qty": qty,
                        ":zero": {"N": "0"},
                        ":one": {"N": "1"},
                        ":now": {"S": now},
                    },
                }
            },
            {
                "Update": {
                    "TableName": _table(),
                    "Key": _hold_key(caller, sku),
                    "UpdateExpression": hold_update,
                    "ConditionExpression": hold_condition,
                    "ExpressionAttributeValues": hold_values,
                }
            },
        ],
        sku=sku,
    )
    stock = check_stock({"sku": sku, "caller": caller})
    if failed:
        raise ToolError(
            ErrorCode.FAILED_PRECONDITION,
            f"cannot reserve {quantity} of {sku}: only {stock['available']} available",
            sku=sku,
            available=stock["available"],
            requested=quantity,
        )
    return {
        "sku": sku,
        "reserved_now": quantity,
        "held_by_you": held + quantity,
        "hold_expires_at": expires_at,
        "available": stock["available"],
        "reserved": stock["reserved"],
    }


@router.tool()
def release_stock(args: dict[str, Any]) -> dict[str, Any]:
    """Return the caller's whole hold on one product to the stock (releasing nothing is not an error)."""
    caller: Caller = args["caller"]
    caller.require(Role.CUSTOMER, Role.OPERATOR, action="releasing stock")
    sku = _product(args["sku"])["sku"]
    released = _return_hold(caller, sku, _read_hold(caller, sku))
    stock = check_stock({"sku": sku, "caller": caller})
    return {"sku": sku, "released": released, "available": stock["available"], "reserved": stock["reserved"]}


lambda_handler = router.build_handler()
