"""LLMClient: every operation as a blocking method and an awaitable twin, same parameters, same
result.

One call is one flow (see `steps`): validate (nothing is sent on bad input) -> for each
attempt, wait for rate-limit capacity and send through the adapter -> retry policy ->
fallback profiles -> JSON check and repair -> usage record. The flow is written once; the
blocking method runs it in the calling thread, the async one waits on the event loop and
sends only the blocking SDK calls to the context's thread pool.
"""

from __future__ import annotations

import functools
import inspect
import ipaddress
import logging
import random
import threading
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from .clock import Clock
from .errors import LLMError, LLMInputError, LLMOutputError, LLMUnsupportedFeatureError, redact
from .fallback import Candidate, with_fallbacks
from .metering import Meter, Operation, Tally, make_record, metered, record_safely
from .options import ChatPlan, build_chat_plan
from .providers.base import Adapter, Feature
from .providers.registry import adapter_class
from .ratelimit import RateLimiter, estimate_chat_tokens, estimate_text_tokens, tokens_used
from .raw import send_raw
from .request import ChatRequest, EmbedRequest, ImageRequest, InputImage
from .results import ChatResult, EmbeddingResult, ImageGenerationResult, add_usage
from .retry import RetryPolicy, apply_retry_override, check_retry_override
from .settings import Profile
from .steps import Acquire, Call, Permit, Steps, run_async, run_sync
from .stream import AsyncChatStream, ChatStream, DeltaCallback
from .stream_flow import (
    OpenedStream,
    OpeningAsyncStream,
    close_events,
    guarded_events,
    open_to_first_text,
)
from .streaming import StreamAccumulator, TextDelta
from .structured import parse_reply

if TYPE_CHECKING:
    import requests

    from .tool_loop import FunctionTool, ToolLoopResult

T = TypeVar("T")

__all__ = ["LLMClient"]

log = logging.getLogger("llm_context")


class ClientHost(Protocol):
    """What a client needs from the context that owns it."""

    @property
    def clock(self) -> Clock: ...

    @property
    def meter(self) -> Meter: ...

    def executor(self) -> Executor: ...

    def limiter_for(self, profile: Profile) -> RateLimiter | None: ...

    def llm(self, profile: str | None = None) -> LLMClient: ...


def _repair_messages(plan: ChatPlan, reply: str, error: LLMOutputError) -> ChatPlan:
    """The conversation plus the bad reply and what was wrong with it."""
    from dataclasses import replace

    from .messages import Message, TextPart

    feedback = (
        "Your reply was not valid JSON for the requested format: "
        + "; ".join(error.errors[:10])
        + ". Reply again with only the corrected JSON."
    )
    messages = (
        *plan.request.messages,
        Message("assistant", (TextPart(reply),)),
        Message("user", (TextPart(feedback),)),
    )
    return replace(plan, request=replace(plan.request, messages=messages))


def _input_image(i: int, image: Any) -> InputImage:
    if isinstance(image, InputImage):
        return image
    if isinstance(image, (bytes, bytearray)):
        return InputImage(bytes(image))
    if isinstance(image, str) and image.startswith("data:"):
        import base64

        header, _, payload = image.partition(",")
        media = header[5:].split(";", 1)[0] or "image/png"
        return InputImage(base64.b64decode(payload), media, f"image{i}.{media.split('/')[-1]}")
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise LLMInputError(f"input_images[{i}]: no such file {str(path)!r}")
        suffix = path.suffix.lower().lstrip(".") or "png"
        media = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}.get(
            suffix, "image/png"
        )
        return InputImage(path.read_bytes(), media, path.name)
    raise LLMInputError(
        f"input_images[{i}] must be bytes, a file path or a data URL, got {type(image).__name__}"
    )


def _timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise LLMInputError(f"timeout must be a number of seconds > 0, got {value!r}")
    return float(value)


