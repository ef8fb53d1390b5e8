"""Anthropic structured outputs and strict tools: every JSON schema a user may pass is sent in
the subset the API takes (the SDK's transform of its typed form), or refused before sending.

Strict mode (the default) makes optional properties nullable (`"type": [X, "null"]`), which
the SDK's transform cannot handle by itself. Everything goes through the real SDK over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from llm_context import LLMContext, LLMInputError, LLMOutputError
from llm_context.providers.anthropic.schema import api_schema
from llm_context.testing import FakeProviderServer, Reply, ToolCallReply

from .conftest import FAST_RETRY

HELLO = [{"role": "user", "content": "Hello"}]

OPTIONAL = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "nick": {"type": "string", "maxLength": 8}},
    "required": ["name"],
}
NESTED = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "address": {
            "type": "object",
            "description": "Where they live",
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
            "required": ["city"],
        },
    },
    "required": ["name"],
}
ARRAY_OF_OPTIONALS = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"n": {"type": "integer"}, "note": {"type": "string"}},
                "required": ["n"],
            },
        }
    },
    "required": ["items"],
}
ENUMS_WITH_NULL = {
    "type": "object",
    "properties": {
        "color": {"enum": ["red", "green", None]},
        "size": {"type": ["string", "null"], "enum": ["S", "M", None]},
        "shade": {"type": "string", "enum": ["light", "dark"]},
    },
    "required": ["color", "size"],
}
SCHEMAS = {
    "optional": OPTIONAL,
    "nested-optional-object": NESTED,
    "array-of-optional-fields": ARRAY_OF_OPTIONALS,
    "enums-with-null": ENUMS_WITH_NULL,
}


@pytest.fixture
def ctx(fake: FakeProviderServer) -> Iterator[LLMContext]:
    settings = {"model": "claude-haiku-4-5", "retry": FAST_RETRY}
    with LLMContext(fake.profiles(anthropic=settings)) as context:
        yield context


def sent(fake: FakeProviderServer) -> dict[str, Any]:
    body = fake.last_request.json
    assert isinstance(body, dict)
    return body


def types_in(node: Any) -> list[Any]:
    """Every `type` value anywhere in a schema."""
    if isinstance(node, list):
        return [t for item in node for t in types_in(item)]
    if not isinstance(node, dict):
        return []
    own = [node["type"]] if "type" in node else []
    return own + [t for value in node.values() for t in types_in(value)]


def objects_in(node: Any) -> list[dict[str, Any]]:
    """Every object-typed node anywhere in a schema."""
    if isinstance(node, list):
        return [o for item in node for o in objects_in(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if node.get("type") == "object" else []
    return own + [o for value in node.values() for o in objects_in(value)]


def assert_api_form(schema: dict[str, Any]) -> None:
    """One type per node, as the SDK's transform wants, and every object closed."""
    assert types_in(schema), schema
    assert all(isinstance(t, str) for t in types_in(schema)), schema
    assert all(node["additionalProperties"] is False for node in objects_in(schema)), schema


@pytest.mark.parametrize("schema", SCHEMAS.values(), ids=SCHEMAS.keys())
def test_output_schema_is_sent_typed_and_the_reply_validates(
    ctx: LLMContext, fake: FakeProviderServer, schema: dict[str, Any]
) -> None:
    # Nothing scripted: the fake answers an instance of the schema it received.
    result = ctx.llm("anthropic").chat_sync(HELLO, output_format="json_schema", json_schema=schema)
    assert isinstance(result.parsed, dict)
    assert set(schema["required"]) <= set(result.parsed)
    sent_schema = sent(fake)["output_config"]["format"]["schema"]
    assert_api_form(sent_schema)
    assert not fake.errors


