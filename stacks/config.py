"""Typed, validated per-stage configuration read from the `cdk.json` context.

Everything stage-specific comes from here, so a stack never hard-codes a region, size or name. A bad value
stops synth with one line naming the stage and the key (`ConfigError`), before any construct is built.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib.util
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_KEY = "agentcore:project"
DEFAULTS_KEY = "agentcore:defaults"
STAGES_KEY = "agentcore:stages"
PIPELINE_KEY = "agentcore:pipeline"
CONTEXT_KEYS = (PROJECT_KEY, DEFAULTS_KEY, STAGES_KEY, PIPELINE_KEY)

# AgentCore resource types this app deploys; a stage's region must offer all of them.
AGENTCORE_TYPES = (
    "AWS::BedrockAgentCore::Runtime",
    "AWS::BedrockAgentCore::RuntimeEndpoint",
    "AWS::BedrockAgentCore::Gateway",
    "AWS::BedrockAgentCore::GatewayTarget",
    "AWS::BedrockAgentCore::Memory",
    "AWS::BedrockAgentCore::OAuth2CredentialProvider",
    "AWS::BedrockAgentCore::BrowserCustom",
    "AWS::BedrockAgentCore::CodeInterpreterCustom",
)
# A stage with online evaluation also needs this type in its region.
ONLINE_EVALUATION_TYPE = "AWS::BedrockAgentCore::OnlineEvaluationConfig"
# Built-in evaluators whose score (0..1) rises with quality, so a low-score alarm reads them the right way up.
# The safety evaluators (Builtin.Harmfulness, Builtin.Stereotyping, Builtin.Refusal) are left out: which way
# their score points is not documented.
SCORED_EVALUATORS = (
    "Builtin.GoalSuccessRate", "Builtin.Helpfulness", "Builtin.Correctness", "Builtin.Faithfulness",
    "Builtin.Coherence", "Builtin.ResponseRelevance", "Builtin.Conciseness", "Builtin.InstructionFollowing",
    "Builtin.ToolSelectionAccuracy", "Builtin.ToolParameterAccuracy",
)  # fmt: skip
SAFETY_EVALUATORS = ("Builtin.Harmfulness", "Builtin.Stereotyping", "Builtin.Refusal")
MAX_EVALUATORS = 10  # per online evaluation configuration (AgentCore's limit)
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)  # fmt: skip
CANARY_ENDPOINT = "canary"  # the second runtime endpoint of a stage with canary_percent (docs/CANARY.md)
MAX_CANARY_PERCENT = 50  # a canary is the smaller share; above half, promote instead
MAX_CANARY_BAKE_MINUTES = (
    480  # the rollout step's CodeBuild timeout is the bake plus a margin, within 8 hours
)
AGENTCORE_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_]{0,47}")
PROJECT_NAME = re.compile(r"[a-z][a-z0-9]{1,15}")
STAGE_NAME = re.compile(r"[a-z][a-z0-9]{1,11}")
ACCOUNT_ID = re.compile(r"\d{12}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MODEL_ID = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?")
OPENAI_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
SECRET_ARN = re.compile(r"arn:aws[\w-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@!-]+")
SECRET_JSON_KEY = re.compile(r"[\w.-]{1,128}")  # AgentCore takes 1-128 characters; no spaces or quotes here
KMS_KEY_ARN = re.compile(r"arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:key/[\w-]+")
DOMAIN = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# Ids of one provider given to the other: a Bedrock id names its vendor (`us.anthropic.…`, `openai.gpt-oss…`).
BEDROCK_VENDOR_ID = re.compile(r"([a-z]{2,4}\.)?[a-z0-9]+\.[a-z0-9-]+.*")
OPENAI_STYLE_ID = re.compile(r"(gpt-|chatgpt-|o\d).*")
ENDPOINT_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_]{0,47}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
REPOSITORY = re.compile(r"[\w.-]+/[\w.-]+")
BRANCH = re.compile(r"[\w./-]{1,255}")
CONNECTION_ARN = re.compile(
    r"arn:aws[\w-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[\w-]+"
)


class ConfigError(ValueError):
    """A configuration value AWS or this app would reject; the message is one line for the operator."""


@functools.cache
def regions_offering(resource_types: tuple[str, ...]) -> frozenset[str]:
    """Regions whose CloudFormation offers every one of `resource_types` (cfn-lint's per-region specs)."""
    # Located, not imported: importing cfnlint costs ~2 s of every synth (it pulls in sympy and networkx).
    package = importlib.util.find_spec("cfnlint")
    if package is None or package.origin is None:
        raise ConfigError("cfn-lint is not installed: run `make synth`, which installs requirements.txt")
    providers = Path(package.origin).parent / "data" / "schemas" / "providers"
    regions = set()
    for spec in providers.glob("*.json"):
        types = json.loads(spec.read_text())
        if all(t in types for t in resource_types):
            regions.add(spec.stem)
    return frozenset(regions)


def agentcore_regions() -> frozenset[str]:
    """Regions whose CloudFormation offers every AgentCore type we deploy."""
    return regions_offering(AGENTCORE_TYPES)


def _one_of(*allowed: object) -> Callable[[Any], str | None]:
    return lambda v: None if v in allowed else f"must be one of {', '.join(map(str, allowed))}"


def _between(low: float, high: float) -> Callable[[Any], str | None]:
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}"


