"""What a client needs from the context that owns it: the one interface between the two."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from .call.breaker import Breaker
    from .client import LLMClient
    from .clock import Clock
    from .config.settings import Profile, TelemetrySettings
    from .limits.pool import Limiter
    from .metering import Meter

__all__ = ["ClientHost"]


class ClientHost(Protocol):
    """What a client needs from the context that owns it."""

    @property
    def clock(self) -> Clock: ...

    @property
    def meter(self) -> Meter: ...

    def executor(self) -> Executor: ...

    def limiter_for(self, profile: Profile) -> Limiter | None: ...

    def breaker_for(self, profile: Profile) -> Breaker | None: ...

    @property
    def telemetry(self) -> TelemetrySettings: ...

    def llm(self, profile: str | None = None) -> LLMClient: ...
