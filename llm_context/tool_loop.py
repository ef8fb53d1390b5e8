"""The tool loop: call the model, run the functions it asks for, feed the results back, repeat
until it answers in text (or `max_turns` model calls have been made).

    def get_weather(city: str) -> str:
        '''Current weather for a city.'''
        return "18C, sunny"

    loop = llm.run_tools_sync([{"role": "user", "content": "Weather in Oslo?"}],
                              tools=[get_weather])
    print(loop.text)         # the final answer
    loop.messages            # the whole conversation, tool calls and results included

A function that raises sends its error text to the model instead of ending the loop; several
calls asked for in one reply run at once (threads; `async def` tools are awaited together
under `run_tools`). When `max_turns` is reached with tool calls still pending,
`ToolLoopLimitError` is raised; its `.loop` holds the transcript, which ends with the
unanswered calls, and passing `.loop.messages` back to `run_tools_sync` runs them and goes on.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .contract.messages import normalize_messages
from .contract.results import ChatResult, Usage, add_usage
from .contract.tools import ToolCall
from .errors import LLMError, LLMInputError
from .function_tools import FunctionTool, function_tool
from .telemetry.tools import loop_span, tool_span

if TYPE_CHECKING:
    from .config.settings import TelemetrySettings

__all__ = [
    "FunctionTool",
    "ToolLoopLimitError",
    "ToolLoopResult",
    "ToolRun",
    "function_tool",
    "run_tool_loop",
    "run_tool_loop_async",
]

log = logging.getLogger("llm_context.tool_loop")

# Enough for the widest fan-out models produce; more threads would only contend.
MAX_PARALLEL_TOOLS = 8


class SyncChat(Protocol):
    def chat_sync(self, messages: Sequence[Mapping[str, Any]], **opts: Any) -> ChatResult: ...


class AsyncChat(Protocol):
    async def chat(self, messages: Sequence[Mapping[str, Any]], **opts: Any) -> ChatResult: ...


@dataclass(frozen=True)
class ToolRun:
    """One function call the loop made: the model's request and the text sent back."""

    call: ToolCall
    output: str
    error: bool = False


@dataclass(frozen=True)
class ToolLoopResult:
    """What `run_tools` returns: the final reply, the whole transcript and what ran.

    `messages` is the input conversation plus every assistant turn and tool result, ready to
    extend with the next user message. `usage` sums all model calls; `turns` counts them.
    """

    result: ChatResult
    messages: tuple[dict[str, Any], ...]
    turns: int
    usage: Usage
    tool_runs: tuple[ToolRun, ...] = ()

    @property
    def text(self) -> str:
        """The final answer's text."""
        return self.result.text

    @property
    def parsed(self) -> Any:
        """The final answer's decoded JSON (with a JSON `output_format`)."""
        return self.result.parsed


class ToolLoopLimitError(LLMError):
    """`max_turns` model calls were made and the model still asked for tools.

    `.loop` is the transcript so far; it ends with the unanswered tool calls, so
    `llm.run_tools_sync(err.loop.messages, tools=...)` runs them and continues.
    """

    def __init__(self, message: str, loop: ToolLoopResult) -> None:
        """`loop` is the transcript up to the reply that still asked for tools."""
        self.loop = loop
        super().__init__(message)


# ------------------------------------------------------------------------------- pure steps


def prepare_tools(tools: Sequence[Callable[..., Any] | FunctionTool]) -> dict[str, FunctionTool]:
    """Functions (or `function_tool(...)` results) by tool name."""
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence) or not tools:
        raise LLMInputError("tools must be a non-empty list of functions")
    out: dict[str, FunctionTool] = {}
    for i, func in enumerate(tools):
        if isinstance(func, Mapping):
            raise LLMInputError(
                f"tools[{i}] is a dict: run_tools needs the Python functions themselves "
                "(pass tool dicts to chat_sync and run the calls yourself)"
            )
        tool = function_tool(func)
        if tool.name in out:
            raise LLMInputError(f"tools[{i}]: two tools are named {tool.name!r}")
        out[tool.name] = tool
    return out


