"""The tool loop: Python functions as tool specs, and run_tools over every provider with tools.

Each loop test drives the real SDK against the fake server with scripted replies and checks
what the model was sent back (the tool results, in the provider's own wire format).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import threading
import warnings
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import pydantic
import pytest

from llm_context import LLMContext, LLMInputError
from llm_context.function_tools import function_tool, parse_docstring
from llm_context.testing import FakeProviderServer, Reply, ToolCallReply
from llm_context.tool_loop import ToolLoopLimitError, encode_output, pending_calls

from .conftest import built_providers

PROVIDERS = built_providers()
ASK = [{"role": "user", "content": "What is the weather in Oslo?"}]


def strings_in(value: Any) -> Iterator[str]:
    """Every string anywhere in a decoded JSON body (wire formats nest results differently)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def values_in(value: Any) -> Iterator[Any]:
    """Every value anywhere in a decoded JSON body, containers included."""
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from values_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from values_in(item)


def sent_text(fake: FakeProviderServer, index: int) -> str:
    return "\n".join(strings_in(fake.requests_for("chat")[index].json))


def sent_result(fake: FakeProviderServer, index: int, output: str) -> bool:
    """Whether request `index` carried a tool's output: as text, or (Gemini) as decoded JSON."""
    body = fake.requests_for("chat")[index].json
    decoded = json.loads(output)
    return any(v in (output, decoded) for v in values_in(body))


# -- functions as tool specs ---------------------------------------------------------------


class Unit(enum.Enum):
    CELSIUS = "C"
    FAHRENHEIT = "F"


class Address(pydantic.BaseModel):
    street: str
    city: str


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


def test_scalar_types_and_google_docstring() -> None:
    def get_weather(city: str, days: int, threshold: float, metric: bool = True) -> str:
        """Current weather for a city.

        Args:
            city: The city name,
                e.g. "Oslo".
            days (int): How many days ahead.
            threshold: Rain threshold.
        """
        return ""

    spec = function_tool(get_weather).spec
    assert spec.name == "get_weather"
    assert spec.description == "Current weather for a city."
    assert spec.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": 'The city name, e.g. "Oslo".'},
            "days": {"type": "integer", "description": "How many days ahead."},
            "threshold": {"type": "number", "description": "Rain threshold."},
            "metric": {"type": "boolean", "default": True},
        },
        "required": ["city", "days", "threshold"],
    }


