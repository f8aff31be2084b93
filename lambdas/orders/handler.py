"""Orders tools behind the AgentCore Gateway target `orders` (one Lambda, many tools).

Table (env ORDERS_TABLE_NAME): partition key `order_id` (S), no sort key, plus two GSIs, both projecting ALL:
  `by_customer`: partition `customer_id` (S), sort `created_at` (S, ISO-8601 UTC): a customer's orders
  `by_status`:   partition `status` (S), sort `created_at` (S): orders in one status
Status changes are single conditional UpdateItems (`status IN <allowed predecessors>`), so two concurrent
callers can never both win, and a lost update is impossible; `version` counts the changes.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway_tool import ErrorCode, ToolError
from gateway_tool.aws import dynamodb_client, required_env
from gateway_tool.dynamodb import marshal_item, unmarshal_item
from gateway_tool.router import ToolRouter

TABLE_ENV = "ORDERS_TABLE_NAME"
CUSTOMER_INDEX = "by_customer"
MAX_QUERY_PAGES = 10  # bounds the work of one call; the caller continues with next_token
STATUS_INDEX = "by_status"

TRANSITIONS: dict[str, frozenset[str]] = {
    "PENDING": frozenset({"CONFIRMED", "CANCELLED"}),
    "CONFIRMED": frozenset({"SHIPPED", "CANCELLED"}),
    "SHIPPED": frozenset({"DELIVERED"}),
    "DELIVERED": frozenset(),
    "CANCELLED": frozenset(),
}
"""The order lifecycle: status -> statuses it may move to. Anything else is refused."""

router = ToolRouter(Path(__file__).with_name("tools.json"), service="orders")


def _now() -> str:
    """Timestamps are ISO-8601 UTC strings so they sort lexically (the GSIs' sort key)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _table() -> str:
    return required_env(TABLE_ENV)


def _summary(order: dict[str, Any]) -> dict[str, Any]:
    """The compact form list_orders returns (keeps the model's context small)."""
    return {
        "order_id": order["order_id"],
        "customer_id": order.get("customer_id"),
        "status": order.get("status"),
        "created_at": order.get("created_at"),
        "total": order.get("total"),
        "currency": order.get("currency"),
        "item_count": sum(int(item.get("quantity", 0)) for item in order.get("items", [])),
    }


def _encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _decode_token(token: str) -> dict[str, Any]:
    """A next_token is the opaque, base64url-encoded LastEvaluatedKey of the previous page."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError) as exc:
        raise ToolError(
            ErrorCode.INVALID_ARGUMENT,
            "field 'next_token' is not a token returned by list_orders",
            field="next_token",
        ) from exc
    if not isinstance(key, dict):
        raise ToolError(ErrorCode.INVALID_ARGUMENT, "field 'next_token' is malformed", field="next_token")
    return key


@router.tool()
def get_order(args: dict[str, Any]) -> dict[str, Any]:
    """Strongly consistent read, so an agent sees its own just-made change."""
    response = dynamodb_client().get_item(
        TableName=_table(), Key={"order_id": {"S": args["order_id"]}}, ConsistentRead=True
    )
    if "Item" not in response:
        raise ToolError(
            ErrorCode.NOT_FOUND, f"no order with id {args['order_id']!r}", order_id=args["order_id"]
        )
    return {"order": unmarshal_item(response["Item"])}


@router.tool()
def list_orders(args: dict[str, Any]) -> dict[str, Any]:
    """Query a GSI (never Scan): by customer (optionally filtered by status) or by status alone."""
    customer_id, status = args.get("customer_id"), args.get("status")
    if not customer_id and not status:
        raise ToolError(
            ErrorCode.INVALID_ARGUMENT,
            "give 'customer_id', 'status' or both; listing every order is not supported",
            field="customer_id",
        )
    query: dict[str, Any] = {
        "TableName": _table(),
        "ScanIndexForward": False,
        "ExpressionAttributeNames": {"#status": "status"},
    }
    if customer_id:
        query["IndexName"] = CUSTOMER_INDEX
        query["KeyConditionExpression"] = "customer_id = :customer"
        query["ExpressionAttributeValues"] = {":customer": {"S": customer_id}}
        if status:
            query["FilterExpression"] = "#status = :status"
            query["ExpressionAttributeValues"][":status"] = {"S": status}
        else:
            del query["ExpressionAttributeNames"]
    else:
        query["IndexName"] = STATUS_INDEX
        query["KeyConditionExpression"] = "#status = :status"
        query["ExpressionAttributeValues"] = {":status": {"S": status}}
    last_key = _decode_token(args["next_token"]) if args.get("next_token") else None
    orders: list[dict[str, Any]] = []
    # DynamoDB applies Limit before the status filter, so one page can match nothing while later ones do:
    # keep reading (never more than the items still wanted) until the page is full or the index ends.
    for _ in range(MAX_QUERY_PAGES):
        page = {**query, "Limit": int(args["limit"]) - len(orders)}
        if last_key:
            page["ExclusiveStartKey"] = last_key
        response = dynamodb_client().query(**page)
        orders += [_summary(unmarshal_item(item)) for item in response.get("Items", [])]
        last_key = response.get("LastEvaluatedKey")
        if not last_key or len(orders) >= int(args["limit"]):
            break
    next_token = _encode_token(last_key) if last_key else None
    return {"orders": orders, "count": len(orders), "next_token": next_token}


def _transition(order_id: str, target: str, note: str | None) -> dict[str, Any]:
    """Atomically move `order_id` to `target` if its current status allows it; explain a refusal."""
    allowed_from = sorted(status for status, nexts in TRANSITIONS.items() if target in nexts)
    placeholders = {f":from{i}": {"S": status} for i, status in enumerate(allowed_from)}
    now = _now()
    history_entry = {"status": target, "at": now, "note": note}
    client = dynamodb_client()
    try:
        response = client.update_item(
            TableName=_table(),
            Key={"order_id": {"S": order_id}},
            UpdateExpression=(
                "SET #status = :target, updated_at = :now,"
                " version = if_not_exists(version, :zero) + :one,"
                " status_history = list_append(if_not_exists(status_history, :empty), :entry)"
            ),
            ConditionExpression=f"attribute_exists(order_id) AND #status IN ({', '.join(placeholders)})",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":target": {"S": target},
                ":now": {"S": now},
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
                ":empty": {"L": []},
                ":entry": {"L": [{"M": marshal_item({k: v for k, v in history_entry.items() if v})}]},
                **placeholders,
            },
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as exc:
        old = exc.response.get("Item")
        if not old:
            raise ToolError(ErrorCode.NOT_FOUND, f"no order with id {order_id!r}", order_id=order_id) from exc
        order = unmarshal_item(old)
        current = order.get("status", "UNKNOWN")
        if current == target:
            return {"order": order, "changed": False}
        allowed = sorted(TRANSITIONS.get(current, frozenset()))
        raise ToolError(
            ErrorCode.FAILED_PRECONDITION,
            f"order {order_id} is {current}; it cannot move to {target}"
            f" (allowed next statuses: {', '.join(allowed) or 'none, it is final'})",
            order_id=order_id,
            current_status=current,
            allowed_next_statuses=allowed,
        ) from exc
    return {"order": unmarshal_item(response["Attributes"]), "changed": True}


@router.tool()
def update_order_status(args: dict[str, Any]) -> dict[str, Any]:
    """Forward lifecycle steps only; cancelling has its own tool so the model must mean it."""
    return _transition(args["order_id"], args["status"], args.get("note"))


@router.tool()
def cancel_order(args: dict[str, Any]) -> dict[str, Any]:
    """Cancel before shipping; the reason lands in the status history for the audit trail."""
    return _transition(args["order_id"], "CANCELLED", args["reason"])


lambda_handler = router.build_handler()
