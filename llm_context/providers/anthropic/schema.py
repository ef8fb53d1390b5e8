"""JSON schemas for Anthropic's structured outputs and strict tools.

The SDK's `transform_schema` closes objects and moves unsupported constraints into
descriptions, but it only knows a single `type` per node: a type list (what strict mode makes
of an optional property, `["string", "null"]`) trips an `assert_never`, a node without a type
a ValueError. `typed` first rewrites a schema into the form the transform handles (type lists
as `anyOf`, missing types inferred from their keywords); what still cannot be typed is an
`LLMInputError` naming where, raised before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import LLMInputError
from ..registry import Provider

PROVIDER = Provider.ANTHROPIC.value

TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")

_NUMBER = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})

# Keywords that constrain one type only: a `type: [A, B]` node becomes an anyOf whose branches
# keep the keywords of their own type (the others have no effect on that type anyway).
TYPE_KEYWORDS: dict[str, frozenset[str]] = {
    "object": frozenset(
        {
            "properties",
            "required",
            "additionalProperties",
            "patternProperties",
            "minProperties",
            "maxProperties",
            "propertyNames",
            "dependentRequired",
            "dependentSchemas",
            "unevaluatedProperties",
        }
    ),
    "array": frozenset(
        {
            "items",
            "prefixItems",
            "additionalItems",
            "minItems",
            "maxItems",
            "uniqueItems",
            "contains",
            "minContains",
            "maxContains",
            "unevaluatedItems",
        }
    ),
    "string": frozenset(
        {"format", "pattern", "minLength", "maxLength", "contentEncoding", "contentMediaType"}
    ),
    "integer": _NUMBER,
    "number": _NUMBER,
}
TYPED_KEYWORDS = frozenset().union(*TYPE_KEYWORDS.values())
COMBINATORS = ("anyOf", "oneOf", "allOf")
# Keywords the transform follows into subschemas (the rest end up in a description).
SCHEMA_MAPS = ("properties", "$defs")


def api_schema(schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`schema` in the subset structured outputs accept (the SDK's transform of its typed
    form). `where` names the schema in errors (e.g. "json_schema"). The client still
    validates the reply against the schema as given."""
    import anthropic

    node = typed(schema, where, "")
    try:
        return anthropic.transform_schema(node)
    except Exception as exc:  # the transform asserts or raises on what it cannot type
        raise unsendable(where, "", f"{type(exc).__name__}: {exc}") from exc


def unsendable(where: str, path: str, problem: str) -> LLMInputError:
    return LLMInputError(
        f"{where} at {path or '(root)'} cannot be sent to Anthropic's structured outputs: "
        f"{problem}",
        provider=PROVIDER,
    )


def typed(node: Any, where: str, path: str) -> dict[str, Any]:
    """A copy of `node` (and of its subschemas the transform follows) with one `type` per
    node, an anyOf for a type list, or literals that type it."""
    if not isinstance(node, Mapping):
        problem = "a true / false schema has no type; give this value a 'type'"
        raise unsendable(where, path, problem)
    out = dict(node)
    for key in SCHEMA_MAPS:
        subs = out.get(key)
        if isinstance(subs, Mapping):
            out[key] = {
                name: typed(sub, where, f"{path}/{key}/{name}") for name, sub in subs.items()
            }
    for key in COMBINATORS:
        subs = out.get(key)
        if isinstance(subs, list):
            out[key] = [typed(sub, where, f"{path}/{key}/{i}") for i, sub in enumerate(subs)]
    items = out.get("items")
    if isinstance(items, list):  # draft 4 tuple form: 2020-12 calls it prefixItems
        out["prefixItems"] = out.pop("items")
    elif items is True:
        del out["items"]  # any item: the same as no `items`
    elif items is not None:
        out["items"] = typed(items, where, f"{path}/items")
    return one_type(out, where, path)


def one_type(node: dict[str, Any], where: str, path: str) -> dict[str, Any]:
    """`node` (its subschemas already typed) with a single type, or typed by its literals."""
    if "$ref" in node:
        return node  # the transform keeps the reference alone
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for name in kinds:
        if name not in TYPES:
            raise unsendable(where, path, f"unknown type {name!r}")
    if literal(node):
        node.pop("type", None)  # the literals say which values (null included) are allowed
        return node
    kinds = list(dict.fromkeys(kinds))
    if len(kinds) == 1:
        return {**node, "type": kinds[0]}
    if len(kinds) > 1:
        return split(node, kinds)
    if any(key in node for key in COMBINATORS):
        return node
    for name, keywords in TYPE_KEYWORDS.items():
        if keywords & node.keys():
            return {**node, "type": name}  # e.g. `properties` without `type: object`
    raise unsendable(
        where,
        path,
        "no 'type' (every value needs a 'type', an 'anyOf', or an 'enum' / 'const' of "
        "strings, numbers, booleans or null)",
    )


def literal(node: dict[str, Any]) -> bool:
    """The node is typed by literals the transform keeps (an enum or const of primitives)."""
    enum = node.get("enum")
    if isinstance(enum, list) and enum and all(primitive(value) for value in enum):
        return True
    return "const" in node and primitive(node["const"])


def primitive(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def split(node: dict[str, Any], kinds: list[str]) -> dict[str, Any]:
    """A type-list node as an anyOf of one branch per type; description and other shared
    keywords stay on the node, alongside any combinator it already had."""
    shared = {k: v for k, v in node.items() if k != "type" and k not in TYPED_KEYWORDS}
    branches = [
        {"type": name, **{k: v for k, v in node.items() if k in TYPE_KEYWORDS.get(name, ())}}
        for name in kinds
    ]
    own = {k: shared.pop(k) for k in COMBINATORS if k in shared}
    if not own:
        return {**shared, "anyOf": branches}
    # One of the types, and the node's own combinator too (the transform keeps one per node).
    return {**shared, "allOf": [{"anyOf": branches}, own]}
