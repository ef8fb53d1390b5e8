"""The one place provider names live: each maps to its static facts and its adapter class.

Adapters are imported on first use, so `import llm_context` loads no provider SDK and an
app that only talks to Anthropic never imports `openai`.
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, cast

from ..errors import LLMConfigError, LLMUnsupportedFeatureError
from ..shown import shown
from .base import Feature

if TYPE_CHECKING:
    from .base import Adapter

__all__ = [
    "ENV_PROFILE_ORDER",
    "PROVIDERS",
    "ModelRule",
    "Provider",
    "ProviderSpec",
    "adapter_class",
    "parse_provider",
    "spec_for",
]


class Provider(str, enum.Enum):
    """The seven supported providers; the value is the name used in profiles."""

    OPENAI = "openai"
    AZURE = "azure"
    ANTHROPIC = "anthropic"
    GOOGLE = "google"
    OPENROUTER = "openrouter"
    LMSTUDIO = "lmstudio"
    OLLAMA = "ollama"

    def __str__(self) -> str:
        return self.value


_F = Feature
_CHAT_FEATURES = frozenset(
    {_F.CHAT, _F.STREAM, _F.TOOLS, _F.JSON_SCHEMA, _F.VISION, _F.RAW, _F.SAMPLING, _F.STOP}
    | {_F.MODEL_LIST}
)
# Providers with a token-counting endpoint; elsewhere `count_tokens` estimates locally.
_COUNTS = frozenset({_F.TOKEN_COUNT})
_MEDIA = frozenset({_F.DOCUMENTS, _F.AUDIO})
_MB = 1024 * 1024
_CACHE = frozenset({_F.CACHE_MARKERS})
# Web search run by the provider (Azure: on its v1 API; a dated api_version has none).
_SEARCH = frozenset({_F.WEB_SEARCH})

# What `cache="auto"` does on a provider: place cache markers on messages and tools
# (Anthropic) or on messages only (OpenRouter, for the models that take them), send a
# `prompt_cache_key` (OpenAI, Azure), or nothing (Gemini caches implicitly; local servers
# keep their own KV cache).
AutoCache = Literal["markers", "message_markers", "cache_key"] | None


# A feature a provider lacks but serves natively through another: JSON object output is an
# open object schema (`{"type": "object"}`) where only JSON schema output exists.
SUBSTITUTES: dict[Feature, Feature] = {_F.JSON_OBJECT: _F.JSON_SCHEMA}


@dataclass(frozen=True)
class ModelRule:
    """Features that models whose name starts with one of `prefixes` lack (with `others`:
    that every other model lacks)."""

    prefixes: tuple[str, ...]
    lacks: frozenset[Feature]
    others: bool = False

    def matches(self, model: str) -> bool:
        return model.lower().startswith(self.prefixes) != self.others


# OpenAI's reasoning models take no sampling parameters; its chat models take no effort;
# explicit cache breakpoints (`prompt_cache_breakpoint`) came with gpt-5.6.
_OPENAI_MODEL_RULES = (
    ModelRule(("o1", "o3", "o4", "gpt-5"), frozenset({_F.SAMPLING})),
    ModelRule(("gpt-4", "gpt-3.5", "chatgpt-4o"), frozenset({_F.REASONING})),
    ModelRule(("gpt-5.6", "gpt-5.7", "gpt-5.8", "gpt-5.9", "gpt-6"), _CACHE, others=True),
)

# OpenRouter forwards cache_control to the providers that have markers: Anthropic and Gemini.
_OPENROUTER_MODEL_RULES = (ModelRule(("anthropic/", "google/"), _CACHE, others=True),)


# Claude 3.x before 3.7 cannot think; native structured output came with Opus 4.1 /
# Sonnet 4.5 / Haiku 4.5 (not in Claude 3.x, nor Sonnet 4 / Opus 4: -4-0 or -4-20250514).
_ANTHROPIC_MODEL_RULES = (
    ModelRule(
        ("claude-3-5", "claude-3-haiku", "claude-3-opus", "claude-3-sonnet"),
        frozenset({_F.REASONING}),
    ),
    ModelRule(
        (
            "claude-3",
            "claude-sonnet-4-0",
            "claude-sonnet-4-2",
            "claude-opus-4-0",
            "claude-opus-4-2",
        ),
        frozenset({_F.JSON_SCHEMA}),
    ),
)


# Gemini before 2.5 (and Gemma) cannot think; Imagen edits exist only on Vertex AI.
_GOOGLE_MODEL_RULES = (
    ModelRule(("gemini-1", "gemini-2.0", "gemma"), frozenset({_F.REASONING})),
    ModelRule(("imagen",), frozenset({_F.IMAGE_EDIT})),
)


@dataclass(frozen=True)
class ProviderSpec:
    """Static facts about a provider: defaults, where its key comes from, what it can do."""

    provider: Provider
    adapter: str  # "module:Class", imported on first use
    features: frozenset[Feature]
    default_model: str | None
    default_base_url: str | None
    key_env: tuple[str, ...] = ()
    base_url_env: tuple[str, ...] = ()
    # Providers that name models by deployment (Azure): where the deployment and API version
    # come from when the profile gives none.
    deployment_env: tuple[str, ...] = ()
    api_version_env: tuple[str, ...] = ()
    requires_key: bool = True
    default_embed_model: str | None = None
    default_image_model: str | None = None
    max_embed_batch: int = 2048
    local: bool = False  # a server on the user's machine: say so when it is not running
    model_rules: tuple[ModelRule, ...] = ()
    # The largest document or audio file (decoded bytes) sent inline; None: no documented limit.
    max_file_bytes: int | None = None
    auto_cache: AutoCache = None
    # Its batch API: the most requests a job takes, and whether they must share one model.
    max_batch_items: int = 0
    batch_one_model: bool = True

    # Asked on every call with the same few models: the rule scan runs once per model. A dict
    # of its own, because hashing the whole spec for an lru_cache key costs more than the scan.
    _by_model: dict[str, frozenset[Feature]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def features_for(self, model: str) -> frozenset[Feature]:
        """The provider's features less what this model lacks."""
        known = self._by_model.get(model)
        if known is None:
            lacking = frozenset().union(*(r.lacks for r in self.model_rules if r.matches(model)))
            known = self.features - lacking
            if len(self._by_model) < _MODELS_KEPT:
                self._by_model[model] = known
        return known


