"""LLMContext: profiles, one cached client per profile, the thread pool behind the async API.

The module-level `context` is a default `LLMContext()` that loads its profiles lazily.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .client import LLMClient
from .providers.registry import Provider

if TYPE_CHECKING:
    from .profiles import ProfileStore

__all__ = ["DEFAULT_MAX_WORKERS", "LLMContext", "context"]

# Calls are I/O-bound: a worker waits on the network, so many more than cores pay off.
DEFAULT_MAX_WORKERS = 64

_OVERRIDE_FIELDS = ("provider", "model", "base_url", "api_key", "azure_deployment", "timeout")


class LLMContext:
    """Profiles plus the clients made from them.

    `profiles` is a path to a YAML file, a mapping of the same shape, or None to search
    (`$LLM_CONTEXT_PROFILES`, `./profiles.yaml`, the user config dir, then the environment).
    """

    def __init__(
        self,
        profiles: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        max_workers: int | None = None,
    ) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError("max_workers must be a positive int")
        self._source = profiles
        self._max_workers = max_workers or DEFAULT_MAX_WORKERS
        self._store: ProfileStore | None = None
        self._clients: dict[str, LLMClient] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        loaded = "loaded" if self._store is not None else "not loaded"
        return f"LLMContext(profiles {loaded}, max_workers={self._max_workers})"

    @property
    def profiles(self) -> ProfileStore:
        """The profile store (loaded on first use)."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    from .profiles import ProfileStore

                    self._store = ProfileStore(self._source)
        return self._store

    def executor(self) -> Executor:
        """The thread pool that runs the async API's blocking calls."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self._max_workers, thread_name_prefix="llm_context"
                    )
        return self._executor

    def llm(
        self,
        profile: str | None = None,
        *,
        provider: Provider | str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        azure_deployment: str | None = None,
        timeout: float | None = None,
    ) -> LLMClient:
        """The client for `profile` (the default profile when None). Any override creates or
        updates that profile at runtime; the client is rebuilt when its profile changes."""
        store = self.profiles
        name = profile if profile is not None else store.default_profile
        given = {
            key: value
            for key, value in zip(
                _OVERRIDE_FIELDS,
                (provider, model, base_url, api_key, azure_deployment, timeout),
                strict=True,
            )
            if value is not None
        }
        with self._lock:
            current = store.update(name, **given) if given else store.get(name)
            client = self._clients.get(name)
            if client is None or client.profile is not current:
                # The old client may still be serving calls on other threads: let it finish.
                client = LLMClient(current, self)
                self._clients[name] = client
            return client

    def llm_set_key(
        self, provider: Provider | str, model: str | None, api_key: str, profile: str = "default"
    ) -> LLMClient:
        """Create or update `profile` with a provider, model and key; returns its client."""
        with self._lock:
            self.profiles.set_key(provider, model, api_key, profile=profile)
            return self.llm(profile)

    def close(self) -> None:
        """Close every client's connections and stop the thread pool."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            if self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None

    def __enter__(self) -> LLMContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


context = LLMContext()
"""The default context: profiles found as `LLMContext()` finds them, loaded on first use."""
