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
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .call.catalog import count_tokens_flow, list_models_flow
from .call.connection import Connection
from .call.fallback import Candidate, with_fallbacks
from .call.flows import chat_flow, embed_flow, image_flow, raw_flow
from .call.plan import ChatPlan
from .call.runtime import Runtime
from .call.steps import Steps, run_async, run_sync
from .client_jobs import LargeJobs
from .config.settings import Profile
from .contract.events import ChatEvent
from .contract.request import ChatRequest
from .contract.results import (
    ChatResult,
    EmbeddingResult,
    ImageGenerationResult,
    ModelInfo,
    TokenCount,
)
from .errors import LLMError, LLMInputError
from .providers.base import Adapter, Feature
from .streams.flow import (
    EVENTS_SHOWN,
    TEXT_SHOWN,
    OpenedStream,
    OpeningAsyncStream,
    Relay,
    as_is,
    open_flow,
    relay_events,
    texts,
)
from .streams.handles import AsyncChatStream, ChatStream, StreamView

if TYPE_CHECKING:
    from .config.resolve import ModelKind
    from .host import ClientHost
    from .streams.callbacks import TextCallback, ToolCallback
    from .telemetry.operation import Operation
    from .tool_loop import FunctionTool, ToolLoopResult

T = TypeVar("T")

__all__ = ["LLMClient"]


@functools.cache
def _start_operation() -> Callable[..., Operation | None]:
    """`telemetry.operation.start`, imported at the first call (an import statement in the
    hot path resolves its package on every call)."""
    from .telemetry.operation import start

    return start


def _stream_plan(runtime: Runtime, messages: Any, opts: Mapping[str, Any]) -> ChatPlan:
    plan = runtime.plan(messages, **opts)
    runtime.require(Feature.STREAM, plan.request.model)
    return plan


def _without_model(opts: Mapping[str, Any]) -> dict[str, Any]:
    """A call's options for a fallback profile: a per-call model names the primary's."""
    return {k: v for k, v in opts.items() if k != "model"}


def _prompt_messages(prompt: str, system: str | None) -> list[dict[str, Any]]:
    if not isinstance(prompt, str) or not prompt:
        raise LLMInputError("prompt must be a non-empty string")
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


