"""Typed, validated configuration of the agent container, read once from the environment.

The CDK runtime stack sets these variables; their names are a contract with it. Parsing happens at start-up
so that a bad deployment fails fast with one line naming the variable instead of failing on the first call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful, concise assistant. Answer the user's question directly. "
    "Use the tools you are given when they help, and say so when you do not know."
)
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_+-]{1,128}$")
# The data plane's identifier patterns: a custom resource id (`<name>-<10 chars>`) or the AWS-managed one.
_CODE_INTERPRETER_ID = re.compile(r"^(aws\.codeinterpreter\.v1|[a-zA-Z][a-zA-Z0-9_]{0,47}-[a-zA-Z0-9]{10})$")
_PROVIDER_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")  # AgentCore Identity credential provider names
_DOMAIN = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MODEL_PROVIDERS = ("bedrock", "openai")
_BUDGET_VARIABLES = {
    "user": "TOKEN_BUDGET_USER",
    "operator": "TOKEN_BUDGET_OPERATOR",
    "machine": "TOKEN_BUDGET_MACHINE",
}
_TABLE_NAME = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")
_BROWSER_ID = re.compile(r"^(aws\.browser\.v1|[a-zA-Z][a-zA-Z0-9_]{0,47}-[a-zA-Z0-9]{10})$")


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything the agent needs from its environment (see `from_env` for the variable names)."""

    region: str
    model_id: str
    # MODEL_PROVIDER=openai calls OpenAI's chat completions with MODEL_ID as the OpenAI model; its key comes
    # from the AgentCore Identity API-key provider OPENAI_API_KEY_PROVIDER (see openai_model.py).
    model_provider: str = "bedrock"
    openai_api_key_provider: str | None = None
    oidc_discovery_url: str | None = None
    allowed_clients: frozenset[str] = frozenset()
    max_prompt_chars: int = 8000
    # MAX_BODY_BYTES: larger request bodies are refused (413) before they are parsed. It must admit any
    # valid prompt: JSON may spend up to 12 bytes on one character (a \uXXXX surrogate pair).
    max_body_bytes: int = 1_048_576
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    session_cache_size: int = 256
    # Parsed here for the memory and gateway modules (owned elsewhere); this package does not act on them.
    memory_id: str | None = None
    memory_namespaces: Mapping[str, str] = field(default_factory=dict)
    memory_last_k_turns: int = 5
    memory_top_k: int = 3
    gateway_url: str | None = None
    gateway_credential_provider: str | None = None
    gateway_scopes: tuple[str, ...] = ()
    # CODE_INTERPRETER_ID (the stage's custom interpreter) turns on the `execute_python` tool;
    # CODE_INTERPRETER_TIMEOUT_SECONDS bounds each call to it (see code_interpreter.py).
    code_interpreter_id: str | None = None
    code_interpreter_timeout_seconds: int = 60
    # BROWSER_ID (the stage's custom Browser) with at least one BROWSER_ALLOWED_DOMAINS entry turns on the
    # `browse_web` tool (see browser.py); BROWSER_TIMEOUT_SECONDS bounds each step of it.
    browser_id: str | None = None
    browser_allowed_domains: tuple[str, ...] = ()
    browser_timeout_seconds: int = 20
    # TOKEN_BUDGET_TABLE (the stage's usage table) turns on the daily token budgets, one per kind of caller:
    # TOKEN_BUDGET_USER, TOKEN_BUDGET_OPERATOR, TOKEN_BUDGET_MACHINE (tokens per UTC day, token_budget.py).
    token_budget_table: str | None = None
    token_budgets: Mapping[str, int] = field(default_factory=dict)

    @property
    def browser_enabled(self) -> bool:
        """The browser tool is offered only with a browser and at least one site it may open."""
        return self.browser_id is not None and bool(self.browser_allowed_domains)

    @property
    def code_interpreter_enabled(self) -> bool:
        """The `execute_python` tool is offered exactly when an interpreter id is configured."""
        return self.code_interpreter_id is not None

    @property
    def auth_enabled(self) -> bool:
        """Inbound JWT checks are on exactly when a discovery URL is configured."""
        return self.oidc_discovery_url is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Parse the environment the CDK runtime stack sets; raise `SettingsError` on the first bad value."""
        env = {key: value.strip() for key, value in environ.items()}

        def optional(name: str) -> str | None:
            return env.get(name) or None

        region = optional("AWS_REGION") or optional("AWS_DEFAULT_REGION")
        if region is None:
            raise SettingsError("AWS_REGION (or AWS_DEFAULT_REGION) must be set, e.g. us-east-1")
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
            raise SettingsError(f"AWS_REGION={region!r} is not an AWS region name such as us-east-1")

        model_id = optional("MODEL_ID")
        if model_id is None:
            raise SettingsError(
                "MODEL_ID must be set to a Bedrock (or, with MODEL_PROVIDER=openai, an OpenAI) model id"
            )

        model_provider = optional("MODEL_PROVIDER") or "bedrock"
        if model_provider not in MODEL_PROVIDERS:
            raise SettingsError(
                f"MODEL_PROVIDER={model_provider!r} must be one of {', '.join(MODEL_PROVIDERS)}"
            )
        api_key_provider = optional("OPENAI_API_KEY_PROVIDER")
        if model_provider == "openai" and api_key_provider is None:
            raise SettingsError(
                "OPENAI_API_KEY_PROVIDER must name the API-key provider when MODEL_PROVIDER=openai"
            )
        if api_key_provider is not None and not _PROVIDER_NAME.fullmatch(api_key_provider):
            raise SettingsError(
                f"OPENAI_API_KEY_PROVIDER={api_key_provider!r} is not a credential provider name"
            )

        domains = _split(env.get("BROWSER_ALLOWED_DOMAINS", ""), ",")
        for domain in domains:
            if not _DOMAIN.fullmatch(domain):
                raise SettingsError(
                    f"BROWSER_ALLOWED_DOMAINS contains {domain!r}, which is not a domain name"
                )

        discovery_url = optional("OIDC_DISCOVERY_URL")
        allowed = _split(env.get("ALLOWED_CLIENTS", ""), ",")
        if discovery_url is not None:
            _check_discovery_url(discovery_url)
            if not allowed:
                raise SettingsError("ALLOWED_CLIENTS must list at least one app client id when auth is on")
        for client in allowed:
            if not _CLIENT_ID.fullmatch(client):
                raise SettingsError(f"ALLOWED_CLIENTS contains {client!r}, which is not an app client id")

        budget_table = optional("TOKEN_BUDGET_TABLE")
        budgets: dict[str, int] = {}
        if budget_table is not None:
            if not _TABLE_NAME.fullmatch(budget_table):
                raise SettingsError(f"TOKEN_BUDGET_TABLE={budget_table!r} is not a DynamoDB table name")
            for kind, name in _BUDGET_VARIABLES.items():
                if not env.get(name):
                    raise SettingsError(f"{name} must be set (tokens per day) when TOKEN_BUDGET_TABLE is set")
                budgets[kind] = _int(env, name, 0, minimum=1)

        max_prompt_chars = _int(env, "MAX_PROMPT_CHARS", 8000, minimum=1)
        smallest_body = 12 * max_prompt_chars + 1024  # the longest valid prompt, fully escaped, plus framing
        return cls(
            region=region,
            model_id=model_id,
            model_provider=model_provider,
            openai_api_key_provider=api_key_provider,
            oidc_discovery_url=discovery_url,
            allowed_clients=frozenset(allowed),
            max_prompt_chars=max_prompt_chars,
            max_body_bytes=_int(env, "MAX_BODY_BYTES", max(1_048_576, smallest_body), minimum=smallest_body),
            system_prompt=optional("SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT,
            session_cache_size=_int(env, "SESSION_CACHE_SIZE", 256, minimum=1),
            memory_id=optional("MEMORY_ID"),
            memory_namespaces=_namespaces(env.get("MEMORY_NAMESPACES", "")),
            memory_last_k_turns=_int(env, "MEMORY_LAST_K_TURNS", 5, minimum=0),
            memory_top_k=_int(env, "MEMORY_TOP_K", 3, minimum=1),
            gateway_url=_optional_url(env, "GATEWAY_URL"),
            gateway_credential_provider=optional("GATEWAY_CREDENTIAL_PROVIDER"),
            gateway_scopes=tuple(_split(env.get("GATEWAY_SCOPES", ""), None)),
            code_interpreter_id=_optional_id(env, "CODE_INTERPRETER_ID", _CODE_INTERPRETER_ID),
            code_interpreter_timeout_seconds=_int(
                env, "CODE_INTERPRETER_TIMEOUT_SECONDS", 60, minimum=1, maximum=900
            ),
            browser_id=_optional_id(env, "BROWSER_ID", _BROWSER_ID),
            browser_allowed_domains=tuple(domains),
            browser_timeout_seconds=_int(env, "BROWSER_TIMEOUT_SECONDS", 20, minimum=1, maximum=300),
            token_budget_table=budget_table,
            token_budgets=budgets,
        )


def _split(raw: str, separator: str | None) -> list[str]:
    """Split a list-valued variable, dropping blanks so trailing separators are harmless."""
    return [item.strip() for item in raw.split(separator) if item.strip()]


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    """Read an integer variable with bounds; blank means the default."""
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name}={value} must be at most {maximum}")
    return value


def _optional_id(env: Mapping[str, str], name: str, pattern: re.Pattern[str]) -> str | None:
    """An optional AgentCore tool resource id (an id, not an ARN: the data plane takes the id)."""
    raw = env.get(name, "")
    if raw == "":
        return None
    if not pattern.fullmatch(raw):
        raise SettingsError(f"{name}={raw!r} is not an AgentCore resource id such as myTool_dev-a1B2c3D4e5")
    return raw


def _namespaces(raw: str) -> dict[str, str]:
    """MEMORY_NAMESPACES is a JSON object of strategy name → namespace template."""
    if raw == "":
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise SettingsError(f"MEMORY_NAMESPACES is not valid JSON ({error.msg})") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise SettingsError("MEMORY_NAMESPACES must be a JSON object of string values")
    return dict(value)


def _optional_url(env: Mapping[str, str], name: str) -> str | None:
    """An optional https URL (http only for a local test host)."""
    raw = env.get(name, "")
    if raw == "":
        return None
    _check_url(name, raw)
    return raw


def _check_url(name: str, url: str) -> None:
    """Refuse anything but https, except plain http to a loopback host (local development and tests)."""
    parsed = urlparse(url)
    if not parsed.hostname or parsed.scheme not in {"https", "http"}:
        raise SettingsError(f"{name}={url!r} is not an absolute http(s) URL")
    if parsed.scheme == "http" and parsed.hostname not in _LOCAL_HOSTS:
        raise SettingsError(f"{name}={url!r} must use https (http is only allowed for localhost)")


def _check_discovery_url(url: str) -> None:
    """The runtime's JWT authorizer requires the same shape, so mirror its rule here."""
    _check_url("OIDC_DISCOVERY_URL", url)
    if not urlparse(url).path.endswith(DISCOVERY_SUFFIX):
        raise SettingsError(f"OIDC_DISCOVERY_URL={url!r} must end with {DISCOVERY_SUFFIX}")
