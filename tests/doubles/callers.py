"""Verified callers as the gateway's REQUEST interceptor writes them into a tool call's `caller` argument.

For handler tests that call a tool function directly (the end-to-end tests get theirs from the real
interceptor, from real tokens). The customers match the seed data (lambdas/orders/seed.json).
"""

from __future__ import annotations

from typing import Any

CUSTOMER_A = {"sub": "sub-customer-a", "role": "customer", "customer_id": "CUST-001"}
CUSTOMER_B = {"sub": "sub-customer-b", "role": "customer", "customer_id": "CUST-002"}
OPERATOR = {"sub": "sub-operator", "role": "operator"}
SERVICE = {"sub": "m2m-client-id", "role": "service"}


def as_caller(args: Any, caller: dict[str, Any] | None = OPERATOR) -> Any:
    """`args` with the reserved `caller` argument set (non-dict arguments are passed through)."""
    if not isinstance(args, dict) or caller is None:
        return args
    return {**args, "caller": caller}
