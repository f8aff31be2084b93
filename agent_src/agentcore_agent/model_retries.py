"""The one retry layer of model calls, and its budget.

A caller is waiting for the answer, so a failing model call must fail soon, with a clear error. Two layers
used to multiply: botocore's standard mode (3 attempts) inside each of Strands' attempts gave 12 attempts over
~14 s for one throttled ConverseStream. Now botocore does not retry (`BOTOCORE_CONFIG`) and Strands retries,
because only the agent loop can tell whether a retry is safe: a failure before the stream started can be
retried, while an error inside a started stream is never retried (its text may already have reached the
caller, and would be sent twice); the caller gets a retryable error event instead.

Budget per model call (production values): at most `MAX_ATTEMPTS` = 4 attempts, waiting 1 s, 2 s, then 4 s
between them (`max_wait_seconds` = 7 s). Each attempt that fails before streaming costs a round trip (a 429
answers in milliseconds) or at most `CONNECT_TIMEOUT_SECONDS` when the endpoint cannot be reached, so a
call gives up after ≈ 7 s when throttled and ≤ 7 + 4 * 5 = 27 s when unreachable. What is retried:
throttling, model-not-ready, service-unavailable, internal errors and connection failures
(`model_errors.worth_retrying_now`).
"""

from __future__ import annotations

from botocore.config import Config
from strands import ModelRetryStrategy

from . import model_errors

MAX_ATTEMPTS = 4
INITIAL_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 4.0
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 120  # between two bytes of a stream; long answers stream for longer than that overall

# botocore's own retries are off (1 attempt in total): the strategy below is the only retry layer.
BOTOCORE_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
)


class ModelRetries(ModelRetryStrategy):
    """Exponential backoff (`initial_delay`, doubling, capped at `max_delay`) for transient model failures.

    Delays are seconds and may be fractions, so tests can run the production policy in milliseconds.
    """

    def __init__(
        self,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        initial_delay: float = INITIAL_DELAY_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
    ) -> None:
        super().__init__(max_attempts=max_attempts, initial_delay=initial_delay, max_delay=max_delay)  # type: ignore[arg-type]

    @property
    def max_attempts(self) -> int:
        """Attempts per model call, the first one included."""
        return self._max_attempts

    def delays(self) -> tuple[float, ...]:
        """The waits before each retry, in order."""
        return tuple(self._calculate_delay(attempt) for attempt in range(self._max_attempts - 1))

    @property
    def max_wait_seconds(self) -> float:
        """The total time spent waiting between the attempts of one model call."""
        return sum(self.delays())

    def is_retryable(self, exception: Exception) -> bool:
        """Transient failures before the stream started (see `model_errors.worth_retrying_now`)."""
        return model_errors.worth_retrying_now(exception)
