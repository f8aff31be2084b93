"""Stock holds in the inventory table: every change of a hold is one DynamoDB transaction.

Shared by the inventory tools (`lambdas/inventory`) and the expired-hold sweeper (`lambdas/hold_sweeper`), so
both move units with the same conditions. Three kinds of item live in the table (partition key `sku`):
- the stock row `<sku>`: `available`, `reserved`, `version`, `updated_at`;
- a hold `HOLD#<holder>#<sku>`: `quantity`, `expires_at`, `holder`, `product_sku`, optional `order_id`, and
  `record_type = "hold"`, the partition key of the sparse index `by_expiry` (sort key `expires_at`) that the
  sweeper queries for lapsed holds;
- the holder's ledger `HOLDER#<holder>`: `units_held`, the sum of the holder's holds. A condition on it is
  how a cap on what one customer holds across all products is enforced inside the reservation's own
  transaction (DynamoDB cannot sum items in a condition).

A hold is returned (units back to the stock, the ledger lowered, the hold deleted) in one transaction whose
condition names the hold as it was read: its quantity and, for a lapsed hold, its `expires_at`. Whoever comes
second (the holder's release, a reservation that finds the hold lapsed, the sweeper) fails that condition
and moves nothing, so a hold is returned exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway_tool import ErrorCode, ToolError
from gateway_tool.aws import dynamodb_client

HOLD_RECORD_TYPE = "hold"
EXPIRY_INDEX = "by_expiry"
"""Sparse index of the holds only: partition `record_type`, sort `expires_at`."""

_THROTTLED = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})


def now() -> str:
    """ISO-8601 UTC to the second: the format `expires_at` is stored in, so strings compare as times."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def hold_key(holder: str, sku: str) -> dict[str, Any]:
    return {"sku": {"S": f"HOLD#{holder}#{sku}"}}


def ledger_key(holder: str) -> dict[str, Any]:
    return {"sku": {"S": f"HOLDER#{holder}"}}


class ConditionFailed(Exception):
    """A transaction was cancelled because the conditions of these item positions were false."""

    def __init__(self, positions: frozenset[int]) -> None:
        super().__init__(f"conditions failed at {sorted(positions)}")
        self.positions = positions


def transact(items: Sequence[Mapping[str, Any]], *, what: str) -> None:
    """Run one TransactWriteItems; a cancellation is never taken for success.

    Another transaction on the same items (`TransactionConflict`) is CONFLICT and throttling UNAVAILABLE (both
    retryable); failed conditions raise `ConditionFailed` for the caller to name; any other reason is
    INTERNAL. `what` ("the hold on SKU-1001") goes into the messages.
    """
    client = dynamodb_client()
    try:
        client.transact_write_items(TransactItems=list(items))
    except client.exceptions.TransactionCanceledException as exc:
        codes = [reason.get("Code") or "None" for reason in exc.response.get("CancellationReasons", [])]
        if "TransactionConflict" in codes:
            raise ToolError(
                ErrorCode.CONFLICT, f"{what} was being changed by another request at the same time; retry"
            ) from exc
        if _THROTTLED.intersection(codes):
            message = "the data store is throttling requests; retry shortly"
            raise ToolError(ErrorCode.UNAVAILABLE, message) from exc
        failed = frozenset(at for at, code in enumerate(codes) if code == "ConditionalCheckFailed")
        if not failed:
            reasons = ", ".join(sorted(set(codes) - {"None"})) or "no reason given"
            raise ToolError(
                ErrorCode.INTERNAL, f"the data store cancelled the change of {what} ({reasons})"
            ) from exc
        raise ConditionFailed(failed) from exc


@dataclass(frozen=True)
class Hold:
    """One hold as read (strongly consistent or from the index), enough to return it conditionally."""

    holder: str
    sku: str
    quantity: int
    expires_at: str

    def lapsed(self, at: str) -> bool:
        return self.expires_at <= at

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Hold | None:
        """A hold from its (unmarshalled) item; None for no item, a hold of 0 units or a malformed one."""
        sku, holder, quantity = item.get("product_sku"), item.get("holder"), item.get("quantity")
        if not (isinstance(sku, str) and isinstance(holder, str)):
            return None
        if not isinstance(quantity, int) or quantity <= 0:
            return None
        return cls(holder, sku, quantity, str(item.get("expires_at", "")))


def return_hold(table: str, hold: Hold, *, lapsed_by: str | None = None) -> bool:
    """Give the hold's units back and delete it, if it is still exactly as read; True if this call did.

    With `lapsed_by` (a time) the hold is returned only if it had lapsed by then and was not renewed since
    (`expires_at` unchanged): the sweeper's and the lapsed-hold path's guard against a holder who is renewing.
    False means someone else changed or returned the hold first; nothing moved.
    """
    qty = {"N": str(hold.quantity)}
    condition, values = "quantity = :qty", {":qty": qty}
    if lapsed_by is not None:
        condition += " AND expires_at = :seen AND expires_at <= :lapsed_by"
        values |= {":seen": {"S": hold.expires_at}, ":lapsed_by": {"S": lapsed_by}}
    stamp = {"S": now()}
    try:
        transact(
            [
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"sku": {"S": hold.sku}},
                        "UpdateExpression": "SET available = available + :qty, reserved = reserved - :qty,"
                        " version = version + :one, updated_at = :now",
                        "ConditionExpression": "attribute_exists(sku)",
                        "ExpressionAttributeValues": {":qty": qty, ":one": {"N": "1"}, ":now": stamp},
                    }
                },
                {
                    "Delete": {
                        "TableName": table,
                        "Key": hold_key(hold.holder, hold.sku),
                        "ConditionExpression": condition,
                        "ExpressionAttributeValues": values,
                    }
                },
                {
                    # A hold made before ledgers existed has none: if_not_exists keeps the ledger at >= 0.
                    "Update": {
                        "TableName": table,
                        "Key": ledger_key(hold.holder),
                        "UpdateExpression": "SET units_held = if_not_exists(units_held, :qty) - :qty,"
                        " updated_at = :now",
                        "ExpressionAttributeValues": {":qty": qty, ":now": stamp},
                    }
                },
            ],
            what=f"the hold on {hold.sku}",
        )
    except ConditionFailed as failed:
        if 1 in failed.positions:
            return False
        raise ToolError(
            ErrorCode.INTERNAL, f"the stock row of {hold.sku} is missing; its hold was left in place"
        ) from failed
    return True
