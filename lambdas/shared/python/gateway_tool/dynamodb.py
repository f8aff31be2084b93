"""Plain JSON <-> DynamoDB AttributeValue JSON, standard library only.

Used at run time by the tools (low-level client, no boto3 resource layer: faster cold start) and at synth
time by the CDK app to turn a `seed.json` into a BatchWriteItem request for a custom resource.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

MAX_BATCH_WRITE_ITEMS = 25


def marshal(value: Any) -> dict[str, Any]:
    """One plain value -> AttributeValue (str→S, bool→BOOL, number→N, None→NULL, list→L, dict→M)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"DynamoDB numbers must be finite, got {value!r}")
        return {"N": repr(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, list | tuple):
        return {"L": [marshal(item) for item in value]}
    if isinstance(value, Mapping):
        return {"M": marshal_item(value)}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def marshal_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict -> a DynamoDB item (map of AttributeValues)."""
    return {str(key): marshal(value) for key, value in item.items()}


def unmarshal(attribute: Mapping[str, Any]) -> Any:
    """One AttributeValue -> plain JSON value (N becomes int when integral, else float)."""
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "L":
        return [unmarshal(item) for item in value]
    if kind == "M":
        return unmarshal_item(value)
    if kind in {"SS", "NS"}:
        return sorted(unmarshal({kind[0]: member}) for member in value)
    raise TypeError(f"unsupported DynamoDB attribute type {kind}")


def unmarshal_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item -> plain dict."""
    return {key: unmarshal(value) for key, value in item.items()}


def load_seed(path: Path | str) -> list[dict[str, Any]]:
    """Read a seed.json (a JSON array of plain items); refuse more than one BatchWriteItem's worth."""
    items = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f"{path}: a seed file is a JSON array of objects")
    if len(items) > MAX_BATCH_WRITE_ITEMS:
        raise ValueError(f"{path}: {len(items)} items exceed one BatchWriteItem ({MAX_BATCH_WRITE_ITEMS})")
    return items


def batch_write_request(table_name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The `BatchWriteItem` parameters that put `items` into `table_name` (≤ 25 items)."""
    if len(items) > MAX_BATCH_WRITE_ITEMS:
        raise ValueError(f"one BatchWriteItem takes at most {MAX_BATCH_WRITE_ITEMS} items, got {len(items)}")
    return {"RequestItems": {table_name: [{"PutRequest": {"Item": marshal_item(item)}} for item in items]}}
