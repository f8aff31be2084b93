"""The OpenAI model option: Strands' own `OpenAIModel`, keyed with an API key from AgentCore Identity.

With MODEL_PROVIDER=openai the agent talks to OpenAI's chat completions (MODEL_ID is the OpenAI model). The
key lives only in the stage's AgentCore Identity API-key credential provider (OPENAI_API_KEY_PROVIDER); it is
never in the image, the environment or a log line:

- `@requires_api_key(provider_name=...)` (bedrock-agentcore SDK) calls `GetResourceApiKey` with the
  runtime's workload access token, which the SDK reads from the request context. The fetch therefore runs on
  a worker thread *in that context* (`asyncio.to_thread` copies it), so it never blocks the server's loop.
- `ApiKeyCache` keeps the key in process memory (the key is the agent's, not a user's, so one per process)
  and fetches it on first use only.
- A 401 from OpenAI means the key was rotated or revoked: the cache drops that key, fetches it again and the
  model call is retried once; a second 401 fails the turn. Nothing has been streamed before a 401, so the
  retry cannot duplicate any output.

Each model call builds a short-lived `OpenAIModel` (as Strands itself builds one OpenAI client per request),
so concurrent sessions never share mutable client state and a new key is used from the next call on.
The client honours OPENAI_BASE_URL (an OpenAI-compatible endpoint) like every OpenAI SDK client does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, Callable
from typing import Any

from strands.models.model import Model

from .model_retries import READ_TIMEOUT_SECONDS
from .settings import Settings

logger = logging.getLogger(__name__)

# The OpenAI client does not retry: `model_retries` is the one retry layer (Strands raises a 429 as
# ModelThrottledException, which it retries); a 401 is handled below by fetching the key again.
CLIENT_ARGS: dict[str, Any] = {"timeout": float(READ_TIMEOUT_SECONDS), "max_retries": 0}


class ApiKeyCache:
    """The agent's API key in memory: fetched on first use, dropped when the provider refuses it."""

    def __init__(self, fetch: Callable[[], str]) -> None:
        self._fetch = fetch
        self._key: str | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the key was fetched (for logs and tests)

    async def get(self) -> str:
        """The cached key, or a fresh one fetched in the caller's context on a worker thread."""
        key = self._key
        if key is not None:
            return key
        return await asyncio.to_thread(self._fetch_once)

    def invalidate(self, key: str) -> None:
        """Forget `key` (unless another call already replaced it)."""
        with self._lock:
            if self._key == key:
                self._key = None

    def _fetch_once(self) -> str:
        with self._lock:  # concurrent first calls share one fetch
            if self._key is None:
                key = self._fetch()
                if not isinstance(key, str) or not key:
                    raise ValueError("AgentCore Identity returned an empty API key")
                self._key = key
                self.fetches += 1
                logger.info("fetched the model API key from AgentCore Identity (fetch %d)", self.fetches)
            return self._key


class _NoResponseBodies(logging.Filter):
    """Drops botocore's DEBUG dump of raw response bodies, which would print the API key."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Response body")


_BOTOCORE_PARSERS = logging.getLogger("botocore.parsers")


def identity_api_key_fetcher(provider_name: str) -> Callable[[], str]:
    """A blocking function returning the provider's API key (GetResourceApiKey); call it in request context.

    botocore logs every response body at DEBUG (`botocore.parsers`): that record is filtered out, so even a
    LOG_LEVEL=DEBUG deployment never writes the key to its logs.
    """
    from bedrock_agentcore.identity.auth import requires_api_key

    if not any(isinstance(f, _NoResponseBodies) for f in _BOTOCORE_PARSERS.filters):
        _BOTOCORE_PARSERS.addFilter(_NoResponseBodies())

    @requires_api_key(provider_name=provider_name)
    def fetch(*, api_key: str = "") -> str:
        return api_key

    return fetch


class IdentityKeyedOpenAIModel(Model):
    """Strands' `OpenAIModel` with its key from an `ApiKeyCache`, refetched once when OpenAI answers 401."""

    def __init__(
        self, keys: ApiKeyCache, *, model_id: str, params: dict[str, Any] | None = None, **client_args: Any
    ) -> None:
        self._keys = keys
        self._client_args = {**CLIENT_ARGS, **client_args}
        self.config: dict[str, Any] = {"model_id": model_id, **({"params": params} if params else {})}

    def update_config(self, **model_config: Any) -> None:
        self.config.update(model_config)

    def get_config(self) -> dict[str, Any]:
        return dict(self.config)

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        async for event in self._with_fresh_key("stream", *args, **kwargs):
            yield event

    async def structured_output(self, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        async for event in self._with_fresh_key("structured_output", *args, **kwargs):
            yield event

    async def _with_fresh_key(self, method: str, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        import openai
        from strands.models.openai import OpenAIModel

        for attempt in (1, 2):
            key = await self._keys.get()
            provider = OpenAIModel(client_args={**self._client_args, "api_key": key}, **self.config)
            emitted = False
            try:
                async for event in getattr(provider, method)(*args, **kwargs):
                    emitted = True
                    yield event
                return
            except openai.AuthenticationError:
                self._keys.invalidate(key)
                if emitted or attempt == 2:
                    raise
                logger.warning("OpenAI refused the API key (401); fetching it again from AgentCore Identity")


def openai_model(settings: Settings, keys: ApiKeyCache | None = None) -> IdentityKeyedOpenAIModel:
    """The stage's OpenAI model; `keys` defaults to a new cache over the stage's API-key provider."""
    if settings.openai_api_key_provider is None:
        raise ValueError("OPENAI_API_KEY_PROVIDER is not set")
    if keys is None:
        keys = ApiKeyCache(identity_api_key_fetcher(settings.openai_api_key_provider))
    return IdentityKeyedOpenAIModel(keys, model_id=settings.model_id)