def test_containers_literals_enums_and_optional() -> None:
    def plan(
        stops: list[str],
        weights: dict[str, float],
        mode: Literal["car", "bike"],
        unit: Unit = Unit.CELSIUS,
        note: str | None = None,
        limit: int | None = 3,
        label: Annotated[str, "Shown on the map"] = "trip",
    ) -> None:
        """Plan a trip."""

    props = function_tool(plan).spec.parameters["properties"]
    assert props["stops"] == {"type": "array", "items": {"type": "string"}}
    assert props["weights"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["mode"] == {"type": "string", "enum": ["car", "bike"]}
    assert props["unit"] == {"type": "string", "enum": ["C", "F"], "default": "C"}
    assert props["note"] == {"type": "string"}  # None default: optional, not nullable
    assert props["limit"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 3}
    assert props["label"] == {
        "type": "string",
        "description": "Shown on the map",
        "default": "trip",
    }
    assert function_tool(plan).spec.parameters["required"] == ["stops", "weights", "mode"]


def test_pydantic_and_dataclass_parameters_are_converted_back() -> None:
    seen: dict[str, Any] = {}

    def ship(to: Address, at: Point, unit: Unit) -> str:
        """Ship a parcel."""
        seen.update(to=to, at=at, unit=unit)
        return "ok"

    tool = function_tool(ship)
    props = tool.spec.parameters["properties"]
    assert props["to"]["properties"]["street"]["type"] == "string"
    assert props["at"] == {
        "type": "object",
        "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
        "required": ["x"],
    }
    assert tool(to={"street": "Karl Johans gate 1", "city": "Oslo"}, at={"x": 1}, unit="F") == "ok"
    assert seen == {
        "to": Address(street="Karl Johans gate 1", city="Oslo"),
        "at": Point(1.0, 0.0),
        "unit": Unit.FAHRENHEIT,
    }


class Parcel(pydantic.BaseModel):
    to: Address
    weight_kg: float


def test_nested_pydantic_defs_are_hoisted_to_the_root() -> None:
    def send(parcel: Parcel) -> None:
        """Send it."""

    params = function_tool(send).spec.parameters
    assert "Address" in params["$defs"]
    assert "$defs" not in params["properties"]["parcel"]


def test_numpy_and_sphinx_docstrings() -> None:
    numpy_doc = """Add two numbers.

    Parameters
    ----------
    a : int
        The first.
    b : int
        The second,
        continued.

    Returns
    -------
    int
    """
    assert parse_docstring(numpy_doc) == (
        "Add two numbers.",
        {"a": "The first.", "b": "The second, continued."},
    )
    sphinx_doc = """Add.

    :param a: The first.
    :param int b: The second.
    :returns: the sum
    """
    assert parse_docstring(sphinx_doc) == ("Add.", {"a": "The first.", "b": "The second."})


def test_name_and_description_overrides() -> None:
    def f(x: int) -> int:
        """Ignored."""
        return x

    spec = function_tool(f, name="double", description="Double a number.").spec
    assert (spec.name, spec.description) == ("double", "Double a number.")


@pytest.mark.parametrize(
    ("func", "problem"),
    [
        (lambda *args: None, "tool name '<lambda>'"),
        (print, "positional-only|\\*args"),
    ],
)
def test_functions_that_cannot_be_described_fail_clearly(func: Any, problem: str) -> None:
    with pytest.raises(LLMInputError, match=problem):
        function_tool(func)


def test_unsupported_annotation_names_the_parameter() -> None:
    def f(when: threading.Event) -> None:
        """Nope."""

    with pytest.raises(LLMInputError, match="tool 'f', parameter 'when'"):
        function_tool(f)


def test_results_are_json_encoded_unless_text() -> None:
    assert encode_output("plain") == "plain"
    assert encode_output({"temp": 18}) == '{"temp": 18}'
    assert encode_output(Point(1, 2)) == '{"x": 1, "y": 2}'
    assert encode_output(Address(street="a", city="b")) == '{"street":"a","city":"b"}'
    assert encode_output(None) == "null"


def test_pending_calls_finds_unanswered_calls_of_the_last_assistant_turn() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    other = {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
    messages: list[dict[str, Any]] = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call, other]},
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    assert [c.id for c in pending_calls(messages)] == ["c2"]
    assert pending_calls(ASK) == ()


