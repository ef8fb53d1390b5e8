"""Tools the provider runs itself (`builtin_tools=["web_search"]`): checked once here, so each
adapter only translates them to its API's spelling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import LLMInputError
from .text_check import check_text

__all__ = ["BUILTIN_TOOLS", "BuiltinTool", "normalize_builtin_tools"]

BuiltinKind = Literal["web_search"]
BUILTIN_TOOLS: tuple[BuiltinKind, ...] = ("web_search",)
_OPTIONS = frozenset({"type", "max_uses", "allowed_domains"})
_SHAPE = (
    "'web_search', or {'type': 'web_search', 'max_uses': N, 'allowed_domains': ['example.com']}"
)


@dataclass(frozen=True)
class BuiltinTool:
    """A provider-run tool. `max_uses` caps searches a call (where the API takes a cap);
    `allowed_domains` keeps the search to those sites (where the API filters by domain)."""

    kind: BuiltinKind
    max_uses: int | None = None
    allowed_domains: tuple[str, ...] = ()


def _one(raw: Any, where: str) -> BuiltinTool:
    if isinstance(raw, BuiltinTool):
        return raw
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping):
        raise LLMInputError(f"{where} must be {_SHAPE}")
    unknown = sorted(str(k) for k in raw if k not in _OPTIONS)
    if unknown:
        raise LLMInputError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; {_SHAPE}")
    kind = raw.get("type")
    if kind not in BUILTIN_TOOLS:
        raise LLMInputError(
            f"{where}: unknown built-in tool {kind!r}; use one of {', '.join(BUILTIN_TOOLS)}"
        )
    max_uses = raw.get("max_uses")
    if max_uses is not None and (type(max_uses) is not int or max_uses < 1):
        raise LLMInputError(f"{where}.max_uses must be an int >= 1, got {max_uses!r}")
    domains = raw.get("allowed_domains") or ()
    if isinstance(domains, str) or not isinstance(domains, Sequence):
        raise LLMInputError(f"{where}.allowed_domains must be a list of domain names")
    for i, domain in enumerate(domains):
        if not isinstance(domain, str) or not domain or "/" in domain or " " in domain:
            raise LLMInputError(
                f"{where}.allowed_domains[{i}] must be a domain like 'example.com', got {domain!r}"
            )
        check_text(domain, f"{where}.allowed_domains[{i}]")
    return BuiltinTool("web_search", max_uses, tuple(domains))


def normalize_builtin_tools(raw: Any) -> tuple[BuiltinTool, ...]:
    """`builtin_tools=` -> checked `BuiltinTool`s (each kind at most once)."""
    if raw is None:
        return ()
    if isinstance(raw, (str, Mapping)) or not isinstance(raw, Sequence):
        raise LLMInputError(f"builtin_tools must be a list, e.g. ['web_search']; each is {_SHAPE}")
    tools = tuple(_one(item, f"builtin_tools[{i}]") for i, item in enumerate(raw))
    kinds = [t.kind for t in tools]
    if len(set(kinds)) != len(kinds):
        raise LLMInputError("builtin_tools names a tool twice; give each once")
    return tools
