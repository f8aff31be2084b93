"""The AWS event-stream wire format (`application/vnd.amazon.eventstream`), as the local Bedrock writes it.

Each message is a prelude (total length, headers length, prelude CRC32), string headers (`:message-type`,
`:event-type`, `:content-type`), a JSON payload and a message CRC32: exactly what botocore's
`EventStreamBuffer` decodes, so the agent's real `BedrockModel` reads the local stream unchanged. A modelled
error inside a stream is an `exception` message whose `:exception-type` is the stream member's name: the
shape name in camelCase (`ThrottlingException` -> `throttlingException`); botocore raises it as
`EventStreamError` with that code. The test doubles in `tests/doubles` write their streams with it too.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

EVENTSTREAM = "application/vnd.amazon.eventstream"
_STRING = 7  # event-stream header value type: string


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total len, headers len, CRC32), headers, payload, message CRC32."""
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += struct.pack("!B", len(raw_name)) + raw_name
        encoded += struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + encoded + payload
    return body + struct.pack("!I", zlib.crc32(body))


def event_message(event_type: str, payload: dict[str, Any]) -> bytes:
    """A modelled event of a stream, e.g. `contentBlockDelta` with its JSON member."""
    headers = {":message-type": "event", ":event-type": event_type, ":content-type": "application/json"}
    return encode_message(headers, json.dumps(payload).encode())


def stream_member(code: str) -> str:
    """The event-stream member name of an error shape: `ThrottlingException` -> `throttlingException`."""
    return code[0].lower() + code[1:]


def exception_message(code: str, message: str) -> bytes:
    """A modelled exception inside the stream; `code` is the shape name, e.g. ThrottlingException."""
    headers = {
        ":message-type": "exception",
        ":exception-type": stream_member(code),
        ":content-type": "application/json",
    }
    return encode_message(headers, json.dumps({"message": message}).encode())
