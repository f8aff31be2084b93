"""Inventory tools behind the AgentCore Gateway target `inventory`.

Two stores, each fit for its data:
- the product catalogue (`catalog.json`, bundled with the function) is read-only reference data that changes
  with releases: keyword search runs in memory (no DynamoDB Scan, no search cluster) in microseconds;
- stock levels change per order and need atomic conditional writes: DynamoDB table (env INVENTORY_TABLE_NAME),
  partition key `sku` (S), no sort key, no GSI; attributes `available`, `reserved`, `version`, `updated_at`.

Reservations are holds owned by the verified caller (see gateway_tool.caller), kept in the same table
(holder = the customer id, or an operator's sub; layout in `stock_holds`). A reservation moves units from
the stock row to the caller's hold in one transaction, so a hold can never disagree with the stock.
Customers are capped per call, per product held and in total across products (CUSTOMER_UNITS_HELD_TOTAL,
enforced on the holder's ledger in the same transaction). Holds lapse after HOLD_MINUTES: the sweeper
(`lambdas/hold_sweeper`, every few minutes) returns lapsed holds whoever held them, and a holder who
reserves again finds a lapsed hold returned first. `release_stock` returns a hold's units. A hold's
optional `order_id` must be one of the caller's own orders (a ConditionCheck on the orders table, env
ORDERS_TABLE_NAME). The machine identity reserves nothing; anyone verified may read the catalogue and stock.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import stock_holds
from gateway_tool import ErrorCode, ToolError
from gateway_tool.aws import dynamodb_client, required_env
from gateway_tool.caller import Caller, Role
from gateway_tool.dynamodb import unmarshal_item
from gateway_tool.router import ToolRouter
from stock_holds import Hold

TABLE_ENV = "INVENTORY_TABLE_NAME"
ORDERS_TABLE_ENV = "ORDERS_TABLE_NAME"
"""The orders table, for one ConditionCheck: a hold's `order_id` must name one of the caller's orders."""
BATCH_GET_LIMIT = 100
CUSTOMER_UNITS_PER_CALL = 5
"""At most this many units per reserve_stock call by a customer (the schema allows operators up to 100)."""
CUSTOMER_UNITS_HELD_PER_SKU = 5
"""At most this many units of one product on hold per customer at a time."""
CUSTOMER_UNITS_HELD_TOTAL = 15
"""At most this many units on hold per customer across all products (three products at the per-product cap;
the catalogue holds 200-odd units), unless MAX_UNITS_HELD_PER_CUSTOMER says otherwise."""
UNITS_HELD_LIMIT_ENV = "MAX_UNITS_HELD_PER_CUSTOMER"
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


def _holder(caller: Caller) -> str:
    """Whose holds: a customer's belong to the customer (any of its users), an operator's to the operator."""
    return caller.customer_id if caller.role is Role.CUSTOMER and caller.customer_id else caller.sub


def _read_hold(holder: str, sku: str) -> Hold | None:
    """The holder's hold on `sku` (None if none), read strongly consistent."""
    response = dynamodb_client().get_item(
        TableName=_table(), Key=stock_holds.hold_key(holder, sku), ConsistentRead=True
    )
    item = unmarshal_item(response.get("Item", {}))
    quantity = int(item.get("quantity", 0))
    return Hold(holder, sku, quantity, str(item.get("expires_at", ""))) if quantity else None


def _ledger(holder: str) -> int:
    """Units the holder holds across all products (its ledger), read strongly consistent."""
    response = dynamodb_client().get_item(
        TableName=_table(), Key=stock_holds.ledger_key(holder), ConsistentRead=True
    )
    return max(int(unmarshal_item(response.get("Item", {})).get("units_held", 0)), 0)


def units_held_limit() -> int:
    """MAX_UNITS_HELD_PER_CUSTOMER, else the default; a bad value is a deployment bug (INTERNAL)."""
    raw = os.environ.get(UNITS_HELD_LIMIT_ENV, "").strip()
    if not raw:
        return CUSTOMER_UNITS_HELD_TOTAL
    if not raw.isdigit() or int(raw) < 1:
        raise ToolError(
            ErrorCode.INTERNAL,
            f"the function is misconfigured: {UNITS_HELD_LIMIT_ENV} must be a whole number >= 1, got {raw!r}",
        )
    return int(raw)