def _matches(pattern: re.Pattern[str], what: str) -> Callable[[Any], str | None]:
    return lambda v: None if pattern.fullmatch(v) else f"must be {what} (pattern {pattern.pattern})"


def _each(values: Any, pattern: re.Pattern[str], what: str) -> str | None:
    for value in values:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            return f"{json.dumps(value)} must be {what}"
    return None


def _each_between(values: Any, low: int, high: int) -> str | None:
    """1 to 10 distinct whole numbers from `low` to `high` (budget alert thresholds, in percent)."""
    if not values or len(values) > 10 or len(set(map(str, values))) != len(values):
        return f"must list 1 to 10 distinct numbers from {low} to {high}"
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"{json.dumps(value)} must be a whole number from {low} to {high}"
    return None


def _evaluators(values: Any) -> str | None:
    """1 to 10 distinct built-in evaluators whose score rises with quality."""
    if not values or len(values) > MAX_EVALUATORS:
        return f"must name 1 to {MAX_EVALUATORS} evaluators"
    for value in values:
        if value in SAFETY_EVALUATORS:
            return (
                f"{json.dumps(value)} is a safety evaluator whose score direction is not documented, so a "
                "low-score alarm could read it backwards"
            )
        if value not in SCORED_EVALUATORS:
            return f"{json.dumps(value)} must be one of {', '.join(SCORED_EVALUATORS)}"
    if len(set(values)) != len(values):
        return "names an evaluator twice"
    return None


def _region(value: str) -> str | None:
    if value in agentcore_regions():
        return None
    return f"'{value}' does not offer Bedrock AgentCore (one of: {', '.join(sorted(agentcore_regions()))})"


def _setting(
    kind: type | tuple[type, ...], check: Callable[[Any], str | None] | None = None, **kw: Any
) -> Any:
    return dataclasses.field(metadata={"kind": kind, "check": check}, **kw)