def test_optional_property_becomes_an_any_of_with_null(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply(json.dumps({"name": "Ada", "nick": None})))
    llm = ctx.llm("anthropic")
    result = llm.chat_sync(HELLO, output_format="json_schema", json_schema=OPTIONAL)
    # Strict mode made `nick` nullable on the wire; for the caller's schema it is left out.
    assert result.parsed == {"name": "Ada"}
    schema = sent(fake)["output_config"]["format"]["schema"]
    assert schema["required"] == ["name", "nick"]  # strict: all required, optional -> nullable
    assert schema["additionalProperties"] is False
    nick = schema["properties"]["nick"]
    assert nick["anyOf"][0]["type"] == "string"
    assert "maxLength: 8" in nick["anyOf"][0]["description"]  # the transform's move
    assert nick["anyOf"][1] == {"type": "null"}
    # The client still validates against the schema the user asked for.
    fake.script(Reply(json.dumps({"name": "Ada", "nick": "far too long a nick"})))
    with pytest.raises(LLMOutputError, match="nick"):
        llm.chat_sync(HELLO, output_format="json_schema", json_schema=OPTIONAL)


def test_nested_optional_object_keeps_its_keywords_in_the_object_branch(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    fake.script(Reply(json.dumps({"name": "Ada", "address": None})))
    result = ctx.llm("anthropic").chat_sync(HELLO, output_format="json_schema", json_schema=NESTED)
    assert result.parsed == {
        "name": "Ada"
    }  # the wire's null: left out, as the caller's schema has it
    address = sent(fake)["output_config"]["format"]["schema"]["properties"]["address"]
    assert address["description"] == "Where they live"
    obj, null = address["anyOf"]
    assert null == {"type": "null"}
    assert obj["type"] == "object" and obj["additionalProperties"] is False
    assert obj["required"] == ["city", "zip"]
    assert obj["properties"]["zip"]["anyOf"][1] == {"type": "null"}


def test_enums_with_null_keep_their_literals(ctx: LLMContext, fake: FakeProviderServer) -> None:
    fake.script(Reply(json.dumps({"color": None, "size": "M", "shade": "dark"})))
    result = ctx.llm("anthropic").chat_sync(
        HELLO, output_format="json_schema", json_schema=ENUMS_WITH_NULL
    )
    assert result.parsed == {"color": None, "size": "M", "shade": "dark"}
    props = sent(fake)["output_config"]["format"]["schema"]["properties"]
    assert props["color"] == {"enum": ["red", "green", None]}
    assert props["size"] == {"enum": ["S", "M", None]}
    # Strict mode makes an optional enum nullable in both `type` and `enum`: null is offered.
    assert props["shade"] == {"enum": ["light", "dark", None]}


class Address(BaseModel):
    city: str
    zip: str | None = None


class Person(BaseModel):
    name: str
    tags: list[str] = []
    home: Address | None = None


def test_pydantic_model_with_optionals_and_defs(ctx: LLMContext, fake: FakeProviderServer) -> None:
    result = ctx.llm("anthropic").chat_sync(HELLO, output_format="json_schema", json_schema=Person)
    assert isinstance(result.parsed, Person)
    schema = sent(fake)["output_config"]["format"]["schema"]
    assert_api_form(schema)
    assert schema["$defs"]["Address"]["additionalProperties"] is False


def test_type_list_given_without_strict_mode(ctx: LLMContext, fake: FakeProviderServer) -> None:
    schema = {
        "type": "object",
        "properties": {"v": {"type": ["integer", "string"], "minimum": 0, "maxLength": 3}},
        "required": ["v"],
    }
    fake.script(Reply(json.dumps({"v": "abc"})))
    result = ctx.llm("anthropic").chat_sync(
        HELLO, output_format="json_schema", json_schema=schema, strict_schema=False
    )
    assert result.parsed == {"v": "abc"}
    integer, string = sent(fake)["output_config"]["format"]["schema"]["properties"]["v"]["anyOf"]
    # Each branch keeps the constraints of its own type (moved into its description).
    assert integer["type"] == "integer" and "minimum: 0" in integer["description"]
    assert string["type"] == "string" and "maxLength: 3" in string["description"]
    assert "maxLength" not in integer.get("description", "")


@pytest.mark.parametrize("schema", SCHEMAS.values(), ids=SCHEMAS.keys())
def test_strict_tool_parameters_are_sent_typed(
    ctx: LLMContext, fake: FakeProviderServer, schema: dict[str, Any]
) -> None:
    # A strict tool's parameters as OpenAI-style strict mode writes them: all nullable.
    nullable = json.loads(
        json.dumps(schema).replace('{"type": "string"', '{"type": ["string", "null"]')
    )
    tool = {"name": "save", "parameters": nullable, "strict": True}
    fake.script(Reply(tool_calls=(ToolCallReply("save", {"ok": 1}),)))
    result = ctx.llm("anthropic").chat_sync(HELLO, tools=[tool])
    assert result.tool_calls[0].arguments == {"ok": 1}
    (sent_tool,) = sent(fake)["tools"]
    assert sent_tool["strict"] is True
    assert_api_form(sent_tool["input_schema"])
    assert sent_tool["input_schema"]["additionalProperties"] is False


def test_non_strict_tool_parameters_are_sent_as_given(
    ctx: LLMContext, fake: FakeProviderServer
) -> None:
    params = {"type": "object", "properties": {"x": {"type": ["string", "null"]}}}
    fake.script(Reply("ok"))
    ctx.llm("anthropic").chat_sync(HELLO, tools=[{"name": "save", "parameters": params}])
    assert sent(fake)["tools"][0]["input_schema"] == params


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"type": "object", "properties": {"x": {}}}, "at /properties/x"),
        ({"type": "object", "properties": {"x": True}}, "at /properties/x"),
        ({"type": "object", "properties": {"x": {"type": "date"}}}, "unknown type 'date'"),
        (
            {"type": "object", "properties": {"x": {"type": "array", "items": {"not": {}}}}},
            "at /properties/x/items",
        ),
    ],
    ids=["untyped", "true-schema", "unknown-type", "untyped-items"],
)
def test_untypable_schema_is_refused_before_sending(
    ctx: LLMContext, fake: FakeProviderServer, schema: dict[str, Any], where: str
) -> None:
    llm = ctx.llm("anthropic")
    with pytest.raises(LLMInputError, match="tool 'save' parameters") as info:
        llm.chat_sync(HELLO, tools=[{"name": "save", "parameters": schema, "strict": True}])
    assert where in str(info.value)
    if "unknown type" not in where:  # not a valid JSON schema: the shared check catches it
        with pytest.raises(LLMInputError, match="json_schema") as info:
            llm.chat_sync(
                HELLO, output_format="json_schema", json_schema=schema, strict_schema=False
            )
        assert where in str(info.value)
    assert fake.requests == []


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": ["object", "null"], "anyOf": []}}},
        {"type": "object", "properties": {"a": {"type": ["string", "null"], "oneOf": [{}]}}},
        {"properties": {"a": {"items": [{"type": "string"}], "type": "array"}}},
        {"type": "object", "properties": {"a": {"type": "array", "items": True}}},
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {}}},
        {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
        {"type": "object", "properties": {"a": {"type": ["string", "null", "string"]}}},
        {"type": "object", "properties": {"a": {"enum": [{"x": 1}], "type": ["object", "null"]}}},
    ],
)
def test_api_schema_raises_nothing_but_input_errors(schema: dict[str, Any]) -> None:
    """Odd but valid schemas: sent in API form, or refused with a named LLMInputError (never
    the SDK transform's AssertionError / ValueError / TypeError)."""
    try:
        out = api_schema(schema, "json_schema")
    except LLMInputError as exc:
        assert "json_schema at" in str(exc)
    else:
        assert all(isinstance(t, str) for t in types_in(out))