def _refuse_over_call_cap(sku: str, quantity: int) -> None:
    if quantity > CUSTOMER_UNITS_PER_CALL:
        raise ToolError(
            ErrorCode.RESOURCE_EXHAUSTED,
            f"a customer may reserve at most {CUSTOMER_UNITS_PER_CALL} units per call",
            sku=sku,
            requested=quantity,
            limit=CUSTOMER_UNITS_PER_CALL,
        )


def _refuse_over_held_caps(sku: str, quantity: int, held_here: int, held_total: int) -> None:
    """The customer's caps per product and in total (the total is re-checked atomically on the ledger)."""
    if held_here + quantity > CUSTOMER_UNITS_HELD_PER_SKU:
        raise ToolError(
            ErrorCode.RESOURCE_EXHAUSTED,
            f"{held_here} units of {sku} are already on hold for this customer; at most "
            f"{CUSTOMER_UNITS_HELD_PER_SKU} may be held (release_stock frees them)",
            sku=sku,
            held=held_here,
            limit=CUSTOMER_UNITS_HELD_PER_SKU,
        )
    _refuse_over_total(sku, quantity, held_total)


def _refuse_over_total(sku: str, quantity: int, held_total: int) -> None:
    limit = units_held_limit()
    if held_total + quantity > limit:
        raise ToolError(
            ErrorCode.RESOURCE_EXHAUSTED,
            f"this customer already holds {held_total} units across all products; at most {limit} may be "
            "held at a time (release_stock frees them)",
            sku=sku,
            held_total=held_total,
            requested=quantity,
            limit=limit,
        )


def _order_check(caller: Caller, order_id: str) -> dict[str, Any]:
    """A ConditionCheck on the orders table: the order exists and, for a customer, is the customer's own."""
    check: dict[str, Any] = {
        "TableName": required_env(ORDERS_TABLE_ENV),
        "Key": {"order_id": {"S": order_id}},
        "ConditionExpression": "attribute_exists(order_id)",
    }
    if caller.role is Role.CUSTOMER:
        check["ConditionExpression"] = "customer_id = :customer"
        check["ExpressionAttributeValues"] = {":customer": {"S": str(caller.customer_id)}}
    return {"ConditionCheck": check}


def _order_refused(caller: Caller, order_id: str) -> ToolError:
    """A customer learns only that the order is not theirs (not whether it exists)."""
    if caller.role is Role.CUSTOMER:
        return ToolError(
            ErrorCode.PERMISSION_DENIED,
            f"order {order_id} is not one of the signed-in customer's orders",
            order_id=order_id,
        )
    return ToolError(ErrorCode.NOT_FOUND, f"no order with id {order_id}", order_id=order_id)