@dataclass(frozen=True)
class StageConfig:
    """One deployment stage. Field docs are the README's config table."""

    name: str = _setting(str, _matches(STAGE_NAME, "lower-case letters and digits, 2-12 characters"))
    project: str = _setting(str, _matches(PROJECT_NAME, "lower-case letters and digits, 2-16 characters"))
    region: str = _setting(str, _region)
    model_id: str = _setting(str, _matches(MODEL_ID, "a Bedrock model or inference profile id"))
    account: str | None = _setting(str, _matches(ACCOUNT_ID, "a 12-digit AWS account id"), default=None)
    removal: str = _setting(str, _one_of("destroy", "retain"), default="destroy")
    log_retention_days: int = _setting(int, _one_of(*LOG_RETENTION_DAYS), default=30)
    # Identity (Cognito)
    mfa: str = _setting(str, _one_of("optional", "required"), default="optional")
    threat_protection: str = _setting(str, _one_of("audit", "enforced"), default="enforced")
    access_token_minutes: int = _setting(int, _between(5, 1440), default=60)
    # Delivery
    approval_required: bool = _setting(bool, default=False)
    # Tools and gateway
    gateway_debug_errors: bool = _setting(bool, default=False)
    gateway_calls_per_caller_per_minute: int = _setting(int, _between(1, 12_000), default=120)
    policy_validation: str = _setting(str, _one_of("fail", "ignore"), default="fail")
    seed_sample_data: bool = _setting(bool, default=True)
    # Model: Bedrock (`model_id`) or OpenAI (`openai_model_id`, key from the operator's secret, see README)
    model_provider: str = _setting(str, _one_of("bedrock", "openai"), default="bedrock")
    openai_model_id: str | None = _setting(
        str, _matches(OPENAI_MODEL_ID, "an OpenAI model id such as gpt-4o-mini"), default=None
    )
    openai_api_key_secret_arn: str | None = _setting(
        str, _matches(SECRET_ARN, "the full ARN of a Secrets Manager secret"), default=None
    )
    # The secret is JSON; the key is its value under this field (AgentCore reads it there: model_access.py)
    openai_api_key_secret_json_key: str = _setting(
        str, _matches(SECRET_JSON_KEY, "a JSON field name"), default="api_key"
    )
    # The secret's customer-managed KMS key, if it has one (none: the aws/secretsmanager key)
    openai_api_key_secret_kms_key_arn: str | None = _setting(
        str, _matches(KMS_KEY_ARN, "the ARN of a KMS key"), default=None
    )
    # Browser tool: the sites the agent may open (none: no browser tool); recordings to an S3 bucket
    browser_allowed_domains: tuple[str, ...] = _setting(
        (list, tuple),
        lambda v: _each(v, DOMAIN, "a domain such as docs.aws.amazon.com or *.example.com"),
        default=(),
    )
    browser_recording: bool = _setting(bool, default=False)
    # Runtime
    image_build: str = _setting(str, _one_of("codebuild", "docker"), default="codebuild")
    ecr_keep_images: int = _setting(int, _between(1, 1000), default=10)
    endpoint_name: str = _setting(str, _matches(ENDPOINT_NAME, "a runtime endpoint name"), default="live")
    idle_timeout_seconds: int = _setting(int, _between(60, 28800), default=900)
    max_lifetime_seconds: int = _setting(int, _between(60, 28800), default=28800)
    max_prompt_chars: int = _setting(int, _between(1, 200_000), default=8000)
    # Memory
    memory_event_expiry_days: int = _setting(int, _between(7, 365), default=30)
    memory_last_k_turns: int = _setting(int, _between(0, 100), default=5)
    memory_top_k: int = _setting(int, _between(1, 100), default=3)
    # Observability
    trace_content: bool = _setting(bool, default=False)
    # None: derived, the first stage (in config order) of each account and region owns them (_assign_owners)
    owns_account_resources: bool | None = _setting(bool, default=None)
    transaction_search_percent: int = _setting(int, _between(1, 100), default=1)
    # `adopt`: keep it when on, turn it on otherwise, never off; `create`: CloudFormation's own resource
    # (AlreadyExists where it is on); `existing`: leave the account as it is (transaction_search.py).
    transaction_search: str = _setting(str, _one_of("adopt", "create", "existing"), default="adopt")
    alarm_email: str | None = _setting(str, _matches(EMAIL, "an e-mail address"), default=None)
    latency_p99_threshold_ms: int = _setting(int, _between(100, 900_000), default=30_000)
    input_token_usd_per_1k: float = _setting((int, float), _between(0, 1000), default=0.003)
    output_token_usd_per_1k: float = _setting((int, float), _between(0, 1000), default=0.015)
    # Cost guards: tokens one caller may spend per UTC day, per kind of caller (agentcore_agent.token_budget)
    token_budget_per_user_per_day: int = _setting(int, _between(1, 1_000_000_000), default=200_000)
    token_budget_per_operator_per_day: int = _setting(int, _between(1, 1_000_000_000), default=1_000_000)
    token_budget_per_machine_per_day: int = _setting(int, _between(1, 1_000_000_000), default=1_000_000)
    # AWS Budgets on the stage's tag (stacks/spend_guards.py), and the top-spender alarm
    monthly_budget_usd: float = _setting((int, float), _between(1, 10_000_000), default=500)
    budget_alert_percents: tuple[int, ...] = _setting(
        (list, tuple), lambda v: _each_between(v, 1, 1000), default=(50, 80, 100)
    )
    top_spender_share_percent: int = _setting(int, _between(1, 100), default=50)
    top_spender_min_tokens_per_hour: int = _setting(int, _between(0, 1_000_000_000), default=100_000)
    # Quota headroom (stacks/quota_headroom.py): alarm at this share of each limit; raised limits
    quota_alarm_percent: int = _setting(int, _between(1, 100), default=80)
    quota_active_sessions: int | None = _setting(int, _between(1, 10_000_000), default=None)
    quota_new_sessions_per_minute: int | None = _setting(int, _between(1, 10_000_000), default=None)
    quota_gateway_calls_per_minute: int | None = _setting(int, _between(1, 10_000_000), default=None)
    quota_search_calls_per_minute: int | None = _setting(int, _between(1, 10_000_000), default=None)
    # Online evaluation (AgentCore Evaluations): built-in judges score a sample of live sessions
    online_evaluation: bool = _setting(bool, default=False)
    online_evaluation_percent: float = _setting((int, float), _between(0.01, 100), default=10)
    online_evaluators: tuple[str, ...] = _setting(
        (list, tuple),
        _evaluators,
        default=("Builtin.Helpfulness", "Builtin.Correctness", "Builtin.ToolSelectionAccuracy"),
    )
    online_evaluation_min_score: float = _setting((int, float), _between(0, 1), default=0.5)
    # Canary releases (docs/CANARY.md): the share of new sessions a new version serves first (0: off), and for
    # how long it bakes before `live` moves to it (the pipeline's rollout step waits that long).
    canary_percent: int = _setting(int, _between(0, MAX_CANARY_PERCENT), default=0)
    canary_bake_minutes: int = _setting(int, _between(1, MAX_CANARY_BAKE_MINUTES), default=30)

    def __post_init__(self) -> None:
        from stacks.bedrock_models import PROFILE_REGIONS, split_model_id

        geography, _ = split_model_id(self.model_id)
        regions = PROFILE_REGIONS.get(geography or "")
        if regions and self.region not in regions:
            raise ConfigError(
                f"stage '{self.name}', key 'model_id': '{self.model_id}' is a '{geography}' inference "
                f"profile, callable only from {', '.join(regions)} (region is {self.region})"
            )
        self._check_model_provider()
        self._check_online_evaluation()
        self._check_canary()
        object.__setattr__(self, "browser_allowed_domains", tuple(self.browser_allowed_domains))
        object.__setattr__(self, "online_evaluators", tuple(self.online_evaluators))
        object.__setattr__(self, "budget_alert_percents", tuple(self.budget_alert_percents))
        if self.idle_timeout_seconds > self.max_lifetime_seconds:
            raise ConfigError(
                f"stage '{self.name}', key 'idle_timeout_seconds': must not exceed max_lifetime_seconds "
                f"({self.idle_timeout_seconds} > {self.max_lifetime_seconds})"
            )

    def _check_model_provider(self) -> None:
        """The OpenAI settings come together, and only with the OpenAI provider."""
        openai = self.model_provider == "openai"
        required = ("openai_model_id", "openai_api_key_secret_arn")
        for key in (*required, "openai_api_key_secret_kms_key_arn"):
            if openai and key in required and getattr(self, key) is None:
                raise ConfigError(
                    f"stage '{self.name}', key '{key}': required when model_provider is 'openai'"
                )
            if not openai and getattr(self, key) is not None:
                raise ConfigError(
                    f"stage '{self.name}', key '{key}': only used when model_provider is 'openai' "
                    f"(it is '{self.model_provider}')"
                )
        if openai and BEDROCK_VENDOR_ID.fullmatch(self.openai_model_id or ""):
            raise ConfigError(
                f"stage '{self.name}', key 'openai_model_id': '{self.openai_model_id}' is a Bedrock model id "
                "(set it as model_id with model_provider 'bedrock')"
            )
        if not openai and OPENAI_STYLE_ID.fullmatch(self.model_id):
            raise ConfigError(
                f"stage '{self.name}', key 'model_id': '{self.model_id}' is an OpenAI model id "
                "(set model_provider 'openai' and openai_model_id)"
            )

    def _check_online_evaluation(self) -> None:
        """The evaluators judge prompts and answers, which spans carry only with `trace_content`; and the
        stage's region must offer the resource."""
        if not self.online_evaluation:
            return
        if not self.trace_content:
            raise ConfigError(
                f"stage '{self.name}', key 'online_evaluation': needs trace_content: true (the evaluators "
                "read prompts and answers from the spans, which are redacted without it)"
            )
        if self.region not in regions_offering((ONLINE_EVALUATION_TYPE,)):
            raise ConfigError(
                f"stage '{self.name}', key 'online_evaluation': region {self.region} does not offer "
                f"{ONLINE_EVALUATION_TYPE}"
            )

    def _check_canary(self) -> None:
        """The canary is a second endpoint beside the one clients call, so it cannot take that one's name."""
        if self.canary and self.endpoint_name == CANARY_ENDPOINT:
            raise ConfigError(
                f"stage '{self.name}', key 'endpoint_name': '{CANARY_ENDPOINT}' is the canary's endpoint "
                "when canary_percent is set (choose another name)"
            )

    @property
    def canary(self) -> bool:
        """A new version serves `canary_percent` of new sessions on the canary endpoint before `live`."""
        return self.canary_percent > 0

    @property
    def uses_openai(self) -> bool:
        """The agent calls OpenAI with a key from AgentCore Identity instead of Bedrock."""
        return self.model_provider == "openai"

    @property
    def is_retained(self) -> bool:
        """Stateful resources (Cognito, Memory, ECR, tables) survive stack deletion."""
        return self.removal == "retain"

    def resource_name(self, suffix: str) -> str:
        """The one place AgentCore names are derived: `<project>_<stage>_<suffix>`, no hyphens allowed."""
        name = f"{self.project}_{self.name}_{suffix}"
        if not AGENTCORE_NAME.fullmatch(name):
            raise ConfigError(
                f"stage '{self.name}': derived name '{name}' is not a valid AgentCore name "
                f"(pattern {AGENTCORE_NAME.pattern})"
            )
        return name

    def dns_name(self, suffix: str) -> str:
        """Hyphenated names for services that want them (Cognito domain prefixes, SNS topics)."""
        return f"{self.project}-{self.name}-{suffix}"


