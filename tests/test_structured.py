"""Structured output: option checks, strict transform, JSON extraction and validation."""

from __future__ import annotations

import pydantic
import pytest

from llm_context.contract.strict_schema import strict_schema
from llm_context.contract.structured import build_output_spec, parse_reply
from llm_context.errors import LLMInputError, LLMOutputError

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name"],
}


class Person(pydantic.BaseModel):
    name: str
    age: int


def test_strict_transform_closes_objects_and_requires_all() -> None:
    out = strict_schema(
        {
            "type": "object",
            "properties": {
                "a": {"type": "string"},
                "b": {"type": "object", "properties": {"c": {"type": "number"}}},
            },
            "required": ["a"],
        }
    )
    assert out["additionalProperties"] is False
    assert out["required"] == ["a", "b"]
    assert out["properties"]["b"]["type"] == ["object", "null"]
    assert out["properties"]["b"]["additionalProperties"] is False
    assert out["properties"]["b"]["required"] == ["c"]


def test_output_spec_from_pydantic() -> None:
    spec, cls = build_output_spec("json_schema", Person, "person", True)
    assert cls is Person and spec is not None
    assert spec.schema is not None and set(spec.schema["required"]) == {"name", "age"}
    value = parse_reply('{"name": "Ada", "age": 36}', spec, validate=True, model_cls=cls)
    assert value == Person(name="Ada", age=36)


@pytest.mark.parametrize(
    ("fmt", "schema", "needle"),
    [
        ("yaml", None, "output_format must be one of"),
        ("json_schema", None, "needs json_schema"),
        ("json_schema", {"type": "objekt"}, "not a valid JSON Schema"),
        ("json_schema", {"type": "array", "items": {}}, "object at the top level"),
        ("text", SCHEMA, "use output_format='json_schema'"),
        ("json_schema", "nope", "JSON Schema dict or a Pydantic"),
    ],
)
def test_bad_output_options(fmt: str, schema: object, needle: str) -> None:
    with pytest.raises(LLMInputError, match=needle):
        build_output_spec(fmt, schema, "output", True)


def test_extracts_json_from_fences_and_prose() -> None:
    spec, _ = build_output_spec("json_schema", SCHEMA, "p", False)
    assert spec is not None
    text = 'Sure! Here it is:\n```json\n{"name": "Ada"}\n```'
    assert parse_reply(text, spec, validate=True, model_cls=None) == {"name": "Ada"}


def test_validation_failure_carries_text_and_errors() -> None:
    spec, _ = build_output_spec("json_schema", SCHEMA, "p", True)
    assert spec is not None
    with pytest.raises(LLMOutputError) as info:
        parse_reply('{"name": 3}', spec, validate=True, model_cls=None)
    assert info.value.text == '{"name": 3}'
    assert any("name" in e for e in info.value.errors)
    with pytest.raises(LLMOutputError, match="not valid JSON"):
        parse_reply("no json here", spec, validate=True, model_cls=None)
    # validate_json=False decodes without checking, and never raises
    assert parse_reply('{"name": 3}', spec, validate=False, model_cls=None) == {"name": 3}
    assert parse_reply("no json here", spec, validate=False, model_cls=None) is None


def test_json_object_must_be_object() -> None:
    spec, _ = build_output_spec("json_object", None, "output", True)
    assert spec is not None and spec.kind == "json_object"
    with pytest.raises(LLMOutputError, match="not an object"):
        parse_reply("[1, 2]", spec, validate=True, model_cls=None)


def test_strict_transform_handles_enums_and_boolean_subschemas() -> None:
    import jsonschema

    out = strict_schema(
        {
            "type": "object",
            "properties": {
                "color": {"type": "string", "enum": ["red", "blue"]},
                "anything": True,
            },
        }
    )
    assert out["properties"]["color"] == {"type": ["string", "null"], "enum": ["red", "blue", None]}
    assert out["properties"]["anything"] is True
    jsonschema.validate({"color": None, "anything": 3}, out)
    jsonschema.validate({"color": "red", "anything": None}, out)


def test_strict_transform_does_not_double_wrap_optional_unions() -> None:
    class P(pydantic.BaseModel):
        name: str
        nickname: str | None = None
        age: int | str = 0

    props = strict_schema(P.model_json_schema())["properties"]
    assert props["nickname"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["age"]["anyOf"] == [{"type": "integer"}, {"type": "string"}, {"type": "null"}]
