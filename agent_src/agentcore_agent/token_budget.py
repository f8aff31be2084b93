"""Per-caller daily token budgets: once a budget is spent, the next turn is refused before any model call.

Why here and not only at the gateway: the gateway's rate limits count requests, not tokens, and it never sees
the model's usage. The agent does: each turn is charged the tokens the model itself reported (Strands'
accumulated usage: the `metadata.usage` of every model call of the turn, failed turns included), to the
verified caller (the token's `sub`, never a payload field), with one budget per kind of caller (users,
operators, machine clients).

Storage: one DynamoDB item per caller and UTC day (`used`, `largest` turn, `running` turns, `version`),
removed by TTL two days later. DynamoDB conditions cannot do arithmetic, so every change is a conditional
write on the item's `version` (optimistic concurrency, retried on conflict): no two admissions see the same
state.

Parallel turns of one caller (two sessions) are admitted while they all fit: `used + (running + 1) * turn
<= budget`, where `turn` is the caller's largest turn today (at least `TURN_FLOOR`). Otherwise a turn is
admitted only when it is the caller's only running turn and `used` < budget. So the budget is overspent by at
most one turn, unless a running turn is larger than any before it. A turn whose process died never charges:
its place in `running` expires after `LEASE_SECONDS`.

The check fails closed: when the table cannot be reached, the turn is refused with a retryable error (a
cost guard that lets everything through while it is down guards nothing).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from .settings import Settings

logger = logging.getLogger(__name__)

KINDS = ("user", "operator", "machine")
TURN_FLOOR = 2_000  # tokens a turn is assumed to take before the caller's first turn of the day
LEASE_SECONDS = 3_600  # a running turn longer than this (the runtime streams for at most 60 min) has died
EXPIRY_DAYS = 2  # the TTL keeps yesterday's item readable for a while, then DynamoDB removes it
KNOWN_ITEMS = 1_024  # callers whose item this process remembers (one per session in a runtime microVM)
_ATTEMPTS = 5  # conflicting writes of one caller's own turns; more means something is wrong


@dataclass(frozen=True)
class Refusal:
    """Why a turn may not start: `code` for the error event, `message` for the person, `retryable`."""

    code: str
    message: str
    retryable: bool


@dataclass(frozen=True)
class Admission:
    """A turn that may call the model; charge it exactly once with `TokenBudget.charge`."""

    key: str
    turn_id: str


@dataclass
class _State:
    used: int = 0
    largest: int = 0
    running: dict[str, int] | None = None
    version: int = 0

    @classmethod
    def of(cls, item: Mapping[str, Any] | None) -> _State:
        if not item:
            return cls(running={})
        running = {turn: int(v["N"]) for turn, v in item.get("running", {}).get("M", {}).items()}
        return cls(
            used=int(item["used"]["N"]),
            largest=int(item["largest"]["N"]),
            running=running,
            version=int(item["version"]["N"]),
        )


class TokenBudget:
    """Admit and charge turns against `limits[kind]` tokens per UTC day, stored in `table`."""

    def __init__(
        self,
        client: Any,
        table: str,
        limits: Mapping[str, int],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        missing = [kind for kind in KINDS if kind not in limits]
        if missing:
            raise ValueError(f"no token budget for {', '.join(missing)}")
        self._client = client
        self._table = table
        self._limits = dict(limits)
        self._clock = clock
        # The item as this process last wrote it, per key: the next change is written against it without a
        # read, and a change made meanwhile elsewhere (another session's process) fails the condition and
        # is read then. Halves the round trips a turn waits for (bench/bench_token_budget.py).
        self._known: OrderedDict[str, _State] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenBudget:
        """The stage's budgets on its usage table; short timeouts and one retry, as for memory calls (a
        turn waits for the check)."""
        import boto3
        from botocore.config import Config

        assert settings.token_budget_table is not None
        config = Config(
            connect_timeout=2,
            read_timeout=2,
            retries={"total_max_attempts": 2, "mode": "standard"},
            user_agent_extra="agentcore-cdk-token-budget",
        )
        client = boto3.session.Session().client("dynamodb", region_name=settings.region, config=config)
        return cls(client, settings.token_budget_table, settings.token_budgets)

    def admit(self, actor_id: str, kind: str) -> Admission | Refusal:
        """Register a running turn of `actor_id`, or say why it may not start. Blocking (off the loop)."""
        limit = self._limits[kind]
        now = self._clock()
        key = _key(actor_id, now)
        turn_id = uuid.uuid4().hex
        try:
            fresh = False
            for _ in range(_ATTEMPTS):
                state = self._state(key, fresh=fresh)
                running = {t: expiry for t, expiry in (state.running or {}).items() if expiry > now}
                turn = max(state.largest, TURN_FLOOR)
                fits = state.used + (len(running) + 1) * turn <= limit
                if not fits and not fresh:
                    fresh = True  # refuse only on what DynamoDB holds: turns seen running may have ended
                    continue
                if not fits and state.used >= limit:
                    return _spent(limit, now)
                if not fits and running:
                    return Refusal(
                        "TokenBudgetBusy",
                        "Your other running turns may use the rest of today's token budget; "
                        "retry when they have finished.",
                        True,
                    )
                running[turn_id] = int(now) + LEASE_SECONDS
                if self._write(key, state, now, used=state.used, largest=state.largest, running=running):
                    return Admission(key, turn_id)
                fresh = True
            raise _Conflict()
        except (BotoCoreError, ClientError, _Conflict) as error:
            logger.error("token budget check failed for actor %s: %s", actor_id, _describe(error))
            return Refusal(
                "TokenBudgetUnavailable",
                "Your token budget cannot be checked right now; retry in a moment.",
                True,
            )

    def charge(self, admission: Admission, tokens: int) -> None:
        """Add the turn's `tokens` and end it. Blocking. A failure is logged: the turn answered already."""
        now = self._clock()
        try:
            for attempt in range(_ATTEMPTS):
                state = self._state(admission.key, fresh=attempt > 0)
                running = dict(state.running or {})
                if running.pop(admission.turn_id, None) is None:
                    logger.warning(
                        "turn %s was not running (lease expired); charged anyway", admission.turn_id
                    )
                used, largest = state.used + tokens, max(state.largest, tokens)
                if self._write(admission.key, state, now, used=used, largest=largest, running=running):
                    return
            raise _Conflict()
        except (BotoCoreError, ClientError, _Conflict) as error:
            logger.error("could not charge %d tokens to %s: %s", tokens, admission.key, _describe(error))

    def _state(self, key: str, *, fresh: bool) -> _State:
        """The item as last written here, or (`fresh`, or not known) as DynamoDB has it."""
        known = self._known.get(key)
        return known if known is not None and not fresh else self._read(key)

    def _read(self, key: str) -> _State:
        reply = self._client.get_item(
            TableName=self._table, Key={"usage_key": {"S": key}}, ConsistentRead=True
        )
        return _State.of(reply.get("Item"))

    def _write(
        self, key: str, state: _State, now: float, *, used: int, largest: int, running: dict[str, int]
    ) -> bool:
        """Replace the item if nobody changed it since `state` was read; False when somebody did."""
        item = {
            "usage_key": {"S": key},
            "used": {"N": str(used)},
            "largest": {"N": str(largest)},
            "running": {"M": {turn: {"N": str(expiry)} for turn, expiry in running.items()}},
            "version": {"N": str(state.version + 1)},
            "expires_at": {"N": str(int(_day_start(now).timestamp()) + (EXPIRY_DAYS + 1) * 86_400)},
        }
        condition = (
            {
                "ConditionExpression": "version = :seen",
                "ExpressionAttributeValues": {":seen": {"N": str(state.version)}},
            }
            if state.version
            else {"ConditionExpression": "attribute_not_exists(usage_key)"}
        )
        try:
            self._client.put_item(TableName=self._table, Item=item, **condition)
        except ClientError as error:
            self._known.pop(key, None)
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        self._known[key] = _State(used, largest, dict(running), state.version + 1)
        self._known.move_to_end(key)
        while len(self._known) > KNOWN_ITEMS:
            self._known.popitem(last=False)
        return True


def turn_tokens(usage: Mapping[str, Any] | None) -> int:
    """The tokens a model usage report counts (input + output; cache reads and writes are input too)."""
    if not usage:
        return 0
    total = usage.get("totalTokens")
    if isinstance(total, int) and total >= 0:
        return total
    return sum(int(usage.get(name) or 0) for name in ("inputTokens", "outputTokens"))


class _Conflict(Exception):
    def __str__(self) -> str:
        return f"the usage item changed under {_ATTEMPTS} attempts in a row"


def _key(actor_id: str, now: float) -> str:
    return f"{actor_id}#{_day_start(now).date().isoformat()}"


def _day_start(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _spent(limit: int, now: float) -> Refusal:
    resets = _day_start(now) + timedelta(days=1)
    left = int(resets.timestamp() - now)
    hours, minutes = left // 3600, (left % 3600) // 60
    return Refusal(
        "TokenBudgetExhausted",
        f"You have used today's token budget ({limit:,} tokens). It resets at 00:00 UTC, "
        f"in {hours} h {minutes:02d} min.",
        False,
    )


def _describe(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or error)
    return str(error) or type(error).__name__