@dataclass(frozen=True)
class PipelineConfig:
    """Where the CI pipeline lives and what it builds from (context `agentcore:pipeline`; optional)."""

    account: str = _setting(str, _matches(ACCOUNT_ID, "a 12-digit AWS account id"))
    region: str = _setting(str, _matches(REGION, "an AWS region"))
    repository: str = _setting(str, _matches(REPOSITORY, "owner/name of the source repository"))
    connection_arn: str = _setting(str, _matches(CONNECTION_ARN, "a CodeConnections connection ARN"))
    branch: str = _setting(str, _matches(BRANCH, "a branch name"), default="main")


SETTINGS = {f.name: f for f in dataclasses.fields(StageConfig) if f.name not in ("name", "project")}
PIPELINE_SETTINGS = {f.name: f for f in dataclasses.fields(PipelineConfig)}


def _checked(stage: str, key: str, value: Any, settings: Mapping[str, dataclasses.Field] = SETTINGS) -> Any:
    field = settings.get(key)
    if field is None:
        close = difflib.get_close_matches(key, settings, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(settings))}"
        raise ConfigError(f"stage '{stage}', key '{key}': unknown key ({hint})")
    kind, check = field.metadata["kind"], field.metadata["check"]
    if value is None and field.default is None:
        return None
    # bool is an int in Python; a boolean where a number belongs is a mistake, not a 1.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ConfigError(f"stage '{stage}', key '{key}': expected {expected}, got {json.dumps(value)}")
    problem = check(value) if check else None
    if problem:
        raise ConfigError(f"stage '{stage}', key '{key}': {problem}")
    return value