class LLMClient(LargeJobs):
    """A configured connection to one profile's provider. Get one with `context.llm(...)`."""

    def __init__(self, profile: Profile, host: ClientHost) -> None:
        self.profile = profile
        self._host = host
        self._connection = Connection(profile)
        self.runtime = Runtime(
            profile,
            self._connection,
            host.clock,
            host.meter,
            host.limiter_for(profile),
            breaker=host.breaker_for(profile),
        )
        """What this profile's flows are given: profile, connection, clock, meter, limiter."""

    def __repr__(self) -> str:
        p = self.profile
        return f"LLMClient(profile={p.name!r}, provider={p.provider.value!r}, model={p.model!r})"

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def provider(self) -> str:
        return self.profile.provider.value

    def adapter(self) -> Adapter:
        """The provider adapter (and its SDK client), built on first use and then reused."""
        return self._connection.adapter()

    # -- the flow of one call ---------------------------------------------------------------

    def _run_sync(self, steps: Steps[T]) -> T:
        return run_sync(steps, self._host.clock)

    async def _run_async(self, steps: Steps[T]) -> T:
        return await run_async(steps, self._host.clock, self._host.executor())

    def _fallbacks(self, flow: Callable[[Runtime], Steps[T]]) -> list[Candidate[T]]:
        """This profile's fallbacks, each validating the call for its own provider."""
        return [
            (name, functools.partial(self._fallback_flow, name, flow))
            for name in self.profile.fallbacks
            if name != self.profile.name
        ]

    def _fallback_flow(self, name: str, flow: Callable[[Runtime], Steps[T]]) -> Steps[T]:
        return flow(self._host.llm(name).runtime)

    # -- chat -------------------------------------------------------------------------------

    def _chained(
        self, primary: Callable[[], Steps[T]], fallback: Callable[[Runtime], Steps[T]]
    ) -> Steps[T]:
        """The primary's flow, with the profile's fallbacks behind it when it has any."""
        if not self.profile.fallbacks:
            return primary()  # the usual profile: no chain to build on every call
        return with_fallbacks(
            (self.profile.name, primary), self._fallbacks(fallback), self.profile.fallback_on
        )

    def _chat_steps(self, messages: Any, **opts: Any) -> Steps[ChatResult]:
        plan = self.runtime.plan(messages, **opts)
        steps = self._chained(
            lambda: chat_flow(self.runtime, plan),
            lambda rt: chat_flow(rt, rt.plan(messages, **_without_model(opts))),
        )
        op = self._telemetry("chat", plan.request.model, plan.request)
        return steps if op is None else op.steps(steps)

    def _traced(self, operation: ModelKind, given: Any, steps: Steps[T]) -> Steps[T]:
        def model() -> str:  # asked only when telemetry is on: a label, never an error
            try:
                return self.runtime.model(operation, given)
            except LLMError:
                return str(given or "unknown")

        op = self._telemetry(operation, model)
        return steps if op is None else op.steps(steps)

    def _telemetry(
        self, operation: str, model: str | Callable[[], str], request: ChatRequest | None = None
    ) -> Operation | None:
        """The operation's span and metrics, or None when OpenTelemetry is not set up."""
        return _start_operation()(self._host.telemetry, operation, self.profile, model, request)

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

    # -- token counts and model lists -------------------------------------------------------

    def count_tokens_sync(self, messages: Sequence[Mapping[str, Any]], **opts: Any) -> TokenCount:
        """The input tokens `chat_sync(messages, **opts)` would send: counted by the provider
        where it has an endpoint for it (`exact=True`), else estimated. Validated as chat."""
        return self._run_sync(count_tokens_flow(self.runtime, self.runtime.plan(messages, **opts)))

    async def count_tokens(self, messages: Sequence[Mapping[str, Any]], **opts: Any) -> TokenCount:
        """`count_tokens_sync`, awaitable."""
        plan = self.runtime.plan(messages, **opts)
        return await self._run_async(count_tokens_flow(self.runtime, plan))

    def list_models_sync(self, *, retry: Mapping[str, Any] | None = None) -> list[ModelInfo]:
        """The models the provider lists, with the limits it reports (None where it does not)."""
        return self._run_sync(list_models_flow(self.runtime, retry))

    async def list_models(self, *, retry: Mapping[str, Any] | None = None) -> list[ModelInfo]:
        """`list_models_sync`, awaitable."""
        return await self._run_async(list_models_flow(self.runtime, retry))

    # -- streaming --------------------------------------------------------------------------

    def _stream_steps(
        self, messages: Any, shown: tuple[type, ...], **opts: Any
    ) -> tuple[Steps[OpenedStream], Relay]:
        """Phase one's steps, and what phase two's events go through (its telemetry)."""
        plan = _stream_plan(self.runtime, messages, opts)
        steps = self._chained(
            lambda: open_flow(self.runtime, plan, shown),
            lambda rt: open_flow(rt, _stream_plan(rt, messages, _without_model(opts)), shown),
        )
        op = self._telemetry("stream", plan.request.model, plan.request)
        if op is None:
            return steps, as_is
        return op.steps(steps, ends=False), op.relay

    def events_sync(
        self, messages: Sequence[Mapping[str, Any]], **opts: Any
    ) -> ChatStream[ChatEvent]:
        """`for event in llm.events_sync(messages)`: typed events (text, reasoning, tool
        calls, citations, partial JSON, usage), the last `Completed(result)`."""
        steps, traced = self._stream_steps(messages, EVENTS_SHOWN, **opts)
        view = StreamView()
        return ChatStream(lambda: traced(relay_events(self._run_sync(steps), view)), view)

    def events(
        self, messages: Sequence[Mapping[str, Any]], **opts: Any
    ) -> AsyncChatStream[ChatEvent]:
        """`async for event in llm.events(messages)`: `events_sync`'s events."""
        steps, traced = self._stream_steps(messages, EVENTS_SHOWN, **opts)
        view = StreamView()
        return OpeningAsyncStream(
            lambda: self._run_async(steps),
            lambda opened: ChatStream(traced(relay_events(opened, view)), view),
            self._host.executor(),
            view,
        )

    def stream_sync(self, messages: Sequence[Mapping[str, Any]], **opts: Any) -> ChatStream[str]:
        """`for delta in llm.stream_sync(messages)`: text deltas; then `.result`."""
        steps, traced = self._stream_steps(messages, TEXT_SHOWN, **opts)
        view = StreamView()
        return ChatStream(lambda: texts(traced(relay_events(self._run_sync(steps), view))), view)

    def stream(self, messages: Sequence[Mapping[str, Any]], **opts: Any) -> AsyncChatStream[str]:
        """`async for delta in llm.stream(messages)`: text deltas; then `.result`."""
        steps, traced = self._stream_steps(messages, TEXT_SHOWN, **opts)
        view = StreamView()
        return OpeningAsyncStream(
            lambda: self._run_async(steps),
            lambda opened: ChatStream(texts(traced(relay_events(opened, view))), view),
            self._host.executor(),
            view,
        )

    def chat_stream_sync(
        self,
        messages: Sequence[Mapping[str, Any]],
        on_delta: TextCallback | None = None,
        *,
        on_reasoning_delta: TextCallback | None = None,
        on_tool_call: ToolCallback | None = None,
        **opts: Any,
    ) -> ChatResult:
        """Stream a reply, calling `on_delta(text)` for each piece of the answer,
        `on_reasoning_delta(text)` for each piece of thinking and `on_tool_call(call)` for
        each complete tool call; returns the `ChatResult`."""
        from .streams.callbacks import StreamCallbacks

        callbacks = StreamCallbacks(on_delta, on_reasoning_delta, on_tool_call)
        callbacks.check_sync()
        if callbacks.text_only:
            stream = self.stream_sync(messages, **opts)
            with stream:
                for delta in stream:
                    if on_delta is not None:
                        on_delta(delta)
            return stream.result
        events = self.events_sync(messages, **opts)
        with events:
            for event in events:
                callbacks.call(event)
        return events.result

    async def chat_stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        on_delta: TextCallback | None = None,
        *,
        on_reasoning_delta: TextCallback | None = None,
        on_tool_call: ToolCallback | None = None,
        **opts: Any,
    ) -> ChatResult:
        """`chat_stream_sync`, awaitable: each callback (function or coroutine function)
        runs on this event loop, in order."""
        from .streams.callbacks import StreamCallbacks

        callbacks = StreamCallbacks(on_delta, on_reasoning_delta, on_tool_call)
        if callbacks.text_only:
            stream = self.stream(messages, **opts)
            async with stream:
                return await stream.until_done(on_delta)
        events = self.events(messages, **opts)
        async with events:
            return await events.until_done(callbacks.call)

    # -- embeddings, images, raw ------------------------------------------------------------

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
        steps = embed_flow(self.runtime, texts, model, dimensions, timeout, retry)
        return self._run_sync(self._traced("embed", model, steps))

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
        steps = embed_flow(self.runtime, texts, model, dimensions, timeout, retry)
        return await self._run_async(self._traced("embed", model, steps))

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
        steps = image_flow(
            self.runtime,
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
        return self._run_sync(self._traced("image", model, steps))

    async def generate_image(self, prompt: str, **opts: Any) -> ImageGenerationResult:
        """`generate_image_sync`, awaitable."""
        steps = image_flow(self.runtime, prompt, **opts)
        return await self._run_async(self._traced("image", opts.get("model"), steps))

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
        steps = raw_flow(
            self.runtime,
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
        return await self._run_async(raw_flow(self.runtime, **opts))

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

        return run_tool_loop(
            self, messages, tools, max_turns, telemetry=self._host.telemetry, **opts
        )

    async def run_tools(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Callable[..., Any] | FunctionTool],
        max_turns: int = 8,
        **opts: Any,
    ) -> ToolLoopResult:
        """`run_tools_sync`, awaitable; `async def` tools are awaited on the caller's loop."""
        from .tool_loop import run_tool_loop_async

        settings = self._host.telemetry
        return await run_tool_loop_async(
            self, messages, tools, max_turns, telemetry=settings, **opts
        )

    def close(self) -> None:
        """Release connections (the SDK client and the raw session). The client stays usable:
        the next call opens new ones, as a fresh client would."""
        self._connection.close()