def _plain_remote(url: str | None) -> str | None:
    """The host of an `http://` URL that is not this machine (keys sent there are readable)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme.lower() != "http" or host in ("localhost", "") or host.endswith(".localhost"):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name
    return host


def _chat_tokens(result: ChatResult) -> int | None:
    return tokens_used(result.usage)


def _prompt_messages(prompt: str, system: str | None) -> list[dict[str, Any]]:
    if not isinstance(prompt, str) or not prompt:
        raise LLMInputError("prompt must be a non-empty string")
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


class LLMClient:
    """A configured connection to one profile's provider. Get one with `context.llm(...)`."""

    def __init__(self, profile: Profile, host: ClientHost) -> None:
        self.profile = profile
        self._host = host
        self._spec = profile.spec
        self._adapter: Adapter | None = None
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._limiter = host.limiter_for(profile)
        self._rng = random.Random()
        self._warned_http: set[str] = set()

    def __repr__(self) -> str:
        p = self.profile
        return f"LLMClient(profile={p.name!r}, provider={p.provider.value!r}, model={p.model!r})"

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def provider(self) -> str:
        return self.profile.provider.value

    def adapter(self) -> Adapter:
        """The provider adapter (and its SDK client), built on first use and then reused."""
        if self._adapter is None:
            with self._lock:
                if self._adapter is None:
                    from .profiles import resolve_api_key, resolve_base_url

                    resolved = self.profile.with_changes(
                        api_key=resolve_api_key(self.profile),
                        base_url=resolve_base_url(self.profile),
                    )
                    if resolved.api_key:
                        self._warn_plain_http(resolved.base_url)
                    self._adapter = adapter_class(self.profile.provider)(resolved)
        return self._adapter

    def _warn_plain_http(self, url: str | None) -> None:
        """Once per client and host: a key is about to travel unencrypted."""
        host = _plain_remote(url)
        if host is not None and host not in self._warned_http:
            self._warned_http.add(host)
            log.warning(
                "profile %s sends its API key over plain http:// to %s, where anyone on the "
                "way can read it; use https://",
                self.profile.name,
                host,
            )

    def _secrets(self) -> tuple[str | None, ...]:
        adapter = self._adapter
        key = getattr(adapter, "api_key", None) if adapter is not None else None
        return (self.profile.api_key, key)

    def _scrub(self, exc: BaseException) -> None:
        """Remove secrets from an error's text (a provider may echo the key back)."""
        text = str(exc)
        clean = redact(text, self._secrets())
        if clean != text:
            exc.args = (clean,)

    def _guard(self, fn: Callable[[], T]) -> T:
        """`fn()`, with SDK errors mapped to ours and every error's text scrubbed of secrets."""
        try:
            return fn()
        except LLMError as exc:
            self._scrub(exc)
            raise
        except Exception as exc:
            mapped = self.adapter().map_error(exc)
            if mapped is exc:
                raise
            self._scrub(mapped)
            # Keep the SDK cause unless its own text would show a secret.
            leaks = redact(str(exc), self._secrets()) != str(exc)
            raise mapped from (None if leaks else exc)

    def _send(self, fn: Callable[[Adapter], T]) -> T:
        """One blocking request through the adapter: the unit every attempt runs."""
        return self._guard(lambda: fn(self.adapter()))

    def _require(self, feature: Feature, model: str | None) -> None:
        if feature not in (self._spec.features_for(model) if model else self._spec.features):
            raise LLMUnsupportedFeatureError(self.provider, model, feature.value)

    def _model(self, kind: str, given: str | None = None) -> str:
        if given is not None:
            if not isinstance(given, str) or not given:
                raise LLMInputError("model must be a non-empty string")
            return given
        from .profiles import resolve_model

        return resolve_model(self.profile, kind)  # type: ignore[arg-type]

    # -- the flow of one call ---------------------------------------------------------------

    def _run_sync(self, steps: Steps[T]) -> T:
        return run_sync(steps, self._host.clock)

    async def _run_async(self, steps: Steps[T]) -> T:
        return await run_async(steps, self._host.clock, self._host.executor())

    def _tally(self) -> Tally:
        return Tally(started=self._host.clock.monotonic())

    def _attempt(self, call: Call[T], tokens: int, tally: Tally) -> Steps[tuple[T, Permit | None]]:
        """One request: wait for capacity, send. The permit is released on failure and handed
        back on success (a stream holds it until it ends)."""
        permit: Permit | None = None
        if self._limiter is not None:
            permit = yield Acquire(self._limiter, tokens)
        tally.attempts += 1
        tally.sent_at = permit.granted_at if permit is not None else self._host.clock.monotonic()
        try:
            result = yield call
        except BaseException:
            if permit is not None:
                permit.release()
            raise
        return result, permit

    def _policy(self, override: Mapping[str, Any]) -> RetryPolicy:
        settings = apply_retry_override(self.profile.retry, override)
        return RetryPolicy(settings, self.provider, self.profile.name, self._rng)

    def _retried(
        self,
        call: Call[T],
        tokens: int,
        used: Callable[[T], int | None],
        override: Mapping[str, Any],
        tally: Tally,
    ) -> Steps[T]:
        """`call` under the retry policy, each attempt rate-limited; capacity is released
        with the tokens really used."""

        def attempt(number: int) -> Steps[T]:
            result, permit = yield from self._attempt(call, tokens, tally)
            if permit is not None:
                permit.release(used(result))
            return result

        return self._policy(override).steps(attempt)

    def _metered(
        self, operation: Operation, model: str | None, tally: Tally, flow: Steps[T]
    ) -> Steps[T]:
        host = self._host
        return metered(host.meter, host.clock, self.profile, operation, model, tally, flow)

    def _fallbacks(self, flow: Callable[[LLMClient], Steps[T]]) -> list[Candidate[T]]:
        """This profile's fallbacks, each validating the call for its own provider."""
        return [
            (name, functools.partial(self._fallback_flow, name, flow))
            for name in self.profile.fallbacks
            if name != self.profile.name
        ]

    def _fallback_flow(self, name: str, flow: Callable[[LLMClient], Steps[T]]) -> Steps[T]:
        return flow(self._host.llm(name))

    # -- chat -------------------------------------------------------------------------------

    def _plan(
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
        model = kw.get("model") or self._model("chat")
        return build_chat_plan(
            self._spec,
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
        )

    def _finish(self, plan: ChatPlan, result: ChatResult) -> ChatResult:
        """Check JSON output and stamp the profile that answered."""
        parsed = None
        if plan.expect is not None and not result.tool_calls:
            parsed = parse_reply(
                result.text, plan.expect, validate=plan.validate_json, model_cls=plan.model_cls
            )
        return result.replace(parsed=parsed, profile=self.profile.name)

    def _chat_flow(self, plan: ChatPlan) -> Steps[ChatResult]:
        """Chat on this profile: rate limit, retries and JSON repair, metered."""
        tally = self._tally()
        return self._metered("chat", plan.request.model, tally, self._chat_repairs(plan, tally))

    def _chat_repairs(self, plan: ChatPlan, tally: Tally) -> Steps[ChatResult]:
        """Ask again with the validation errors, up to `repair_attempts` times; usage sums."""
        current = plan
        for attempt in range(plan.repair_attempts + 1):
            request = current.request
            call = self._chat_call(request)
            tokens = estimate_chat_tokens(request)
            result = yield from self._retried(call, tokens, _chat_tokens, plan.retry, tally)
            tally.usage = add_usage(tally.usage, result.usage)
            try:
                return self._finish(plan, result).replace(usage=dict(tally.usage))
            except LLMOutputError as exc:
                if attempt == plan.repair_attempts:
                    raise
                current = _repair_messages(current, result.text, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _chat_call(self, request: ChatRequest) -> Call[ChatResult]:
        return Call(lambda: self._send(lambda adapter: adapter.chat(request)))

    def _chat_steps(self, messages: Any, **opts: Any) -> Steps[ChatResult]:
        plan = self._plan(messages, **opts)
        # A per-call model names the primary's model; each fallback keeps its own.
        rest = {k: v for k, v in opts.items() if k != "model"}
        return with_fallbacks(
            (self.profile.name, lambda: self._chat_flow(plan)),
            self._fallbacks(lambda c: c._chat_flow(c._plan(messages, **rest))),
        )

    def chat_sync(
        self,
        messages: Sequence[Mapping[str, Any]],
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
    ) -> ChatResult:
        """Send a conversation and return the reply: `text, usage = llm.chat_sync(messages)`.

        `kw` takes `model`, `tools`, `tool_choice`, `parallel_tool_calls`, `temperature`,
        `top_p`, `stop`, `timeout`, `retry`, `repair_attempts` and `extra_body`.
        """
        steps = self._chat_steps(
            messages,
            reasoning_effort=reasoning_effort,
            max_output_tokens=max_output_tokens,
            output_format=output_format,
            json_schema=json_schema,
            schema_name=schema_name,
            strict_schema=strict_schema,
            validate_json=validate_json,
            fail_on_unsupported=fail_on_unsupported,
            **kw,
        )
        return self._run_sync(steps)

    async def chat(self, messages: Sequence[Mapping[str, Any]], **opts: Any) -> ChatResult:
        """`chat_sync`, awaitable; same options, same result."""
        return await self._run_async(self._chat_steps(messages, **opts))

    def complete_sync(self, prompt: str, *, system: str | None = None, **opts: Any) -> ChatResult:
        """One-shot prompt: `chat_sync` with a single user message (and optional system)."""
        return self.chat_sync(_prompt_messages(prompt, system), **opts)

    async def complete(self, prompt: str, *, system: str | None = None, **opts: Any) -> ChatResult:
        """`complete_sync`, awaitable."""
        return await self.chat(_prompt_messages(prompt, system), **opts)

    # -- streaming --------------------------------------------------------------------------

    def _stream_plan(self, messages: Any, **opts: Any) -> ChatPlan:
        plan = self._plan(messages, **opts)
        self._require(Feature.STREAM, plan.request.model)
        return plan

    def _open_flow(self, plan: ChatPlan) -> Steps[OpenedStream]:
        """Phase one on this profile: rate limit, open and read to the first text, retried.
        A failure is metered here; a stream that opened is metered when its relay ends."""
        tally = self._tally()
        request = plan.request

        def open_once() -> Any:
            return self._guard(
                lambda: open_to_first_text(lambda: self.adapter().stream(request), self.provider)
            )

        def opened() -> Steps[OpenedStream]:
            call = Call(open_once, discard=lambda pair: close_events(pair[0]))
            policy = self._policy(plan.retry)
            tokens = estimate_chat_tokens(request)
            (events, head), permit = yield from policy.steps(
                lambda n: self._attempt(call, tokens, tally)
            )
            return OpenedStream(self, plan, events, head, permit, tally)

        host = self._host
        return metered(
            host.meter,
            host.clock,
            self.profile,
            "stream",
            request.model,
            tally,
            opened(),
            on_success=False,
        )

    def _relay(self, opened: OpenedStream) -> Generator[str, None, ChatResult]:
        """Phase two: deltas to the caller; the permit is released and the call metered at
        the end, however it ends."""
        acc = StreamAccumulator(self.provider)
        error: BaseException | None = None
        try:
            for event in opened.head:
                acc.add(event)
                if isinstance(event, TextDelta) and event.text:
                    yield event.text
            if acc.end is None:
                for event in guarded_events(opened.events, acc, self._guard, self.provider):
                    acc.add(event)
                    if isinstance(event, TextDelta) and event.text:
                        yield event.text
            return self._finish(opened.plan, acc.result())
        except GeneratorExit:
            raise  # the caller stopped early: not an error
        except BaseException as exc:
            error = exc
            raise
        finally:
            close_events(opened.events)
            self._stream_ended(opened, acc, error)

    def _stream_ended(
        self, opened: OpenedStream, acc: StreamAccumulator, error: BaseException | None
    ) -> None:
        tally = opened.tally
        tally.usage = add_usage(tally.usage, acc.usage)
        if opened.permit is not None:
            opened.permit.release(tokens_used(acc.usage))
        host = self._host
        model = opened.plan.request.model
        now = host.clock.monotonic()
        record_safely(
            host.meter, lambda: make_record(self.profile, "stream", model, tally, now, error)
        )

    def _stream_steps(self, messages: Any, **opts: Any) -> Steps[OpenedStream]:
        plan = self._stream_plan(messages, **opts)
        rest = {k: v for k, v in opts.items() if k != "model"}
        return with_fallbacks(
            (self.profile.name, lambda: self._open_flow(plan)),
            self._fallbacks(lambda c: c._open_flow(c._stream_plan(messages, **rest))),
        )

    def stream_sync(self, messages: Sequence[Mapping[str, Any]], **opts: Any) -> ChatStream:
        """`for delta in llm.stream_sync(messages)`: text deltas; then `.result`."""
        steps = self._stream_steps(messages, **opts)

        def deltas() -> Generator[str, None, ChatResult]:
            opened = self._run_sync(steps)
            return (yield from opened.client._relay(opened))

        return ChatStream(deltas())

    def stream(self, messages: Sequence[Mapping[str, Any]], **opts: Any) -> AsyncChatStream:
        """`async for delta in llm.stream(messages)`: text deltas; then `.result`."""
        steps = self._stream_steps(messages, **opts)
        return OpeningAsyncStream(
            lambda: self._run_async(steps),
            lambda opened: ChatStream(opened.client._relay(opened)),
            self._host.executor(),
        )

    def chat_stream_sync(
        self,
        messages: Sequence[Mapping[str, Any]],
        on_delta: DeltaCallback | None = None,
        **opts: Any,
    ) -> ChatResult:
        """Stream a reply, calling `on_delta(text)` for each piece; returns the `ChatResult`."""
        if on_delta is not None and inspect.iscoroutinefunction(on_delta):
            raise LLMInputError(
                "on_delta is a coroutine function: use `await llm.chat_stream(...)` for it"
            )
        stream = self.stream_sync(messages, **opts)
        with stream:
            for delta in stream:
                if on_delta is not None:
                    on_delta(delta)
        return stream.result

    async def chat_stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        on_delta: DeltaCallback | None = None,
        **opts: Any,
    ) -> ChatResult:
        """Stream a reply; `on_delta` (function or coroutine function) runs on this event
        loop, in order."""
        stream = self.stream(messages, **opts)
        async with stream:
            return await stream.until_done(on_delta)

    # -- embeddings, images, raw ------------------------------------------------------------

    def _embed_steps(
        self,
        texts: str | Sequence[str],
        model: str | None,
        dimensions: int | None,
        timeout: float | None,
        retry: Any,
    ) -> Steps[EmbeddingResult]:
        items = [texts] if isinstance(texts, str) else texts
        if isinstance(items, (bytes, Mapping)) or not isinstance(items, Sequence) or not items:
            raise LLMInputError("texts must be a non-empty string or list of strings")
        for i, text in enumerate(items):
            if not isinstance(text, str) or not text:
                raise LLMInputError(f"texts[{i}] must be a non-empty string")
        if dimensions is not None and (
            isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
        ):
            raise LLMInputError("dimensions must be a positive int")
        seconds = _timeout(timeout)
        override = check_retry_override(retry)
        name = self._model("embed", model)
        self._require(Feature.EMBED, name)
        size = self._spec.max_embed_batch
        batches = [
            EmbedRequest(name, tuple(items[start : start + size]), dimensions, seconds)
            for start in range(0, len(items), size)
        ]
        tally = self._tally()

        def run() -> Steps[EmbeddingResult]:
            vectors: list[list[float]] = []
            result_model: str | None = name
            for request in batches:
                call = self._embed_call(request)
                tokens = estimate_text_tokens(request.texts)
                part = yield from self._retried(
                    call, tokens, lambda p: tokens_used(p.usage), override, tally
                )
                vectors.extend(part.vectors)
                tally.usage = add_usage(tally.usage, part.usage)
                result_model = part.model or result_model
            return EmbeddingResult(vectors, dict(tally.usage), result_model)

        return self._metered("embed", name, tally, run())

    def _embed_call(self, request: EmbedRequest) -> Call[EmbeddingResult]:
        return Call(lambda: self._send(lambda adapter: adapter.embed(request)))

    def embed_sync(
        self,
        texts: str | Sequence[str],
        *,
        model: str | None = None,
        dimensions: int | None = None,
        timeout: float | None = None,
        retry: Mapping[str, Any] | None = None,
    ) -> EmbeddingResult:
        """Embed texts (batched to the provider's limit, order kept)."""
        return self._run_sync(self._embed_steps(texts, model, dimensions, timeout, retry))

    async def embed(
        self,
        texts: str | Sequence[str],
        *,
        model: str | None = None,
        dimensions: int | None = None,
        timeout: float | None = None,
        retry: Mapping[str, Any] | None = None,
    ) -> EmbeddingResult:
        """`embed_sync`, awaitable."""
        return await self._run_async(self._embed_steps(texts, model, dimensions, timeout, retry))

    def _image_steps(
        self,
        prompt: str,
        model: str | None = None,
        n: int = 1,
        size: str | None = None,
        quality: str | None = None,
        input_images: Sequence[Any] | None = None,
        timeout: float | None = None,
        retry: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> Steps[ImageGenerationResult]:
        if not isinstance(prompt, str) or not prompt:
            raise LLMInputError("prompt must be a non-empty string")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10:
            raise LLMInputError("n must be an int from 1 to 10")
        seconds = _timeout(timeout)
        override = check_retry_override(retry)
        name = self._model("image", model)
        images = tuple(_input_image(i, img) for i, img in enumerate(input_images or ()))
        self._require(Feature.IMAGE_EDIT if images else Feature.IMAGE_GENERATION, name)
        request = ImageRequest(name, prompt, n, size, quality, images, seconds, extra=extra)
        tally = self._tally()

        def run() -> Steps[ImageGenerationResult]:
            call = Call(lambda: self._send(lambda adapter: adapter.generate_image(request)))
            tokens = estimate_text_tokens([prompt])
            result = yield from self._retried(
                call, tokens, lambda r: tokens_used(r.usage), override, tally
            )
            tally.usage = add_usage(tally.usage, result.usage)
            return result

        return self._metered("image", name, tally, run())

    def generate_image_sync(
        self,
        prompt: str,
        *,
        model: str | None = None,
        n: int = 1,
        size: str | None = None,
        quality: str | None = None,
        input_images: Sequence[Any] | None = None,
        timeout: float | None = None,
        retry: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> ImageGenerationResult:
        """Generate images; with `input_images` (bytes, paths or data URLs), edit them."""
        steps = self._image_steps(
            prompt,
            model=model,
            n=n,
            size=size,
            quality=quality,
            input_images=input_images,
            timeout=timeout,
            retry=retry,
            **extra,
        )
        return self._run_sync(steps)

    async def generate_image(self, prompt: str, **opts: Any) -> ImageGenerationResult:
        """`generate_image_sync`, awaitable."""
        return await self._run_async(self._image_steps(prompt, **opts))

    def _raw_steps(
        self,
        *,
        method: str = "GET",
        path: str | None = None,
        url: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        return_response: bool = False,
        timeout: float | None = None,
        retry: Mapping[str, Any] | None = None,
    ) -> Steps[Any]:
        self._require(Feature.RAW, None)
        seconds = _timeout(timeout)
        override = check_retry_override(retry)
        tally = self._tally()

        def send() -> Any:
            auth = self.adapter().raw_auth()
            if url is not None and auth.headers:
                self._warn_plain_http(url)
            return send_raw(
                self._raw_session(),
                auth,
                self.provider,
                method=method,
                path=path,
                url=url,
                json=json,
                params=params,
                headers=headers,
                timeout=seconds if seconds is not None else self.profile.timeout,
                return_response=return_response,
                secrets=self._secrets(),
            )

        flow = self._retried(Call(functools.partial(self._guard, send)), 0, _none, override, tally)
        return self._metered("raw", self.profile.model, tally, flow)

    def _raw_session(self) -> requests.Session:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import requests

                    self._session = requests.Session()
        return self._session

    def raw_sync(
        self,
        *,
        method: str = "GET",
        path: str | None = None,
        url: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        return_response: bool = False,
        timeout: float | None = None,
        retry: Mapping[str, Any] | None = None,
    ) -> Any:
        """An HTTP request to the provider with its base URL and auth; parsed JSON back
        (or the `requests.Response` with `return_response=True`)."""
        steps = self._raw_steps(
            method=method,
            path=path,
            url=url,
            json=json,
            params=params,
            headers=headers,
            return_response=return_response,
            timeout=timeout,
            retry=retry,
        )
        return self._run_sync(steps)

    async def raw(self, **opts: Any) -> Any:
        """`raw_sync`, awaitable."""
        return await self._run_async(self._raw_steps(**opts))

    # -- tool loop --------------------------------------------------------------------------

    def run_tools_sync(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Callable[..., Any] | FunctionTool],
        max_turns: int = 8,
        **opts: Any,
    ) -> ToolLoopResult:
        """Chat with Python functions as tools: run what the model asks for, feed the results
        back, and return the final reply with the transcript (see `llm_context.tool_loop`)."""
        from .tool_loop import run_tool_loop

        return run_tool_loop(self, messages, tools, max_turns, **opts)

    async def run_tools(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Callable[..., Any] | FunctionTool],
        max_turns: int = 8,
        **opts: Any,
    ) -> ToolLoopResult:
        """`run_tools_sync`, awaitable; `async def` tools are awaited on the caller's loop."""
        from .tool_loop import run_tool_loop_async

        return await run_tool_loop_async(self, messages, tools, max_turns, **opts)

    def close(self) -> None:
        """Release connections (the SDK client and the raw session)."""
        if self._adapter is not None:
            self._adapter.close()
        if self._session is not None:
            self._session.close()


def _none(_: Any) -> None:
    return None
