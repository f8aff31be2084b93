"""Builds the Strands agent for one (actor, session); tools and hooks are injected by the caller.

Gateway tool search and memory (Strands `Plugin`s) and the tools are written elsewhere and passed in
through `tools`/`hooks`, so this module stays the one place that decides how an agent is put together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strands import Agent, ModelRetryStrategy
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.hooks import HookProvider
from strands.models.model import Model
from strands.plugins import Plugin

from .model_retries import BOTOCORE_CONFIG, ModelRetries
from .settings import Settings
from .system_prompt import compose

CONVERSATION_WINDOW = 40  # messages kept in the model's context per session


def default_model(settings: Settings) -> Model:
    """The production model: Bedrock Converse in the runtime's region, or OpenAI (MODEL_PROVIDER=openai).

    Bedrock runs without botocore's own retries: `model_retries` is the one retry layer.
    """
    if settings.model_provider == "openai":
        from .openai_model import openai_model  # keyed through AgentCore Identity, see openai_model.py

        return openai_model(settings)
    from strands.models.bedrock import BedrockModel  # imported lazily: boto3 client set-up is slow

    return BedrockModel(
        model_id=settings.model_id, region_name=settings.region, boto_client_config=BOTOCORE_CONFIG
    )


def default_retry_strategy() -> ModelRetryStrategy:
    """The one retry layer of model calls; its budget is documented in `model_retries`."""
    return ModelRetries()


def build_agent(
    settings: Settings,
    *,
    model: Model | None = None,
    session_id: str,
    actor_id: str,
    tools: Sequence[Any] = (),
    hooks: Sequence[HookProvider | Plugin] = (),
    retry_strategy: ModelRetryStrategy | None = None,
) -> Agent:
    """Return a fresh agent; `actor_id`/`session_id` go into its state and traces for hooks and tracing.

    `retry_strategy=None` means default throttling retries; `ModelRetryStrategy(max_attempts=1)` means none.
    """
    return Agent(
        model=model if model is not None else default_model(settings),
        # the tools' usage rules, and always last the data-not-instructions rule
        system_prompt=compose(settings.system_prompt, [getattr(t, "tool_name", "") for t in tools]),
        tools=list(tools),
        hooks=[hook for hook in hooks if not isinstance(hook, Plugin)],
        plugins=[hook for hook in hooks if isinstance(hook, Plugin)],
        callback_handler=None,  # the entrypoint streams events itself; the default handler prints to stdout
        conversation_manager=SlidingWindowConversationManager(window_size=CONVERSATION_WINDOW),
        retry_strategy=retry_strategy if retry_strategy is not None else default_retry_strategy(),
        state={"actor_id": actor_id, "session_id": session_id},
        trace_attributes={"session.id": session_id, "user.id": actor_id},
        name="agentcore_agent",
    )
