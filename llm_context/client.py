"""LLMClient: every operation as a blocking method, and an async twin that runs the blocking
one in the context's thread pool (so the two can never drift apart).

The flow of one call: validate (nothing sent on bad input) -> retry policy -> adapter ->
SDK -> parsed result -> JSON check (and repair) -> result.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .errors import (
    LLMConnectionError,
    LLMError,
    LLMInputError,
    LLMOutputError,
    LLMStreamError,
    LLMUnsupportedFeatureError,
    redact,
)
from .options import ChatPlan, build_chat_plan
from .providers.base import Adapter, Feature
from .providers.registry import adapter_class
from .raw import send_raw
from .request import EmbedRequest, ImageRequest, InputImage
from .results import ChatResult, EmbeddingResult, ImageGenerationResult, add_usage
from .retry import RetryPolicy
from .settings import Profile
from .stream import AsyncChatStream, ChatStream, DeltaCallback
from .streaming import StreamAccumulator, StreamEnd, StreamEvent, TextDelta
from .structured import parse_reply

if TYPE_CHECKING:
    import requests

    from .tool_loop import FunctionTool, ToolLoopResult

T = TypeVar("T")

__all__ = ["LLMClient"]


class ClientHost(Protocol):
    """What a client needs from the context that owns it."""

    def executor(self) -> Executor: ...


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


class LLMClient:
    """A configured connection to one profile's provider. Get one with `context.llm(...)`."""

    def __init__(self, profile: Profile, host: ClientHost) -> None:
        self.profile = profile
        self._host = host
        self._spec = profile.spec
        self._adapter: Adapter | None = None
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._policy = RetryPolicy(profile.retry, profile.provider.value)

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
                    self._adapter = adapter_class(self.profile.provider)(resolved)
        return self._adapter

    def _secrets(self) -> tuple[str | None, ...]:
        adapter = self._adapter
        key = getattr(adapter, "api_key", None) if adapter is not None else None
        return (self.profile.api_key, key)

    def _mapped(self, exc: Exception) -> BaseException:
        """Our error for an SDK exception, its text scrubbed of secrets."""
        mapped = self.adapter().map_error(exc)
        if mapped is exc:
            return exc
        secrets = self._secrets()
        text = str(mapped)
        clean = redact(text, secrets)
        if clean != text:
            mapped.args = (clean,)
        return mapped

    def _guard(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except LLMError:
            raise
        except Exception as exc:
            mapped = self._mapped(exc)
            if mapped is exc:
                raise
            # Keep the SDK cause unless its own text would show a secret.
            leaks = redact(str(exc), self._secrets()) != str(exc)
            raise mapped from (None if leaks else exc)

    def _run(self, fn: Callable[[], T]) -> T:
        return self._policy.call(lambda: self._guard(fn))

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

    async def _in_pool(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._host.executor(), call)

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

    def _chat_plan(self, plan: ChatPlan) -> ChatResult:
        adapter = self.adapter()
        usage: dict[str, int] = {}
        for attempt in range(plan.repair_attempts + 1):
            current = plan
            result = self._run(lambda p=current: adapter.chat(p.request))  # type: ignore[misc]
            usage = add_usage(usage, result.usage)
            try:
                return self._finish(plan, result).replace(usage=usage)
            except LLMOutputError as exc:
                if attempt == plan.repair_attempts:
                    raise
                plan = _repair_messages(plan, result.text, exc)
        raise AssertionError("unreachable")  # pragma: no cover

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
        `top_p`, `stop`, `timeout`, `repair_attempts` and `extra_body`.
        """
        plan = self._plan(
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
        return self._chat_plan(plan)

    async def chat(self, messages: Sequence[Mapping[str, Any]], **opts: Any) -> ChatResult:
        """`chat_sync`, awaitable; same options, same result."""
        return await self._in_pool(self.chat_sync, messages, **opts)

    def complete_sync(self, prompt: str, *, system: str | None = None, **opts: Any) -> ChatResult:
        """One-shot prompt: `chat_sync` with a single user message (and optional system)."""
        if not isinstance(prompt, str) or not prompt:
            raise LLMInputError("prompt must be a non-empty string")
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        return self.chat_sync(messages, **opts)

    async def complete(self, prompt: str, *, system: str | None = None, **opts: Any) -> ChatResult:
        """`complete_sync`, awaitable."""
        return await self._in_pool(self.complete_sync, prompt, system=system, **opts)

    # -- streaming --------------------------------------------------------------------------

    def _first_text(self, plan: ChatPlan) -> tuple[Iterator[StreamEvent], list[StreamEvent]]:
        """Open the stream and read up to the first text delta (the retryable phase)."""
        self._require(Feature.STREAM, plan.request.model)
        adapter = self.adapter()

        def open_stream() -> tuple[Iterator[StreamEvent], list[StreamEvent]]:
            events = adapter.stream(plan.request)
            head: list[StreamEvent] = []
            try:
                for event in events:
                    head.append(event)
                    if isinstance(event, (TextDelta, StreamEnd)):
                        return events, head
            except BaseException:
                _close(events)
                raise
            # Cut before any output: nothing reached the caller, so this is safe to retry.
            raise LLMConnectionError(
                f"the {self.provider} stream ended before any output", provider=self.provider
            )

        return self._run(open_stream)

    def _stream_gen(self, plan: ChatPlan) -> Generator[str, None, ChatResult]:
        events, head = self._first_text(plan)
        acc = StreamAccumulator(self.provider)
        try:
            for event in head:
                acc.add(event)
                if isinstance(event, TextDelta) and event.text:
                    yield event.text
            if acc.end is None:
                for event in self._guarded_iter(events, acc):
                    acc.add(event)
                    if isinstance(event, TextDelta) and event.text:
                        yield event.text
        finally:
            _close(events)
        return self._finish(plan, acc.result())

    def _guarded_iter(
        self, events: Iterator[StreamEvent], acc: StreamAccumulator
    ) -> Iterator[StreamEvent]:
        """Events after the first delta: any failure now is a cut stream with partial text."""
        while True:
            try:
                event = self._guard(lambda: next(events))
            except StopIteration:
                return
            except LLMStreamError:
                raise
            except LLMError as exc:
                raise LLMStreamError(
                    f"the {self.provider} stream failed after {len(acc.text)} characters: {exc}",
                    partial_text=acc.text,
                    provider=self.provider,
                ) from exc
            yield event
            if isinstance(event, StreamEnd):
                return

    def stream_sync(self, messages: Sequence[Mapping[str, Any]], **opts: Any) -> ChatStream:
        """`for delta in llm.stream_sync(messages)`: text deltas; then `.result`."""
        plan = self._plan(messages, **opts)
        return ChatStream(self._stream_gen(plan))

    def stream(self, messages: Sequence[Mapping[str, Any]], **opts: Any) -> AsyncChatStream:
        """`async for delta in llm.stream(messages)`: text deltas; then `.result`."""
        plan = self._plan(messages, **opts)
        return AsyncChatStream(lambda: ChatStream(self._stream_gen(plan)), self._host.executor())

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

    def embed_sync(
        self, texts: str | Sequence[str], *, model: str | None = None, dimensions: int | None = None
    ) -> EmbeddingResult:
        """Embed texts (batched to the provider's limit, order kept)."""
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
        name = self._model("embed", model)
        self._require(Feature.EMBED, name)
        adapter = self.adapter()
        size = self._spec.max_embed_batch
        vectors: list[list[float]] = []
        usage: dict[str, int] = {}
        result_model: str | None = name
        for start in range(0, len(items), size):
            request = EmbedRequest(name, tuple(items[start : start + size]), dimensions)
            part = self._run(lambda r=request: adapter.embed(r))  # type: ignore[misc]
            vectors.extend(part.vectors)
            usage = add_usage(usage, part.usage)
            result_model = part.model or result_model
        return EmbeddingResult(vectors, usage, result_model)

    async def embed(
        self, texts: str | Sequence[str], *, model: str | None = None, dimensions: int | None = None
    ) -> EmbeddingResult:
        """`embed_sync`, awaitable."""
        return await self._in_pool(self.embed_sync, texts, model=model, dimensions=dimensions)

    def generate_image_sync(
        self,
        prompt: str,
        *,
        model: str | None = None,
        n: int = 1,
        size: str | None = None,
        quality: str | None = None,
        input_images: Sequence[Any] | None = None,
        **extra: Any,
    ) -> ImageGenerationResult:
        """Generate images; with `input_images` (bytes, paths or data URLs), edit them."""
        if not isinstance(prompt, str) or not prompt:
            raise LLMInputError("prompt must be a non-empty string")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10:
            raise LLMInputError("n must be an int from 1 to 10")
        name = self._model("image", model)
        images = tuple(_input_image(i, img) for i, img in enumerate(input_images or ()))
        self._require(Feature.IMAGE_EDIT if images else Feature.IMAGE_GENERATION, name)
        request = ImageRequest(name, prompt, n, size, quality, images, extra=extra)
        adapter = self.adapter()
        result = self._run(lambda: adapter.generate_image(request))
        return result

    async def generate_image(self, prompt: str, **opts: Any) -> ImageGenerationResult:
        """`generate_image_sync`, awaitable."""
        return await self._in_pool(self.generate_image_sync, prompt, **opts)

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
    ) -> Any:
        """An HTTP request to the provider with its base URL and auth; parsed JSON back
        (or the `requests.Response` with `return_response=True`)."""
        self._require(Feature.RAW, None)
        auth = self.adapter().raw_auth()
        if self._session is None:
            import requests

            self._session = requests.Session()
        session = self._session
        secrets = self._secrets()
        return self._run(
            lambda: send_raw(
                session,
                auth,
                self.provider,
                method=method,
                path=path,
                url=url,
                json=json,
                params=params,
                headers=headers,
                timeout=timeout if timeout is not None else self.profile.timeout,
                return_response=return_response,
                secrets=secrets,
            )
        )

    async def raw(self, **opts: Any) -> Any:
        """`raw_sync`, awaitable."""
        return await self._in_pool(self.raw_sync, **opts)

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


def _close(events: Iterator[Any]) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        close()