# -- the loop on every provider ----------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_one_call_then_the_answer(provider: str, fake: FakeProviderServer, ctx: LLMContext) -> None:
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """Current weather for a city."""
        calls.append(city)
        return "18C and sunny"

    fake.script(Reply.tool_call("get_weather", {"city": "Oslo"}), Reply("It is 18C in Oslo."))
    loop = ctx.llm(provider).run_tools_sync(ASK, tools=[get_weather])

    assert loop.text == "It is 18C in Oslo."
    assert calls == ["Oslo"]
    assert loop.turns == 2
    assert [m["role"] for m in loop.messages] == ["user", "assistant", "tool", "assistant"]
    call = loop.messages[1]["tool_calls"][0]
    assert loop.messages[2] == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": "18C and sunny",
    }
    # The fake reports 10 input tokens per call: the loop's usage sums both calls.
    assert loop.result.usage["input_tokens"] == 10
    assert loop.usage["input_tokens"] == 20
    # The model was sent the tool spec both times, and the result the second time.
    assert all("get_weather" in sent_text(fake, i) for i in (0, 1))
    assert "18C and sunny" in sent_text(fake, 1)
    assert "18C and sunny" not in sent_text(fake, 0)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_parallel_calls_run_at_once(
    provider: str, fake: FakeProviderServer, ctx: LLMContext
) -> None:
    # Each call waits for the other: run one after the other, they would break the barrier.
    barrier = threading.Barrier(2, timeout=10)

    def temperature(city: str) -> dict[str, Any]:
        """Temperature of a city."""
        barrier.wait()
        return {"city": city, "celsius": 18 if city == "Oslo" else 21}

    fake.script(
        Reply(
            tool_calls=(
                ToolCallReply("temperature", {"city": "Oslo"}),
                ToolCallReply("temperature", {"city": "Rome"}),
            )
        ),
        Reply("Rome is warmer."),
    )
    loop = ctx.llm(provider).run_tools_sync(ASK, tools=[temperature])

    assert loop.text == "Rome is warmer."
    assert [run.error for run in loop.tool_runs] == [False, False]
    assert [m["content"] for m in loop.messages if m["role"] == "tool"] == [
        '{"city": "Oslo", "celsius": 18}',
        '{"city": "Rome", "celsius": 21}',
    ]
    assert sent_result(fake, 1, '{"city": "Oslo", "celsius": 18}')
    assert sent_result(fake, 1, '{"city": "Rome", "celsius": 21}')


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_raising_function_sends_the_error_to_the_model(
    provider: str, fake: FakeProviderServer, ctx: LLMContext
) -> None:
    def lookup(code: str) -> str:
        """Look up an airport code."""
        raise KeyError(f"unknown airport {code}")

    fake.script(
        Reply.tool_call("lookup", {"code": "XXX"}),
        Reply.tool_call("no_such_tool", {}),
        Reply("Sorry, I could not find it."),
    )
    loop = ctx.llm(provider).run_tools_sync(ASK, tools=[lookup])

    assert loop.text == "Sorry, I could not find it."
    assert [run.error for run in loop.tool_runs] == [True, True]
    assert "Error: lookup raised KeyError: 'unknown airport XXX'" in sent_text(fake, 1)
    assert "there is no tool named 'no_such_tool'; use one of: lookup" in sent_text(fake, 2)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_max_turns_raises_and_the_transcript_resumes(
    provider: str, fake: FakeProviderServer, ctx: LLMContext
) -> None:
    runs: list[int] = []

    def step(n: int) -> str:
        """Take a step."""
        runs.append(n)
        return f"step {n} done"

    fake.script(Reply.tool_call("step", {"n": 1}), Reply.tool_call("step", {"n": 2}))
    llm = ctx.llm(provider)
    with pytest.raises(ToolLoopLimitError, match="max_turns=2") as caught:
        llm.run_tools_sync(ASK, tools=[step], max_turns=2)
    partial = caught.value.loop
    assert runs == [1]  # the calls of the last reply were not run
    assert partial.turns == 2
    assert partial.messages[-1]["role"] == "assistant"
    assert partial.messages[-1]["tool_calls"][0]["function"]["name"] == "step"

    fake.script(Reply("All steps done."))
    loop = llm.run_tools_sync(partial.messages, tools=[step])
    assert runs == [1, 2]
    assert loop.text == "All steps done."
    assert loop.turns == 1
    assert "step 2 done" in sent_text(fake, 2)