def encode_output(value: Any) -> str:
    """A function's return value as the text a model reads (JSON for anything but str)."""
    if isinstance(value, str):
        return value
    dump = getattr(value, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _failed(call: ToolCall, exc: BaseException) -> ToolRun:
    """A tool that raised: its error text goes to the model instead of ending the loop."""
    log.info("tool %s raised %s; the error goes back to the model", call.name, exc)
    return ToolRun(call, f"Error: {call.name} raised {type(exc).__name__}: {exc}", True)


def _lookup(tools: Mapping[str, FunctionTool], call: ToolCall) -> FunctionTool | ToolRun:
    tool = tools.get(call.name)
    if tool is None:
        known = ", ".join(tools)
        return ToolRun(
            call, f"Error: there is no tool named {call.name!r}; use one of: {known}", True
        )
    return tool


def run_call(
    tools: Mapping[str, FunctionTool], call: ToolCall, telemetry: TelemetrySettings | None = None
) -> ToolRun:
    """Run one call (in this thread; an `async def` tool on a fresh event loop); any exception
    becomes the error text for the model. Traced when telemetry is set up."""
    with tool_span(telemetry, call) as done:
        run = _run_call(tools, call)
        done(run.output, run.error)
        return run


def _run_call(tools: Mapping[str, FunctionTool], call: ToolCall) -> ToolRun:
    tool = _lookup(tools, call)
    if isinstance(tool, ToolRun):
        return tool
    try:
        value = _await_fresh(tool, call) if tool.is_async else tool(**call.arguments)
        return ToolRun(call, encode_output(value))
    except Exception as exc:
        return _failed(call, exc)


def _await_fresh(tool: FunctionTool, call: ToolCall) -> Any:
    """An `async def` tool run to completion on a new event loop, from blocking code."""
    import asyncio  # asyncio (with ssl: ~30 ms) loads only when an async tool runs

    def fresh() -> Any:
        return asyncio.run(tool(**call.arguments))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fresh()
    # A loop already runs in this thread (Jupyter, sync code called from async code), and
    # asyncio.run cannot nest: the fresh loop gets a thread of its own.
    with ThreadPoolExecutor(1, "llm_context_tool") as pool:
        return pool.submit(contextvars.copy_context().run, fresh).result()


async def run_call_async(
    tools: Mapping[str, FunctionTool], call: ToolCall, telemetry: TelemetrySettings | None = None
) -> ToolRun:
    """Run one call: `async def` tools on this loop, plain functions in a worker thread."""
    tool = _lookup(tools, call)
    if isinstance(tool, ToolRun):
        return tool
    import asyncio

    if not tool.is_async:
        return await asyncio.to_thread(run_call, tools, call, telemetry)
    with tool_span(telemetry, call) as done:
        try:
            run = ToolRun(call, encode_output(await tool(**call.arguments)))
        except Exception as exc:
            run = _failed(call, exc)
        done(run.output, run.error)
        return run


def tool_message(run: ToolRun) -> dict[str, Any]:
    """The `role: tool` message that answers one call."""
    return {"role": "tool", "tool_call_id": run.call.id, "content": run.output}


def pending_calls(messages: Sequence[Mapping[str, Any]]) -> tuple[ToolCall, ...]:
    """Tool calls of the last assistant turn that no tool message answers yet (a resumed loop)."""
    normalized = normalize_messages(messages)
    for index in range(len(normalized) - 1, -1, -1):
        message = normalized[index]
        if message.role == "assistant":
            later = normalized[index + 1 :]
            if any(m.role != "tool" for m in later):
                return ()
            answered = {m.tool_call_id for m in later}
            return tuple(c for c in message.tool_calls if c.id not in answered)
    return ()


@dataclass
class _Loop:
    """The state of one loop run; both drivers feed it replies and tool runs."""

    tools: dict[str, FunctionTool]
    max_turns: int
    opts: dict[str, Any]
    messages: list[dict[str, Any]]
    turns: int = 0
    usage: Usage = dataclasses.field(default_factory=dict)
    runs: list[ToolRun] = dataclasses.field(default_factory=list)

    @classmethod
    def start(
        cls,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Callable[..., Any] | FunctionTool],
        max_turns: int,
        opts: Mapping[str, Any],
    ) -> _Loop:
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise LLMInputError("max_turns must be a positive int")
        if "tools" in opts:
            raise LLMInputError("run_tools takes tools= once, as Python functions")
        table = prepare_tools(tools)
        given = dict(opts)
        return cls(table, max_turns, given, [dict(m) for m in messages])

    def chat_options(self) -> dict[str, Any]:
        """The options of the next model call: the tool specs, and tool_choice only at first."""
        opts = dict(self.opts)
        if self.turns > 0 and opts.get("tool_choice") not in (None, "auto", "none"):
            # A forced tool choice on every turn would never let the model answer.
            opts["tool_choice"] = "auto"
        opts["tools"] = [tool.spec for tool in self.tools.values()]
        return opts

    def add_reply(self, result: ChatResult) -> tuple[ToolCall, ...]:
        """Record one model reply; returns the calls it asks for (none: the loop is done)."""
        self.turns += 1
        self.usage = add_usage(self.usage, result.usage)
        if result.tool_calls:
            # to_message() keeps provider state (signed thinking) the next turn needs.
            self.messages.append(result.to_message())
        else:
            self.messages.append({"role": "assistant", "content": result.text})
        return result.tool_calls

    def add_runs(self, runs: Sequence[ToolRun]) -> None:
        self.runs.extend(runs)
        self.messages.extend(tool_message(run) for run in runs)

    def snapshot(self, result: ChatResult) -> ToolLoopResult:
        return ToolLoopResult(
            result,
            tuple(self.messages),
            self.turns,
            self.usage,
            tuple(self.runs),
        )

    def limit_error(self, result: ChatResult) -> ToolLoopLimitError:
        names = ", ".join(call.name for call in result.tool_calls)
        return ToolLoopLimitError(
            f"the model still asked for tools ({names}) after max_turns={self.max_turns} "
            "model calls; raise max_turns, or continue with "
            "run_tools_sync(err.loop.messages, tools=...)",
            self.snapshot(result),
        )


