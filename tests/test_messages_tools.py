"""Message and tool normalisation: every bad input is an LLMInputError that names the problem."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from llm_context.contract.messages import ImagePart, TextPart, normalize_messages
from llm_context.contract.strict_schema import strict_schema
from llm_context.contract.tools import ToolCall, normalize_tool_choice, normalize_tools
from llm_context.errors import LLMInputError

PNG = "data:image/png;base64,iVBORw0KGgo="


def test_plain_and_part_messages_normalise() -> None:
    msgs = normalize_messages(
        [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
                ],
            },
        ]
    )
    assert msgs[0].parts == (TextPart("be brief"),)
    assert msgs[1].parts[1] == ImagePart(PNG, "low")
    assert msgs[1].parts[1].media_type == "image/png"  # type: ignore[union-attr]


def test_tool_round_trip_messages() -> None:
    msgs = normalize_messages(
        [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "w", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ]
    )
    assert msgs[1].tool_calls == (ToolCall("c1", "w", {"city": "Oslo"}),)
    assert msgs[2].tool_call_id == "c1"


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ([], "empty"),
        ("hello", "must be a list"),
        ({"role": "user"}, "must be a list"),
        ([{"role": "robot", "content": "x"}], "unknown role 'robot'"),
        ([{"role": "user", "content": 5}], "messages[0].content must be a string"),
        ([{"role": "user", "content": [{"type": "audio"}]}], "unknown part type 'audio'"),
        ([{"role": "user", "content": ""}], "messages[0]: content is missing"),
        ([{"role": "user"}], "content is missing"),
        ([{"role": "tool", "content": "x"}], "tool_call_id"),
        ([{"role": "tool", "content": "x", "tool_call_id": "nope"}], "answers no earlier"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}],
            "https://",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,%%%"}}
                    ],
                }
            ],
            "base64",
        ),
        (
            [{"role": "assistant", "content": [{"type": "image_url", "image_url": PNG}]}],
            "only allowed in user",
        ),
        (["hi"], "must be a dict"),
    ],
)
def test_bad_messages_are_named(messages: Any, needle: str) -> None:
    with pytest.raises(LLMInputError) as info:
        normalize_messages(messages)
    assert needle in str(info.value)


def test_tools_both_shapes_and_choice() -> None:
    tools = normalize_tools(
        [
            {"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}},
            {
                "name": "b",
                "description": "flat",
                "parameters": {"type": "object", "properties": {}},
            },
        ]
    )
    assert [t.name for t in tools] == ["a", "b"]
    assert normalize_tool_choice("b", tools) is not None
    assert normalize_tool_choice({"type": "function", "function": {"name": "a"}}, tools).name == "a"  # type: ignore[union-attr]
    with pytest.raises(LLMInputError, match="not among the tools"):
        normalize_tool_choice("zzz", tools)
    with pytest.raises(LLMInputError, match="no tools"):
        normalize_tool_choice("required", ())


def test_strict_tool_parameters_are_derived_once() -> None:
    params = {"type": "object", "properties": {"q": {"type": "string"}}}
    strict, loose = normalize_tools(
        [{"name": "a", "parameters": params, "strict": True}, {"name": "b", "parameters": params}]
    )
    assert strict.strict_parameters == strict_schema(params)
    assert strict.parameters == params  # the caller's schema is kept as given
    assert loose.strict_parameters is None
    assert replace(loose, strict=True).strict_parameters == strict_schema(params)
    assert replace(strict, strict=False).strict_parameters is None
    assert "strict_parameters" not in repr(strict)


@pytest.mark.parametrize(
    ("tools", "needle"),
    [
        ([{"type": "function", "function": {}}], "missing 'name'"),
        ([{"name": "a"}, {"name": "a"}], "duplicate"),
        ([{"name": "a", "parameters": {"type": "string"}}], "type object"),
        ([{"type": "web_search"}], "only function tools"),
        ("tool", "must be a list"),
    ],
)
def test_bad_tools(tools: Any, needle: str) -> None:
    with pytest.raises(LLMInputError, match=needle):
        normalize_tools(tools)


def test_provider_state_round_trips_through_to_message() -> None:
    from llm_context.contract.results import ChatResult

    state = {"anthropic": {"thinking": [{"type": "thinking", "signature": "sig"}]}}
    result = ChatResult(
        "", {}, tool_calls=(ToolCall("c1", "w", {"city": "Oslo"}),), provider_state=state
    )
    message = result.to_message()
    assert message["provider_state"] == state and message["content"] is None
    msgs = normalize_messages([{"role": "user", "content": "hi"}, message])
    assert msgs[1].provider_state == state
    assert msgs[1].tool_calls == result.tool_calls
    with pytest.raises(LLMInputError, match="only on assistant"):
        normalize_messages([{"role": "user", "content": "hi", "provider_state": state}])
    plain = ChatResult("hello", {}).to_message()
    assert plain == {"role": "assistant", "content": "hello"}


def test_empty_turns_are_handled_the_same_for_every_provider() -> None:
    with pytest.raises(LLMInputError, match="no user message"):
        normalize_messages([{"role": "system", "content": "be brief"}])
    with pytest.raises(LLMInputError, match="content is missing or empty"):
        normalize_messages([{"role": "user", "content": [{"type": "text", "text": ""}]}])
    msgs = normalize_messages(
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": ""},  # an empty reply appended back
            {"role": "user", "content": ["", {"type": "text", "text": "again"}]},
        ]
    )
    assert [m.role for m in msgs] == ["user", "user"]
    assert msgs[1].parts == (TextPart("again"),)
    tool = normalize_messages(
        [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c", "content": ""},  # an empty result is real
        ]
    )
    assert tool[2].parts == (TextPart(""),)