def load_stage(
    project: str, stage: str, defaults: Mapping[str, Any], overrides: Mapping[str, Any]
) -> StageConfig:
    """Merge defaults and one stage's overrides, validating every key."""
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"stage '{stage}': expected an object of settings, got {json.dumps(overrides)}")
    for name, value in (("stage name", stage), ("project", project)):
        pattern = STAGE_NAME if name == "stage name" else PROJECT_NAME
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ConfigError(
                f"stage '{stage}', key '{name}': {json.dumps(value)} must match {pattern.pattern}"
            )
    merged = {**defaults, **overrides}
    values = {key: _checked(stage, key, value) for key, value in merged.items()}
    missing = [f.name for f in SETTINGS.values() if f.default is dataclasses.MISSING and f.name not in values]
    if missing:
        raise ConfigError(f"stage '{stage}', key '{missing[0]}': required but not set")
    return StageConfig(name=stage, project=project, **values)


def context_of(try_get_context: Callable[[str], Any]) -> dict[str, Any]:
    """This app's keys of a CDK app's context (`app.node.try_get_context`), the ones that are set."""
    values = {key: try_get_context(key) for key in CONTEXT_KEYS}
    return {key: value for key, value in values.items() if value is not None}


def load_stages(context: Mapping[str, Any]) -> list[StageConfig]:
    """All stages from the app context, in the order they are declared (the promotion order)."""
    project = context.get(PROJECT_KEY, "agentcore")
    defaults = context.get(DEFAULTS_KEY, {})
    stages = context.get(STAGES_KEY)
    if isinstance(stages, str):  # `cdk -c` passes JSON as a string
        try:
            stages = json.loads(stages)
        except json.JSONDecodeError as error:
            raise ConfigError(f"context '{STAGES_KEY}': not valid JSON ({error.msg})") from None
    if not isinstance(stages, Mapping) or not stages:
        raise ConfigError(f"context '{STAGES_KEY}': expected a non-empty object of stages")
    if not isinstance(defaults, Mapping):
        raise ConfigError(f"context '{DEFAULTS_KEY}': expected an object of settings")
    for key, value in defaults.items():
        _checked("defaults", key, value)
    configs = [load_stage(project, name, defaults, overrides) for name, overrides in stages.items()]
    pipeline = load_pipeline(context)
    return _assign_owners(configs, pipeline.account if pipeline else None)


