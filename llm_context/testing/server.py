"""FakeProviderServer: a real HTTP/1.1 server on 127.0.0.1 that speaks provider wire formats.

The official SDKs are pointed at it through `base_url`; it records every request, answers
from a FIFO script (or with sensible defaults) and never connects anywhere itself.

    with FakeProviderServer() as fake:
        fake.script(Reply("Hi!"), Fault(429, retry_after="1"))
        client = openai.OpenAI(api_key="k", base_url=fake.base_url("openai"), max_retries=0)

Wire modules plug in through `ROUTES` below: the one place that lists them.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

from . import wire_anthropic, wire_batch, wire_catalog, wire_chat, wire_google, wire_openai
from .batches import BatchLifecycle, BatchStore
from .defaults import IMAGE_ASSET_PATH, TINY_PNG
from .http import REQUESTS_PATH, FakeHTTPServer, Handler, generic_error_body
from .prompt_cache import PromptCache
from .routing import Exchange, RecordedRequest, Route
from .script import EmbeddingReply, Fault, ImageReply, Reply, ScriptItem

__all__ = ["FAST_RETRY", "REQUESTS_PATH", "ROUTES", "FakeProviderServer"]

FAST_RETRY: dict[str, float] = {"initial_backoff_s": 0.001, "max_backoff_s": 0.001}
"""A profile's `retry` settings for tests: retries happen at once, never after a real backoff."""


def _serve_png(exchange: Exchange) -> None:
    exchange.send_bytes(TINY_PNG, "image/png")


_BUILTIN_ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        IMAGE_ASSET_PATH,
        "fake",
        "asset",
        _serve_png,
        generic_error_body,
        accepts=(),
        consumes=False,
    ),
)

ROUTES: tuple[Route, ...] = (
    *wire_catalog.ROUTES,  # first: its model lists replace the wire modules' plain ones
    *wire_openai.ROUTES,
    *wire_chat.ROUTES,
    *wire_anthropic.ROUTES,
    *wire_google.ROUTES,
    *wire_batch.ROUTES,
    *_BUILTIN_ROUTES,
)
"""Every route the server knows, first match wins. A new wire module adds its tuple here."""


# Profile base_url per provider. Providers that share a wire format get a path prefix (a
# "mount") so the server can tell them apart; the prefix is stripped before routing.
_BASE_PATHS: dict[str, str] = {
    "openai": "/v1",
    "azure": "",
    "anthropic": "",
    "google": "",
    "openrouter": "/openrouter/v1",
    "lmstudio": "/lmstudio/v1",
    "ollama": "/ollama/v1",
}
_MOUNTS: dict[str, str] = {
    "/openrouter": "openrouter",
    "/lmstudio": "lmstudio",
    "/ollama": "ollama",
}

_PROFILE_MODELS: dict[str, str] = {
    "openai": "gpt-4.1-mini",
    "azure": "gpt-4.1-mini",
    "anthropic": "claude-sonnet-4-6",
    "google": "gemini-2.5-flash",
    "openrouter": "openai/gpt-4.1-mini",
    "lmstudio": "qwen2.5-7b-instruct",
    "ollama": "llama3.2",
}
_PROFILE_EXTRAS: dict[str, dict[str, Any]] = {
    "azure": {
        "azure_deployment": "test-deployment",
        "api_version": "2024-10-21",
        # Azure deployment names are the user's own: nothing to default to.
        "embed_model": "text-embedding-3-small",
        "image_model": "gpt-image-1",
    },
}


