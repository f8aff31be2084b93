"""Doubles for what moto's in-process DynamoDB cannot do: cancel a transaction, or serialize transactions.

- `cancelled_transactions(client, codes)`: TransactWriteItems answers with DynamoDB's own HTTP error reply
  (`TransactionCanceledException` with one `CancellationReasons` entry per item), parsed by botocore's real
  JSON-protocol parser the way its endpoint parses a reply (modeled error fields included), as when another
  transaction holds one of the items (`TransactionConflict`) or the table throttles. The reply is given at
  `before-call`, so the request never reaches moto (moto answers at `before-send`, and botocore calls every
  `before-send` handler); every other call still does.
- `serialized_transactions(client, parties)`: TransactWriteItems calls wait until `parties` of them have
  arrived (so every caller's reads happened before any commit: the race a transaction condition must win),
  then run one at a time, as DynamoDB's isolation makes them appear. moto itself snapshots and restores
  rather than locking (/work/shared/AGENTCORE_FACTS.md), so concurrent moto transactions can interleave.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser

_EVENT = "before-call.dynamodb.TransactWriteItems"


class _RawBody:
    """The `raw` of an AWSResponse: botocore reads the body through `stream()`."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def cancellation_reply(url: str, codes: Sequence[str]) -> AWSResponse:
    """The HTTP 400 reply DynamoDB sends when it cancels a TransactWriteItems (one reason per item)."""
    reasons = [{"Code": code} if code == "None" else {"Code": code, "Message": code} for code in codes]
    body = {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
        f"[{', '.join(codes)}]",
        "CancellationReasons": reasons,
    }
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "double-cancelled"}
    return AWSResponse(url, 400, headers, _RawBody(json.dumps(body).encode()))


@contextmanager
def cancelled_transactions(client: Any, codes: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
    """Cancel every TransactWriteItems with `codes`; yields the sent requests (their parsed bodies)."""
    sent: list[dict[str, Any]] = []

    def reply(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        sent.append(json.loads(params["body"]))
        http = cancellation_reply(params["url"], codes)
        parser = create_parser(model.metadata["protocol"])
        response = {"status_code": http.status_code, "headers": http.headers, "body": http.content}
        parsed = parser.parse(response, model.output_shape)
        error_shape = model.service_model.shape_for_error_code(parsed["Error"]["Code"])
        parsed.update(parser.parse(response, error_shape))  # as botocore's endpoint adds modeled fields
        return http, parsed

    client.meta.events.register_first(_EVENT, reply)
    try:
        yield sent
    finally:
        client.meta.events.unregister(_EVENT, reply)


@contextmanager
def serialized_transactions(client: Any, parties: int) -> Iterator[None]:
    """Hold the first `parties` TransactWriteItems at a barrier, then run every transaction one at a time."""
    barrier, lock, met = threading.Barrier(parties, timeout=30), threading.Lock(), threading.Event()
    original = client.transact_write_items

    def transact_write_items(**kwargs: Any) -> Any:
        if not met.is_set():
            barrier.wait()  # a missing party breaks it after 30 s: the test fails, it does not hang
            met.set()  # later transactions need not meet anyone
        with lock:
            return original(**kwargs)

    client.transact_write_items = transact_write_items
    try:
        yield
    finally:
        client.transact_write_items = original