def _assign_owners(configs: list[StageConfig], default_account: str | None) -> list[StageConfig]:
    """Each account and region gets exactly one owner of its account-wide singletons (account_stack.py).

    Transaction Search and X-Ray resource policies are settings of an account in one region, so every
    account and region the stages deploy to needs them once: the first stage of each in config order owns
    them, unless one of its stages says `owns_account_resources: true` (that one owns them) or a stage says
    `false` (it never does). A stage that names no account deploys to `default_account` (the pipeline's,
    as the pipeline deploys it) or, with no pipeline, wherever its credentials point: those of one region are
    then taken to share one account, and such an owner cannot share a region with an owner that names one,
    since they could be the same account.
    """
    groups: dict[tuple[str | None, str], list[StageConfig]] = {}
    for config in configs:
        groups.setdefault((config.account or default_account, config.region), []).append(config)
    owners: set[str] = set()
    for (account, region), stages in groups.items():
        claimed = [config for config in stages if config.owns_account_resources]
        if len(claimed) > 1:
            where = f"account {account}" if account else "the deploying account (no 'account' set)"
            raise ConfigError(
                f"stage '{claimed[1].name}', key 'owns_account_resources': stage '{claimed[0].name}' already "
                f"owns the account-level resources of {where} in {region} (one owner each; leave the key "
                "out to let the first stage of each account own them)"
            )
        candidates = claimed or [config for config in stages if config.owns_account_resources is None]
        if candidates:
            owners.add(candidates[0].name)
    resolved = [
        dataclasses.replace(config, owns_account_resources=config.name in owners) for config in configs
    ]
    if default_account is None:
        _check_no_shared_account(resolved)
    return resolved


def _check_no_shared_account(configs: list[StageConfig]) -> None:
    """An owner that names no account (and no pipeline) may deploy to the account of another owner."""
    owners = [config for config in configs if config.owns_account_resources]
    for index, config in enumerate(owners):
        for other in owners[:index]:
            if other.region == config.region and None in (other.account, config.account):
                raise ConfigError(
                    f"stage '{config.name}', key 'owns_account_resources': stage '{other.name}' may already "
                    f"own the account-level resources in {config.region} (give both an 'account' to tell "
                    "them apart, or set owns_account_resources: false on one)"
                )


def load_pipeline(context: Mapping[str, Any]) -> PipelineConfig | None:
    """The pipeline's settings, or None when the context configures no pipeline."""
    raw = context.get(PIPELINE_KEY)
    if raw is None:
        return None
    if isinstance(raw, str):  # `cdk -c` passes JSON as a string
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ConfigError(f"context '{PIPELINE_KEY}': not valid JSON ({error.msg})") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"context '{PIPELINE_KEY}': expected an object of settings")
    values = {key: _checked("pipeline", key, value, PIPELINE_SETTINGS) for key, value in raw.items()}
    for name, field in PIPELINE_SETTINGS.items():
        if field.default is dataclasses.MISSING and name not in values:
            raise ConfigError(f"stage 'pipeline', key '{name}': required but not set")
    return PipelineConfig(**values)