_MODELS_KEPT = 1024  # per provider: a caller minting model names cannot grow it for ever


PROVIDERS: dict[Provider, ProviderSpec] = {
    spec.provider: spec
    for spec in (
        ProviderSpec(
            Provider.OPENAI,
            "llm_context.providers.openai.responses:OpenAIAdapter",
            # The Responses API has no stop sequences.
            (_CHAT_FEATURES - {_F.STOP})
            | _MEDIA
            | _COUNTS
            | _CACHE
            | _SEARCH
            | {_F.JSON_OBJECT, _F.REASONING, _F.EMBED, _F.IMAGE_GENERATION, _F.IMAGE_EDIT}
            | {_F.BATCH},
            default_model="gpt-4.1-mini",
            default_base_url="https://api.openai.com/v1",
            key_env=("OPENAI_API_KEY",),
            base_url_env=("OPENAI_BASE_URL",),
            default_embed_model="text-embedding-3-small",
            default_image_model="gpt-image-1",
            model_rules=_OPENAI_MODEL_RULES,
            # "up to 50 MB per file" (platform.openai.com/docs/guides/pdf-files, File inputs)
            max_file_bytes=50 * _MB,
            auto_cache="cache_key",
            max_batch_items=50_000,  # "up to 50,000 requests", one model a file
        ),
        ProviderSpec(
            Provider.AZURE,
            "llm_context.providers.openai.azure:AzureAdapter",
            _CHAT_FEATURES
            | _MEDIA
            | _COUNTS  # the v1 (Responses) API counts; a dated api_version estimates
            | _CACHE  # deployments are named by their owner: the API judges the model
            | _SEARCH
            | {_F.JSON_OBJECT, _F.REASONING, _F.EMBED, _F.IMAGE_GENERATION, _F.IMAGE_EDIT}
            | {_F.BATCH},
            default_model=None,  # a deployment name is always the user's own
            default_base_url=None,
            key_env=("AZURE_OPENAI_API_KEY",),
            base_url_env=("AZURE_OPENAI_ENDPOINT",),
            deployment_env=("AZURE_OPENAI_DEPLOYMENT",),
            api_version_env=("OPENAI_API_VERSION",),
            # Entra ID tokens (extras) replace the key: the adapter demands one or the other.
            requires_key=False,
            default_embed_model=None,
            default_image_model=None,
            max_file_bytes=50 * _MB,  # the same OpenAI models and file inputs as above
            auto_cache="cache_key",
            max_batch_items=100_000,  # a global batch deployment's file; one deployment
        ),
        ProviderSpec(
            Provider.ANTHROPIC,
            "llm_context.providers.anthropic.adapter:AnthropicAdapter",
            # API version 2026-10-21 (anthropic SDK 2.x) removed temperature / top_p / top_k.
            # JSON_OBJECT: asked for in the system prompt (the API has no JSON mode).
            # No audio input on the Messages API.
            (_CHAT_FEATURES - {_F.SAMPLING})
            | _COUNTS
            | _CACHE
            | _SEARCH
            | {_F.DOCUMENTS, _F.DOCUMENT_CITATIONS, _F.JSON_OBJECT, _F.REASONING, _F.BATCH},
            default_model="claude-sonnet-4-6",
            default_base_url="https://api.anthropic.com",
            key_env=("ANTHROPIC_API_KEY",),
            base_url_env=("ANTHROPIC_BASE_URL",),
            model_rules=_ANTHROPIC_MODEL_RULES,
            # "Maximum request size: 32MB" (docs.claude.com/en/docs/build-with-claude/
            # pdf-support): base64 grows the file by 4/3, so 24 MB of file fills it.
            max_file_bytes=24 * _MB,
            auto_cache="markers",
            max_batch_items=100_000,  # "100,000 Message requests or 256 MB", any models
            batch_one_model=False,
        ),
        ProviderSpec(
            Provider.GOOGLE,
            "llm_context.providers.google.adapter:GoogleAdapter",
            _CHAT_FEATURES
            | _MEDIA
            | _COUNTS
            | _SEARCH
            | {_F.JSON_OBJECT, _F.REASONING, _F.EMBED, _F.IMAGE_GENERATION, _F.IMAGE_EDIT}
            | {_F.BATCH},
            default_model="gemini-2.5-flash",
            default_base_url="https://generativelanguage.googleapis.com",
            key_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
            base_url_env=("GOOGLE_GEMINI_BASE_URL",),
            default_embed_model="gemini-embedding-001",
            # Generates and edits; Imagen (imagen-*) generates only, and is deprecated.
            default_image_model="gemini-2.5-flash-image",
            max_embed_batch=100,
            model_rules=_GOOGLE_MODEL_RULES,
            # Inline data: "the total request size is 20MB" (ai.google.dev/gemini-api/docs/
            # document-processing); larger files go through the Files API.
            max_file_bytes=20 * _MB,
            # Inline requests: the job is one request of at most 20 MB; a job runs one model.
            max_batch_items=10_000,
        ),
        ProviderSpec(
            Provider.OPENROUTER,
            "llm_context.providers.openai.compatible:OpenRouterAdapter",
            _CHAT_FEATURES | _MEDIA | _CACHE | _SEARCH | {_F.JSON_OBJECT, _F.REASONING, _F.EMBED},
            default_model="openai/gpt-4.1-mini",
            default_base_url="https://openrouter.ai/api/v1",
            key_env=("OPENROUTER_API_KEY",),
            base_url_env=("OPENROUTER_BASE_URL",),
            default_embed_model="openai/text-embedding-3-small",
            model_rules=_OPENROUTER_MODEL_RULES,
            auto_cache="message_markers",  # anthropic/ and google/ models; others need none
        ),
        ProviderSpec(
            Provider.LMSTUDIO,
            "llm_context.providers.openai.compatible:LMStudioAdapter",
            # Rejects response_format json_object; reasoning_effort only on /v1/responses.
            _CHAT_FEATURES | {_F.EMBED},
            default_model=None,
            default_base_url="http://localhost:1234/v1",
            default_embed_model="text-embedding-nomic-embed-text-v1.5",  # bundled with LM Studio
            key_env=("LMSTUDIO_API_KEY",),
            base_url_env=("LMSTUDIO_BASE_URL",),
            requires_key=False,
            local=True,
        ),
        ProviderSpec(
            Provider.OLLAMA,
            "llm_context.providers.openai.compatible:OllamaAdapter",
            _CHAT_FEATURES | {_F.JSON_OBJECT, _F.REASONING, _F.EMBED},
            default_model=None,
            default_base_url="http://localhost:11434/v1",
            default_embed_model="nomic-embed-text",  # the common one; Ollama says to pull it
            key_env=("OLLAMA_API_KEY",),
            base_url_env=("OLLAMA_HOST",),
            requires_key=False,
            local=True,
        ),
    )
}