@router.tool()
def reserve_stock(args: dict[str, Any]) -> dict[str, Any]:
    """Move units from the stock to the caller's hold in one transaction, within the customer caps.

    The transaction's conditions are the guarantees; the reads before it only word the refusals: stock
    `available >= quantity` (concurrent reservations never oversell), the hold as read (a concurrent change
    is CONFLICT), the holder's ledger within the total cap (concurrent reservations of different products
    cannot together pass it), and an `order_id` that names one of the caller's own orders.
    """
    caller: Caller = args["caller"]
    caller.require(Role.CUSTOMER, Role.OPERATOR, action="reserving stock")
    product = _product(args["sku"])
    sku, quantity, holder = product["sku"], int(args["quantity"]), _holder(caller)
    if caller.role is Role.CUSTOMER:
        _refuse_over_call_cap(sku, quantity)
    hold, now = _read_hold(holder, sku), stock_holds.now()
    if hold and hold.lapsed(now):
        stock_holds.return_hold(_table(), hold, lapsed_by=now)  # False: the sweeper was first, same outcome
        hold = None
    held = hold.quantity if hold else 0
    if caller.role is Role.CUSTOMER:
        _refuse_over_held_caps(sku, quantity, held, _ledger(holder))
    expires_at = (datetime.now(UTC) + timedelta(minutes=HOLD_MINUTES)).isoformat(timespec="seconds")
    expires_at = expires_at.replace("+00:00", "Z")
    qty = {"N": str(quantity)}
    hold_values: dict[str, Any] = {
        ":total": {"N": str(held + quantity)},
        ":expires": {"S": expires_at},
        ":now": {"S": now},
        ":product": {"S": sku},
        ":holder": {"S": holder},
        ":type": {"S": stock_holds.HOLD_RECORD_TYPE},
    }
    hold_update = (
        "SET quantity = :total, expires_at = :expires, updated_at = :now, product_sku = :product,"
        " holder = :holder, record_type = :type"
    )
    if args.get("order_id"):
        hold_update += ", order_id = :order"
        hold_values[":order"] = {"S": args["order_id"]}
    hold_condition = "attribute_not_exists(sku)"
    if hold:
        hold_condition = "quantity = :held"
        hold_values[":held"] = {"N": str(held)}
    ledger: dict[str, Any] = {
        "TableName": _table(),
        "Key": stock_holds.ledger_key(holder),
        "UpdateExpression": "SET units_held = if_not_exists(units_held, :zero) + :qty, updated_at = :now",
        "ExpressionAttributeValues": {":qty": qty, ":zero": {"N": "0"}, ":now": {"S": now}},
    }
    if caller.role is Role.CUSTOMER:
        ledger["ConditionExpression"] = "attribute_not_exists(units_held) OR units_held <= :room"
        ledger["ExpressionAttributeValues"][":room"] = {"N": str(units_held_limit() - quantity)}
    items: list[dict[str, Any]] = [
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
                "Key": stock_holds.hold_key(holder, sku),
                "UpdateExpression": hold_update,
                "ConditionExpression": hold_condition,
                "ExpressionAttributeValues": hold_values,
            }
        },
        {"Update": ledger},
    ]
    if args.get("order_id"):
        items.append(_order_check(caller, args["order_id"]))
    try:
        stock_holds.transact(items, what=f"the hold on {sku}")
    except stock_holds.ConditionFailed as failed:
        raise _reservation_refused(caller, args, sku, quantity, holder, failed.positions) from failed
    stock = check_stock({"sku": sku, "caller": caller})
    return {
        "sku": sku,
        "reserved_now": quantity,
        "held_by_you": held + quantity,
        "hold_expires_at": expires_at,
        "available": stock["available"],
        "reserved": stock["reserved"],
    }


def _reservation_refused(
    caller: Caller, args: dict[str, Any], sku: str, quantity: int, holder: str, failed: frozenset[int]
) -> ToolError:
    """Name the condition that cancelled a reservation (positions as `reserve_stock` builds the items)."""
    if 1 in failed:
        return ToolError(ErrorCode.CONFLICT, f"the hold on {sku} changed concurrently; retry", sku=sku)
    if 3 in failed:
        return _order_refused(caller, args["order_id"])
    if 2 in failed:
        try:
            _refuse_over_total(sku, quantity, _ledger(holder))
        except ToolError as refusal:
            return refusal
        return ToolError(ErrorCode.CONFLICT, "this customer's holds changed concurrently; retry", sku=sku)
    available = check_stock({"sku": sku, "caller": caller})["available"]
    return ToolError(
        ErrorCode.FAILED_PRECONDITION,
        f"cannot reserve {quantity} of {sku}: only {available} available",
        sku=sku,
        available=available,
        requested=quantity,
    )


@router.tool()
def release_stock(args: dict[str, Any]) -> dict[str, Any]:
    """Return the caller's whole hold on one product to the stock (releasing nothing is not an error).

    If the hold changes between the read and the transaction (a concurrent release, reservation or the
    sweeper), nothing moves and the call is CONFLICT: retrying reads the new state.
    """
    caller: Caller = args["caller"]
    caller.require(Role.CUSTOMER, Role.OPERATOR, action="releasing stock")
    sku = _product(args["sku"])["sku"]
    hold = _read_hold(_holder(caller), sku)
    if hold and not stock_holds.return_hold(_table(), hold):
        raise ToolError(ErrorCode.CONFLICT, f"the hold on {sku} changed concurrently; retry", sku=sku)
    stock = check_stock({"sku": sku, "caller": caller})
    released = hold.quantity if hold else 0
    return {"sku": sku, "released": released, "available": stock["available"], "reserved": stock["reserved"]}


lambda_handler = router.build_handler()
