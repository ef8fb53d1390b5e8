"""`example_for_schema`: a small valid instance of a JSON schema, for default fake answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["example_for_schema"]

_MAX_DEPTH = 32
_STRING_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
}


def example_for_schema(schema: Mapping[str, Any] | bool) -> Any:
    """A deterministic instance of `schema`: required properties (and optional ones that do
    not recurse), const / enum / default first, the first branch of anyOf / oneOf, local
    `$ref`s into `$defs` / `definitions`. `pattern` is not honoured."""
    return _Example(schema).build(schema, depth=0, refs=())


class _Example:
    def __init__(self, root: Mapping[str, Any] | bool) -> None:
        self.root = root

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError(f"only local $refs are supported, got {ref!r}")
        node: Any = self.root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            key = part.replace("~1", "/").replace("~0", "~")
            node = node[int(key)] if isinstance(node, list) else node[key]
        return node

    def build(self, schema: Any, depth: int, refs: tuple[str, ...]) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError("schema nests too deep (or recurses through required fields)")
        if schema is True or schema == {}:
            return None
        if schema is False:
            raise ValueError("schema `false` has no valid instance")
        if not isinstance(schema, Mapping):
            raise TypeError(f"a schema must be a mapping or bool, got {type(schema).__name__}")
        if "$ref" in schema:
            ref = schema["$ref"]
            return self.build(self.resolve(ref), depth + 1, (*refs, ref))
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        if "default" in schema:
            return schema["default"]
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                return self.build(schema[key][0], depth + 1, refs)
        if schema.get("allOf"):
            return self.build(_merge_all_of(schema), depth + 1, refs)
        kind = _pick_type(schema)
        if kind == "object":
            return self.object(schema, depth, refs)
        if kind == "array":
            return self.array(schema, depth, refs)
        if kind == "string":
            return _string(schema)
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        return None

    def object(self, schema: Mapping[str, Any], depth: int, refs: tuple[str, ...]) -> Any:
        required = set(schema.get("required", ()))
        out: dict[str, Any] = {}
        for name, sub in dict(schema.get("properties", {})).items():
            if name not in required and self.recurses(sub, refs):
                continue  # an optional self-reference would never end
            out[name] = self.build(sub, depth + 1, refs)
        for name in required - out.keys():
            out[name] = None  # required but undeclared: any value is allowed
        return out

    def array(self, schema: Mapping[str, Any], depth: int, refs: tuple[str, ...]) -> Any:
        prefix = [self.build(sub, depth + 1, refs) for sub in schema.get("prefixItems", ())]
        items = schema.get("items", {})
        min_items = int(schema.get("minItems", 0))
        wanted = max(min_items, 1)  # one item reads better than [] in demos
        if "maxItems" in schema:
            wanted = min(wanted, int(schema["maxItems"]))
        if items is False or self.recurses(items, refs):
            wanted = min_items
        extra = [self.build(items, depth + 1, refs) for _ in range(max(0, wanted - len(prefix)))]
        return prefix + extra

    def recurses(self, schema: Any, refs: tuple[str, ...]) -> bool:
        """True when `schema` leads (directly or through arrays) back into a `$ref` in use."""
        if not isinstance(schema, Mapping):
            return False
        if schema.get("$ref") in refs:
            return True
        items = schema.get("items")
        branches = [items] if isinstance(items, Mapping) else []
        for key in ("anyOf", "oneOf"):
            branches.extend(schema.get(key, ())[:1])
        return any(self.recurses(branch, refs) for branch in branches)


def _pick_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        return non_null[0] if non_null else "null"
    if kind is None:
        if "properties" in schema or "required" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
    return kind if isinstance(kind, str) else None


def _merge_all_of(schema: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        if not isinstance(part, Mapping):
            continue
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _string(schema: Mapping[str, Any]) -> str:
    value = _STRING_FORMATS.get(str(schema.get("format")), "example")
    min_len = int(schema.get("minLength", 0))
    if len(value) < min_len:
        value += "x" * (min_len - len(value))
    if "maxLength" in schema:
        value = value[: int(schema["maxLength"])]
    return value


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    step = 1 if integer else 0.5
    low = schema.get("minimum")
    if "exclusiveMinimum" in schema and isinstance(schema["exclusiveMinimum"], (int, float)):
        low = schema["exclusiveMinimum"] + step
    high = schema.get("maximum")
    if "exclusiveMaximum" in schema and isinstance(schema["exclusiveMaximum"], (int, float)):
        high = schema["exclusiveMaximum"] - step
    value: float = 0
    if low is not None and value < low:
        value = low
    if high is not None and value > high:
        value = high
    multiple = schema.get("multipleOf")
    if multiple and value % multiple:
        value = (value // multiple + 1) * multiple
    if integer:
        return int(value) if float(value).is_integer() else int(value) + 1
    return value
