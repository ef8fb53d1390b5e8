"""Structured output: the output spec from chat options, the strict-schema transform,
JSON extraction from replies, and `jsonschema` validation."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ..errors import LLMInputError, LLMOutputError
from .request import OutputSpec
from .strict_schema import strict_schema
from .text_check import check_tree

__all__ = [
    "build_output_spec",
    "json_instruction",
    "parse_reply",
    "strict_schema",
]

_FORMATS = ("text", "json", "json_object", "json_schema", "raw")


def _schema_from(json_schema: Any) -> tuple[dict[str, Any], type[Any] | None]:
    """A dict schema, plus the Pydantic model class when one was given."""
    model_json_schema = getattr(json_schema, "model_json_schema", None)
    if isinstance(json_schema, type) and callable(model_json_schema):
        return dict(model_json_schema()), json_schema
    if isinstance(json_schema, Mapping):
        return copy.deepcopy(dict(json_schema)), None
    raise LLMInputError(
        "json_schema must be a JSON Schema dict or a Pydantic model class, "
        f"got {type(json_schema).__name__}"
    )


def _check_schema(schema: Mapping[str, Any]) -> None:
    import jsonschema  # deferred: only JSON-output calls pay for it

    try:
        validator = jsonschema.validators.validator_for(schema)
        validator.check_schema(dict(schema))
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise LLMInputError(
            f"json_schema is not a valid JSON Schema at {where}: {exc.message}"
        ) from exc
    if schema.get("type", "object") != "object" and "properties" not in schema:
        raise LLMInputError(
            "json_schema must describe an object at the top level ('type': 'object'); "
            "wrap a list or scalar in an object property"
        )


def build_output_spec(
    output_format: str,
    json_schema: Any,
    schema_name: str,
    strict_schema_flag: bool,
) -> tuple[OutputSpec | None, type[Any] | None]:
    """Validate the JSON options of a chat call; returns the spec and any Pydantic class."""
    if output_format not in _FORMATS:
        raise LLMInputError(
            f"output_format must be one of {', '.join(_FORMATS)}, got {output_format!r}"
        )
    if output_format in ("text", "raw"):
        if json_schema is not None:
            raise LLMInputError(
                f"json_schema was given with output_format={output_format!r}; "
                "use output_format='json_schema'"
            )
        return None, None
    if output_format == "json_object" or (output_format == "json" and json_schema is None):
        return OutputSpec("json_object"), None
    if json_schema is None:
        raise LLMInputError(
            "output_format='json_schema' needs json_schema=<dict or Pydantic model>"
        )
    if not isinstance(schema_name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", schema_name):
        raise LLMInputError("schema_name must be 1-64 letters, digits, '_' or '-'")
    schema, model_cls = _schema_from(json_schema)
    check_tree(schema, "json_schema")
    _check_schema(schema)
    sent = strict_schema(schema) if strict_schema_flag else schema
    # Replies are checked against the caller's schema; the strict transform is only sent.
    return OutputSpec("json_schema", sent, schema_name, strict_schema_flag, schema), model_cls


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def _extract_json(text: str) -> Any:
    """Decode JSON from a reply, tolerating code fences and prose around one object."""
    candidates = [text.strip()]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start >= 0:
        candidates.append(text[start:])
    decoder = json.JSONDecoder()
    last_error = "empty reply"
    for candidate in candidates:
        if not candidate:
            continue
        try:
            value, _end = decoder.raw_decode(candidate)
            return value
        except json.JSONDecodeError as exc:
            last_error = str(exc)
    raise LLMOutputError(
        f"the reply is not valid JSON ({last_error})", text=text, errors=[last_error]
    )


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Any:
    import jsonschema

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _errors(validator: Any, value: Any) -> list[str]:
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]


def _resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    """A local `$ref` (`#/$defs/Name`, as Pydantic writes them) followed, else `schema`."""
    for _ in range(32):  # a ref chain, never a cycle
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        node: Any = root
        for step in ref[2:].split("/"):
            node = node.get(step) if isinstance(node, Mapping) else None
        schema = node
    return schema


def _drop_strict_nulls(value: Any, schema: Any, root: Mapping[str, Any], validator: Any) -> Any:
    """`value` without the nulls strict mode put for optional properties the caller's schema
    does not let be null: strict mode's way of saying "left out"."""
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return value
    if isinstance(value, list) and "items" in schema:
        return [_drop_strict_nulls(v, schema["items"], root, validator) for v in value]
    if not isinstance(value, dict):
        return value
    props = schema.get("properties")
    if not isinstance(props, dict):
        branches = schema.get("anyOf") or schema.get("oneOf") or ()
        for branch in branches:  # e.g. Optional[Model]: the branch that describes an object
            if isinstance(_resolve(branch, root), dict) and "properties" in _resolve(branch, root):
                return _drop_strict_nulls(value, branch, root, validator)
        return value
    required = set(schema.get("required", ()))
    out: dict[str, Any] = {}
    for key, item in value.items():
        sub = props.get(key)
        if sub is None:
            out[key] = item
        elif item is None and key not in required:
            if validator.evolve(schema=sub).is_valid(None):
                out[key] = item  # the caller's schema allows null: keep what was said
        else:
            out[key] = _drop_strict_nulls(item, sub, root, validator)
    return out


def _check(value: Any, spec: OutputSpec, text: str) -> Any:
    """`value` checked against the caller's schema (strict mode's nulls for left-out optional
    properties forgiven); the value that passed, or `LLMOutputError`."""
    schema = spec.reply_schema
    if schema is None:
        return value
    validator = _validator(json.dumps(schema, sort_keys=True))
    details = _errors(validator, value)
    if details and spec.strict and spec.user_schema is not None:
        cleaned = _drop_strict_nulls(value, schema, schema, validator)
        if cleaned != value and not _errors(validator, cleaned):
            return cleaned
    if details:
        raise LLMOutputError(
            "the reply does not match the JSON schema: " + "; ".join(details[:5]),
            text=text,
            errors=details,
        )
    return value


def parse_reply(text: str, spec: OutputSpec, *, validate: bool, model_cls: type[Any] | None) -> Any:
    """The decoded (and checked) JSON of a reply; raises `LLMOutputError` with the details.

    The reply is checked against the caller's own schema (and the Pydantic model built from
    it), not the strict transform that was sent: what the caller's schema accepts is
    accepted. With `validate=False` nothing raises: the decoded JSON as it is, or None when
    the reply holds none (the text is still on the result).
    """
    if not validate:
        try:
            return _extract_json(text)
        except LLMOutputError:
            return None
    value = _extract_json(text)
    if spec.kind == "json_object" and not isinstance(value, dict):
        raise LLMOutputError(
            "the reply is JSON but not an object", text=text, errors=["expected a JSON object"]
        )
    value = _check(value, spec, text)
    if model_cls is not None:
        try:
            return model_cls.model_validate(value)
        except Exception as exc:  # pydantic.ValidationError, without importing pydantic
            raise LLMOutputError(
                f"the reply does not validate as {model_cls.__name__}: {exc}",
                text=text,
                errors=[str(exc)],
            ) from exc
    return value


def json_instruction(spec: OutputSpec) -> str:
    """The instruction that emulates JSON output on a provider without native support."""
    if spec.schema is None:
        return "Reply with a single JSON object and nothing else: no prose, no code fences."
    return (
        "Reply with a single JSON object that validates against this JSON Schema, and nothing "
        "else: no prose, no code fences.\n" + json.dumps(spec.schema, indent=None)
    )