def test_sync_loop_runs_async_tools_under_a_running_loop(
    fake: FakeProviderServer, ctx: LLMContext
) -> None:
    # As in Jupyter: blocking run_tools_sync from a thread whose event loop is running.
    async def lookup(city: str) -> str:
        """Look up the weather."""
        await asyncio.sleep(0)
        return f"sunny in {city}"

    fake.script(Reply.tool_call("lookup", {"city": "Oslo"}), Reply("done"))

    async def main() -> Any:
        return ctx.llm("openai").run_tools_sync(ASK, tools=[lookup])

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a coroutine never awaited would warn
        loop = asyncio.run(main())
    assert [(run.output, run.error) for run in loop.tool_runs] == [("sunny in Oslo", False)]
    assert "sunny in Oslo" in sent_text(fake, 1)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_async_loop_awaits_async_tools(
    provider: str, fake: FakeProviderServer, ctx: LLMContext
) -> None:
    async def fetch(url: str) -> str:
        """Fetch a page."""
        await asyncio.sleep(0)
        return f"<html>{url}</html>"

    def count(text: str) -> int:
        """Count characters."""
        return len(text)

    fake.script(
        Reply(
            tool_calls=(
                ToolCallReply("fetch", {"url": "a.html"}),
                ToolCallReply("count", {"text": "abc"}),
            )
        ),
        Reply("Fetched and counted."),
    )

    async def main() -> Any:
        return await ctx.llm(provider).run_tools(ASK, tools=[fetch, count])

    loop = asyncio.run(main())
    assert loop.text == "Fetched and counted."
    assert [run.output for run in loop.tool_runs] == ["<html>a.html</html>", "3"]
    assert "<html>a.html</html>" in sent_text(fake, 1)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_structured_final_answer(provider: str, fake: FakeProviderServer, ctx: LLMContext) -> None:
    def population(city: str) -> int:
        """Population of a city."""
        return 709_000

    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    fake.script(
        Reply.tool_call("population", {"city": "Oslo"}),
        Reply.json({"city": "Oslo", "population": 709000}),
    )
    loop = ctx.llm(provider).run_tools_sync(
        ASK, tools=[population], output_format="json_schema", json_schema=schema
    )
    assert loop.parsed == {"city": "Oslo", "population": 709000}


def test_forced_tool_choice_applies_to_the_first_turn_only(
    fake: FakeProviderServer, ctx: LLMContext
) -> None:
    def ping() -> str:
        """Ping."""
        return "pong"

    fake.script(Reply.tool_call("ping"), Reply("pong it is"))
    ctx.llm("openai").run_tools_sync(ASK, tools=[ping], tool_choice="required")
    first, second = (r.json for r in fake.requests_for("chat"))
    assert first["tool_choice"] == "required"
    assert second["tool_choice"] == "auto"


def test_bad_arguments_fail_before_sending(fake: FakeProviderServer, ctx: LLMContext) -> None:
    llm = ctx.llm("openai")
    with pytest.raises(LLMInputError, match="non-empty list of functions"):
        llm.run_tools_sync(ASK, tools=[])
    with pytest.raises(LLMInputError, match="Python functions themselves"):
        llm.run_tools_sync(ASK, tools=[{"name": "f"}])  # type: ignore[list-item]
    with pytest.raises(LLMInputError, match="max_turns"):
        llm.run_tools_sync(ASK, tools=[print], max_turns=0)
    assert fake.requests == []


def test_tuples_and_sets_round_trip() -> None:
    seen: list[Any] = []

    def place(at: tuple[int, float], tags: tuple[str, ...], ids: set[int]) -> None:
        """Place a marker."""
        seen.extend((at, tags, ids))

    tool = function_tool(place)
    props = tool.spec.parameters["properties"]
    assert props["at"] == {
        "type": "array",
        "items": {"anyOf": [{"type": "integer"}, {"type": "number"}]},
        "minItems": 2,
        "maxItems": 2,
    }
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    tool(at=[1, 2], tags=["a"], ids=[3, 3, 4])
    assert seen == [(1, 2.0), ("a",), {3, 4}]
    assert isinstance(seen[0][1], float)


def test_thinking_survives_the_loop_on_anthropic(fake: FakeProviderServer, ctx: LLMContext) -> None:
    """Anthropic rejects a tool follow-up without the signed thinking block (so does the fake):
    the loop appends `result.to_message()`, which carries it."""

    def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    fake.script(
        Reply.tool_call("get_weather", {"city": "Oslo"}, reasoning="I should look it up."),
        Reply("Sunny in Oslo."),
    )
    loop = ctx.llm("anthropic").run_tools_sync(
        [{"role": "user", "content": "Weather in Oslo?"}],
        tools=[get_weather],
        reasoning_effort="low",
    )
    assert loop.text == "Sunny in Oslo."
    follow_up = fake.last_request.json
    assistant = follow_up["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0]["type"] == "thinking"
    assert assistant["content"][0]["signature"]