class FakeProviderServer:
    """A scripted, recording fake of every provider's HTTP API on 127.0.0.1.

    Use it as a context manager (or `start()` / `stop()`). Script answers with
    `script(...)`; inspect traffic with `requests`, `last_request`, `requests_for(...)`.
    """

    def __init__(
        self,
        *,
        routes: Sequence[Route] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        record_limit: int | None = None,
        on_request: Callable[[RecordedRequest], object] | None = None,
    ) -> None:
        """`routes` replaces the built-in table; `port` 0 picks a free one; `record_limit`
        keeps only the newest N recorded requests (long benchmarks need not hold every body);
        `on_request` is called with each request as it is recorded (in the server's thread),
        e.g. to log it: `on_request=lambda r: print(r.log_line())`."""
        self.routes: tuple[Route, ...] = tuple(ROUTES if routes is None else routes)
        self.on_request = on_request
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._queue: collections.deque[ScriptItem] = collections.deque()
        self._requests: collections.deque[RecordedRequest] = collections.deque(maxlen=record_limit)
        self._errors: list[str] = []
        self._served = 0
        self._seq = 0
        self.prompt_cache = PromptCache()  # what unscripted replies report as cached
        self.batches = BatchStore(self._take, self.find_route)  # the batch APIs' jobs
        self._every: tuple[int, Fault] | None = None  # `fail_every`: a fault every nth request
        self._httpd: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeProviderServer:
        """Bind the port (a free one by default) and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        self._httpd = FakeHTTPServer((self._host, self._port), Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns quickly
            name=f"fake-llm-server:{self._httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- addresses and profiles ------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running: call start() or use `with`")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, no trailing slash."""
        return f"http://{self._host}:{self.port}"

    def base_url(self, provider: str) -> str:
        """What a profile's `base_url` must be for `provider` to reach this server."""
        try:
            return self.url + _BASE_PATHS[str(provider)]
        except KeyError:
            raise ValueError(
                f"unknown provider {provider!r}; use one of {list(_BASE_PATHS)}"
            ) from None

    def profiles(
        self,
        default_profile: str = "openai",
        *,
        fast_retries: bool = True,
        **profiles: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Profiles-YAML-shaped settings pointed here: one profile per provider, named after
        it, plus the `profiles` given by name.

        A keyword named after a provider merges its settings into that profile
        (`anthropic={"model": "claude-haiku-4-5"}`); any other name is a new profile and
        must name its `provider` (`claude={"provider": "anthropic"}`): it gets that
        provider's fake base URL, test key and model, then its own settings. With
        `fast_retries` (the default) a profile without `retry` settings of its own retries
        at once (`FAST_RETRY`): a scripted `Fault(500)` costs no real backoff.
        """
        names = {*_BASE_PATHS, *profiles}
        if default_profile not in names:
            raise ValueError(
                f"default_profile {default_profile!r} is not one of the profiles {sorted(names)}"
            )
        built: dict[str, Any] = {}
        for name in (*_BASE_PATHS, *(n for n in profiles if n not in _BASE_PATHS)):
            given = profiles.get(name, {})
            if not isinstance(given, Mapping):
                raise TypeError(f"fake profile {name!r}: give its settings as a mapping")
            settings = dict(given)
            provider = _provider_name(settings.get("provider", name), name)
            profile = self._profile_for(provider, fast_retries)
            profile.update(settings)
            profile["provider"] = provider  # as text: the mapping may be dumped to YAML
            built[name] = profile
        return {"default_profile": default_profile, "profiles": built}

    def _profile_for(self, provider: str, fast_retries: bool) -> dict[str, Any]:
        """The profile settings that make `provider` talk to this server."""
        profile: dict[str, Any] = {
            "provider": provider,
            "model": _PROFILE_MODELS[provider],
            "base_url": self.base_url(provider),
            "api_key": f"test-key-{provider}",
            **_PROFILE_EXTRAS.get(provider, {}),
        }
        if fast_retries:
            profile["retry"] = dict(FAST_RETRY)
        return profile

    def env(self) -> dict[str, str]:
        """Environment variables that point every provider here with a test key
        (`OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`, ... and `OPENAI_API_KEY`, ...): profiles
        without a `base_url` or `api_key` of their own then reach this server."""
        from ..providers.registry import PROVIDERS

        env: dict[str, str] = {}
        for provider, spec in PROVIDERS.items():
            name = provider.value
            values = (
                (spec.base_url_env, self.base_url(name)),
                (spec.key_env, f"test-key-{name}"),
                (spec.deployment_env, _PROFILE_EXTRAS.get(name, {}).get("azure_deployment")),
                (spec.api_version_env, _PROFILE_EXTRAS.get(name, {}).get("api_version")),
            )
            for variables, value in values:
                if variables and value is not None:
                    env[variables[0]] = value  # the first name is the one read first
        return env

    # ---- the script ------------------------------------------------------------------

    def script(self, *items: ScriptItem) -> None:
        """Queue answers; each request (of any endpoint) consumes the next one, in order."""
        for item in items:
            if not isinstance(item, (Reply, Fault, EmbeddingReply, ImageReply)):
                raise TypeError(f"cannot script a {type(item).__name__}; use Reply, Fault, ...")
        with self._lock:
            self._queue.extend(items)

    @property
    def batch_lifecycle(self) -> BatchLifecycle:
        """How batch jobs created from now on run (see `BatchLifecycle`)."""
        return self.batches.lifecycle

    @batch_lifecycle.setter
    def batch_lifecycle(self, lifecycle: BatchLifecycle) -> None:
        if not isinstance(lifecycle, BatchLifecycle):
            raise TypeError("batch_lifecycle takes a BatchLifecycle(polls=..., end=...)")
        self.batches.lifecycle = lifecycle

    def fail_every(self, n: int | None, fault: Fault | None = None) -> None:
        """Answer every `n`th request with `fault` (default `Fault(500)`) when nothing is
        scripted for it: steady transient failures for long runs. `None` stops it."""
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"fail_every takes a whole number >= 1 or None, got {n!r}")
        with self._lock:
            self._every = None if n is None else (n, fault or Fault(500))

    def _take(self, count: int) -> list[ScriptItem | None]:
        """The next `count` script items for a batch's items (None once the script is out)."""
        with self._lock:
            taken = [self._queue.popleft() if self._queue else None for _ in range(count)]
            self._served += sum(1 for item in taken if item is not None)
            return taken

    @property
    def pending(self) -> int:
        """Scripted items not consumed yet."""
        with self._lock:
            return len(self._queue)

    @property
    def served(self) -> int:
        """Scripted items consumed so far."""
        with self._lock:
            return self._served

    # ---- recordings ------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request; LookupError when there was none."""
        with self._lock:
            if not self._requests:
                raise LookupError("the fake server has not received any request")
            return self._requests[-1]

    def requests_for(self, endpoint: str, provider: str | None = None) -> list[RecordedRequest]:
        """The recorded requests of one endpoint (e.g. "chat", "embeddings", "images")."""
        return [
            r
            for r in self.requests
            if r.endpoint == endpoint and (provider is None or r.provider == provider)
        ]

    @property
    def errors(self) -> list[str]:
        """Tracebacks of handler crashes (a bug in a wire module), oldest first."""
        with self._lock:
            return list(self._errors)

    def clear(self) -> None:
        """Forget recorded requests, errors and unconsumed script items; restart numbering."""
        with self._lock:
            self._requests.clear()
            self._errors.clear()
            self._queue.clear()
            self._served = 0
            self._seq = 0  # request and item ids start over: tests may assert them
            self._every = None
        self.prompt_cache.clear()
        self.batches.clear()

    # ---- used by the request handler -------------------------------------------------

    def admit(
        self, request: RecordedRequest, consume: bool
    ) -> tuple[int, RecordedRequest, ScriptItem | None]:
        """Number, record and (for routed requests) take the next script item, atomically."""
        with self._lock:
            self._seq += 1
            request = replace(request, request_id=f"req_fake_{self._seq}")
            self._requests.append(request)
            item = self._queue.popleft() if consume and self._queue else None
            if item is not None:
                self._served += 1
            elif consume and self._every is not None and self._seq % self._every[0] == 0:
                item = self._every[1]
            return self._seq, request, item

    def note_error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)

    def find_route(self, method: str, path: str) -> tuple[Route | None, dict[str, str], str]:
        """(route, path params, provider from a mount prefix or "")."""
        mounted = ""
        slash = path.find("/", 1)
        if slash > 0 and path[:slash] in _MOUNTS:
            mounted, path = _MOUNTS[path[:slash]], path[slash:]
        for route in self.routes:
            if route.method == method:
                match = route.pattern.fullmatch(path)
                if match:
                    return route, match.groupdict(), mounted
        return None, {}, mounted


def _provider_name(provider: Any, profile: str) -> str:
    """A profile's provider as its plain name (a `Provider` member is accepted too)."""
    name = str(getattr(provider, "value", provider))
    if name not in _BASE_PATHS:
        raise ValueError(
            f"fake profile {profile!r}: {name!r} is not a provider; name one of "
            f"{list(_BASE_PATHS)}, e.g. {profile}={{'provider': 'anthropic'}}"
        )
    return name
