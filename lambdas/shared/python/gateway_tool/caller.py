"""The verified caller of a tool call: written into the arguments by the gateway's REQUEST interceptor.

The model chooses a tool's arguments, so no argument it writes may decide whose data a tool touches. The
interceptor (`lambdas/interceptor`) reads the claims of the token the gateway has already verified and
writes them as the reserved `caller` argument, replacing anything the model sent there. Every tool schema
declares that argument (`load_tools` adds it), so the gateway, its Cedar schema and the handlers' validation
all accept it; the handlers refuse a call without one. Standard library only: the CDK app imports this.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gateway_tool.errors import ErrorCode, ToolError

CALLER_ARGUMENT = "caller"


class Role(StrEnum):
    """What a verified caller is: a bound customer, an operator, or the agent's own machine identity."""

    CUSTOMER = "customer"
    OPERATOR = "operator"
    SERVICE = "service"


CALLER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Reserved: the gateway sets this from the verified sign-in and replaces anything sent here. Leave it "
        "out."
    ),
    "properties": {
        "sub": {
            "type": "string",
            "description": "The verified subject (token 'sub').",
            "minLength": 1,
            "maxLength": 128,
        },
        "role": {
            "type": "string",
            "description": "The verified role.",
            "enum": [str(role) for role in Role],
        },
        "customer_id": {
            "type": "string",
            "description": "The customer the verified user is bound to (customers only).",
            "minLength": 1,
            "maxLength": 64,
        },
    },
    "required": ["sub", "role"],
    "additionalProperties": False,
}
"""The JSON Schema of the reserved argument, added to every tool's input schema."""


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the gateway verified it."""

    sub: str
    role: Role
    customer_id: str | None = None

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> Caller:
        """The caller of a (schema-validated) call; no caller, or a customer with no binding, is refused."""
        raw = arguments.get(CALLER_ARGUMENT)
        if not isinstance(raw, dict):
            raise ToolError(
                ErrorCode.PERMISSION_DENIED,
                "no verified caller: this tool only runs behind the gateway's identity interceptor",
            )
        caller = cls(sub=raw["sub"], role=Role(raw["role"]), customer_id=raw.get("customer_id"))
        if caller.role is Role.CUSTOMER and not caller.customer_id:
            raise ToolError(ErrorCode.PERMISSION_DENIED, "the signed-in user is not bound to a customer")
        return caller

    def require(self, *roles: Role, action: str) -> None:
        """Refuse unless the caller has one of `roles`."""
        if self.role not in roles:
            raise ToolError(
                ErrorCode.PERMISSION_DENIED,
                f"{action} is not allowed for a {self.role} caller",
                caller_role=str(self.role),
            )

    def owns(self, customer_id: str | None) -> bool:
        """True for an operator, or for the customer the record belongs to."""
        return self.role is Role.OPERATOR or (
            self.role is Role.CUSTOMER and customer_id is not None and customer_id == self.customer_id
        )

    def log_keys(self) -> dict[str, str]:
        """What the tool's log lines carry about the caller (never a token)."""
        keys = {"caller_sub": self.sub, "caller_role": str(self.role)}
        if self.customer_id:
            keys["caller_customer_id"] = self.customer_id
        return keys