def _run_batch(
    tools: Mapping[str, FunctionTool],
    calls: Sequence[ToolCall],
    telemetry: TelemetrySettings | None = None,
) -> list[ToolRun]:
    """Run calls in parallel threads (inline for one), results in the order asked."""
    if len(calls) == 1:
        return [run_call(tools, calls[0], telemetry)]
    with ThreadPoolExecutor(min(len(calls), MAX_PARALLEL_TOOLS), "llm_context_tool") as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, run_call, tools, call, telemetry)
            for call in calls
        ]
        return [future.result() for future in futures]


# ------------------------------------------------------------------------------- the drivers


def run_tool_loop(
    client: SyncChat,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Callable[..., Any] | FunctionTool],
    max_turns: int = 8,
    *,
    telemetry: TelemetrySettings | None = None,
    **opts: Any,
) -> ToolLoopResult:
    """The blocking loop behind `LLMClient.run_tools_sync`."""
    loop = _Loop.start(messages, tools, max_turns, opts)
    with loop_span(telemetry):
        leftover = pending_calls(loop.messages)
        if leftover:
            loop.add_runs(_run_batch(loop.tools, leftover, telemetry))
        while True:
            result = client.chat_sync(loop.messages, **loop.chat_options())
            calls = loop.add_reply(result)
            if not calls:
                return loop.snapshot(result)
            if loop.turns >= loop.max_turns:
                raise loop.limit_error(result)
            loop.add_runs(_run_batch(loop.tools, calls, telemetry))


async def run_tool_loop_async(
    client: AsyncChat,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Callable[..., Any] | FunctionTool],
    max_turns: int = 8,
    *,
    telemetry: TelemetrySettings | None = None,
    **opts: Any,
) -> ToolLoopResult:
    """The async loop behind `LLMClient.run_tools`: `async def` tools run on this event loop."""
    import asyncio

    loop = _Loop.start(messages, tools, max_turns, opts)

    async def run_all(calls: Sequence[ToolCall]) -> list[ToolRun]:
        runs = (run_call_async(loop.tools, c, telemetry) for c in calls)
        return list(await asyncio.gather(*runs))

    with loop_span(telemetry):
        leftover = pending_calls(loop.messages)
        if leftover:
            loop.add_runs(await run_all(leftover))
        while True:
            result = await client.chat(loop.messages, **loop.chat_options())
            calls = loop.add_reply(result)
            if not calls:
                return loop.snapshot(result)
            if loop.turns >= loop.max_turns:
                raise loop.limit_error(result)
            loop.add_runs(await run_all(calls))
