"""Return lapsed stock holds to the stock, whoever held them: run by an EventBridge schedule.

Without it, a hold's units came back only when the same holder next reserved or released that product, so
holds abandoned by customers who never return kept stock reserved forever.

Why a schedule and not DynamoDB TTL + a stream-triggered function: TTL deletes an item only some time
after it expires (the UpdateTimeToLive API reference: "typically within two days of expiration", best
effort), so a 30-minute hold could keep its units for days; and the TTL delete happens outside any
transaction, so a stream function would credit the stock afterwards, at least once per record (streams
redeliver), and need its own de-duplication. A schedule every few minutes finds lapsed holds in the sparse
`by_expiry` index (a Query, not a Scan) and returns each with `stock_holds.return_hold(..., lapsed_by=now)`:
one transaction whose condition is the hold as the sweep read it (quantity and `expires_at`, lapsed). A
holder releasing or renewing at the same moment, or an overlapping run, makes that condition fail, so each
hold is returned exactly once and a rerun changes nothing. A failed run is redone by the next one.

Environment: INVENTORY_TABLE_NAME. Returns (and logs) `{"returned", "units", "skipped", "failed"}`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import stock_holds
from gateway_tool import ToolError
from gateway_tool.aws import dynamodb_client, required_env
from gateway_tool.dynamodb import unmarshal_item
from stock_holds import Hold

TABLE_ENV = "INVENTORY_TABLE_NAME"
PAGES_PER_RUN = 10
"""Index pages (up to 1 MB each) read per run; what is left is the next run's."""

logger = logging.getLogger("hold_sweeper")
logger.setLevel(logging.INFO)


def lapsed_holds(table: str, at: str) -> list[Hold]:
    """Holds whose `expires_at` is at or before `at`, from the expiry index (eventually consistent: the
    transaction's condition re-checks each one against the table)."""
    client, holds = dynamodb_client(), []
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": stock_holds.EXPIRY_INDEX,
        "KeyConditionExpression": "record_type = :hold AND expires_at <= :at",
        "ExpressionAttributeValues": {":hold": {"S": stock_holds.HOLD_RECORD_TYPE}, ":at": {"S": at}},
    }
    for _ in range(PAGES_PER_RUN):
        page = client.query(**request)
        holds += [hold for raw in page.get("Items", []) if (hold := Hold.of(unmarshal_item(raw)))]
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return holds


def sweep(table: str, at: str) -> dict[str, int]:
    """Return every hold lapsed by `at`; count what this run returned, what others had changed first
    (skipped) and what failed for now (left to the next run)."""
    outcome = {"returned": 0, "units": 0, "skipped": 0, "failed": 0}
    for hold in lapsed_holds(table, at):
        try:
            returned = stock_holds.return_hold(table, hold, lapsed_by=at)
        except ToolError as error:  # a conflict, throttling or a missing stock row: the next run retries
            outcome["failed"] += 1
            failure = {"message": "hold not returned", "sku": hold.sku, "error": error.message}
            logger.warning(json.dumps(failure))
            continue
        outcome["returned" if returned else "skipped"] += 1
        outcome["units"] += hold.quantity if returned else 0
    return outcome


def lambda_handler(event: Any, context: Any) -> dict[str, int]:
    """The scheduled entry point (the event's content is not used: every run sweeps up to now)."""
    outcome = sweep(required_env(TABLE_ENV), stock_holds.now())
    logger.info(json.dumps({"message": "lapsed holds swept", **outcome}))
    return outcome
