"""OpenAI's strict JSON-schema form (also what Anthropic's and strict tools' schemas start
from): every object closed, every property required, the optional ones made nullable.

A pure transform on schema dicts: tool specs and output specs both use it, and it imports
nothing of the contract, so neither has to import the other for it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["strict_schema"]


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI strict mode: every object closed, every property required (optional -> nullable)."""
    out: dict[str, Any] = _strict(copy.deepcopy(dict(schema)))
    return out


def _nullable(schema: Any) -> Any:
    """`schema` that also admits null (an optional property under strict mode)."""
    if not isinstance(schema, dict):
        return schema  # a boolean schema: true already admits null; false admits nothing
    out = dict(schema)
    if isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]  # else null passes `type` but fails `enum`
    kind = out.get("type")
    if isinstance(kind, str) and kind != "null":
        out["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        out["type"] = [*kind, "null"]
    elif kind is None and "anyOf" in out:
        if not any(_admits_null(branch) for branch in out["anyOf"]):
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]  # one level, not a wrapper
    elif kind is None and "$ref" in out:
        return {"anyOf": [schema, {"type": "null"}]}
    return out


def _admits_null(schema: Any) -> bool:
    if schema is True:
        return True
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind)


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    props = out.get("properties")
    if out.get("type") == "object" or isinstance(props, dict):
        props = props if isinstance(props, dict) else {}
        required = set(out.get("required", []))
        out["properties"] = {
            name: sub if name in required else _nullable(sub) for name, sub in props.items()
        }
        out["required"] = list(props)
        out["additionalProperties"] = False
    # Strict mode rejects defaults; keep the description instead.
    out.pop("default", None)
    return out
