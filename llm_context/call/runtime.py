"""What the flows of one profile are given, explicitly: the profile, its connection, the
clock, the meter, the rate limiter and the retry jitter's random source.

The client builds one `Runtime` per profile and hands it to every flow; a flow uses what it
is given and never reaches back into the client. The checks every operation shares (is the
feature there, which model, is the JSON reply right) live here as methods on those values.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config.resolve import resolve_model
from ..contract.structured import parse_reply
from ..errors import LLMInputError, LLMUnsupportedFeatureError
from .fallback import falls_back_now
from .plan import CacheDefaults, ChatPlan, build_chat_plan
from .retry import RetryPolicy, apply_retry_override

if TYPE_CHECKING:
    from ..clock import Clock
    from ..config.resolve import ModelKind
    from ..config.settings import Profile, RetrySettings
    from ..contract.results import ChatResult
    from ..metering import Meter
    from ..providers.base import Feature
    from ..providers.registry import ProviderSpec
    from .breaker import Breaker
    from .connection import Connection
    from .steps import Limiter

__all__ = ["Runtime"]


@dataclass(frozen=True)
class Runtime:
    """One profile's calls: everything a flow needs, and nothing it must fetch."""

    profile: Profile
    connection: Connection
    clock: Clock
    meter: Meter
    limiter: Limiter | None
    rng: random.Random = field(default_factory=random.Random, compare=False)
    breaker: Breaker | None = None  # the profile's circuit breaker, when it has one

    @property
    def provider(self) -> str:
        return self.profile.provider.value

    @property
    def spec(self) -> ProviderSpec:
        return self.profile.spec

    def require(self, feature: Feature, model: str | None) -> None:
        """Raise `LLMUnsupportedFeatureError` unless the provider (and model) has `feature`."""
        spec = self.profile.spec
        if feature not in (spec.features_for(model) if model else spec.features):
            raise LLMUnsupportedFeatureError(self.provider, model, feature.value)

    def model(self, kind: ModelKind, given: str | None = None) -> str:
        """The model of a call: the one given, or the profile's for `kind`."""
        if given is not None:
            if not isinstance(given, str) or not given:
                raise LLMInputError("model must be a non-empty string")
            return given
        return resolve_model(self.profile, kind)

    def retry_policy(self, override: Mapping[str, Any]) -> RetryPolicy:
        """The profile's retry policy with a per-call override on top."""
        if not override:
            return self._retry_policy  # the usual call: made once
        return self._make_policy(apply_retry_override(self.profile.retry, override))

    @functools.cached_property
    def _retry_policy(self) -> RetryPolicy:
        return self._make_policy(self.profile.retry)

    def _make_policy(self, settings: RetrySettings) -> RetryPolicy:
        reasons = self.profile.fallback_on if self.profile.fallbacks else ()
        give_up = functools.partial(falls_back_now, reasons=reasons) if reasons else None
        return RetryPolicy(settings, self.provider, self.profile.name, self.rng, give_up)

    @functools.cached_property
    def cache_defaults(self) -> CacheDefaults:
        """The profile's caching defaults, made once (not on every call's plan)."""
        return CacheDefaults(self.profile.cache, f"llm-context:{self.profile.name}")

    def plan(
        self,
        messages: Any,
        *,
        reasoning_effort: str | None = None,
        max_output_tokens: int | None = None,
        output_format: str = "text",
        json_schema: Any = None,
        schema_name: str = "output",
        strict_schema: bool = True,
        validate_json: bool = True,
        fail_on_unsupported: bool = True,
        **kw: Any,
    ) -> ChatPlan:
        """A chat call validated for this profile's provider: nothing is sent on bad input."""
        model = kw["model"] if kw.get("model") is not None else self.model("chat")
        return build_chat_plan(
            self.profile.spec,
            model,
            messages,
            reasoning_effort=reasoning_effort,
            max_output_tokens=max_output_tokens,
            output_format=output_format,
            json_schema=json_schema,
            schema_name=schema_name,
            strict_schema=strict_schema,
            validate_json=validate_json,
            fail_on_unsupported=fail_on_unsupported,
            profile_repair_attempts=self.profile.repair_attempts,
            kw=kw,
            cache_defaults=self.cache_defaults,
        )

    def finish(
        self, plan: ChatPlan, result: ChatResult, usage: Mapping[str, int] | None = None
    ) -> ChatResult:
        """Check JSON output and stamp the profile that answered (and `usage`, when given:
        the sum over repair turns)."""
        parsed = None
        if plan.expect is not None and not result.tool_calls:
            parsed = parse_reply(
                result.text, plan.expect, validate=plan.validate_json, model_cls=plan.model_cls
            )
        if usage is None:
            return result.replace(parsed=parsed, profile=self.profile.name)
        return result.replace(parsed=parsed, profile=self.profile.name, usage=dict(usage))