# Profiles from the environment alone: one per provider found, `default` = the first found
# in this order (documented in docs/profiles.md; keyed cloud providers before local servers).
ENV_PROFILE_ORDER: tuple[Provider, ...] = (
    Provider.OPENAI,
    Provider.ANTHROPIC,
    Provider.GOOGLE,
    Provider.AZURE,
    Provider.OPENROUTER,
    Provider.OLLAMA,
    Provider.LMSTUDIO,
)


def parse_provider(value: object, *, where: str = "", show_value: bool = True) -> Provider:
    """A `Provider` from an enum member or its string value; unknown names list the valid ones.

    `show_value=False` names only the value's type: it may have come from an env var.
    """
    if isinstance(value, Provider):
        return value
    if isinstance(value, str):
        try:
            return Provider(value.strip().lower())
        except ValueError:
            pass
    names = ", ".join(p.value for p in Provider)
    prefix = f"{where}: " if where else ""
    # A swapped argument may put a key here: `shown` hides anything key-shaped.
    given = shown(value) if show_value else f"({_type_name(value)})"
    raise LLMConfigError(f"{prefix}unknown provider {given}; use one of: {names}")


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return "string" if isinstance(value, str) else type(value).__name__


def spec_for(provider: Provider | str) -> ProviderSpec:
    """The static facts of a provider."""
    return PROVIDERS[parse_provider(provider)]


def adapter_class(provider: Provider | str) -> type[Adapter]:
    """Import and return the adapter class of a provider (on first use only)."""
    spec = spec_for(provider)
    module_name, _, class_name = spec.adapter.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # a missing SDK, not a missing adapter: let the real cause show
        raise LLMUnsupportedFeatureError(
            spec.provider.value, None, "this provider", "Its adapter is not built yet."
        ) from exc
    return cast("type[Adapter]", getattr(module, class_name))
