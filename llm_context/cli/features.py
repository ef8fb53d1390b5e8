"""`llm-context providers`: the provider-by-feature table and each provider's defaults, both
generated from the registry (`ProviderSpec`), so the docs cannot drift from the code."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..providers.base import Feature
from ..providers.registry import PROVIDERS, SUBSTITUTES

__all__ = ["Table", "add_parser", "defaults_table", "feature_table"]

YES, NO = "✓", "—"
DESCRIPTION = """\
Print what each provider supports (from the registry the library itself checks before
sending: an unsupported feature raises LLMUnsupportedFeatureError) and its defaults.
"""


@dataclass(frozen=True)
class Table:
    """Rows of cells plus footnotes; rendered as Markdown (docs) or aligned text (terminal).

    A cell `✓^1` carries footnote 1; in `code_columns` each comma-separated value is code.
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()
    code_columns: frozenset[int] = frozenset()

    def markdown(self) -> str:
        """GitHub-flavoured Markdown, footnote marks as superscripts."""
        lines = ["| " + " | ".join(self.header) + " |"]
        lines.append("|" + "|".join(" --- " for _ in self.header) + "|")
        for row in self.rows:
            cells = [_md_cell(cell, i in self.code_columns) for i, cell in enumerate(row)]
            lines.append("| " + " | ".join(cells) + " |")
        notes = [_md_cell(note, False) for note in self.notes]
        if notes:
            lines += ["", *(f"{note}<br>" for note in notes[:-1]), notes[-1]]
        return "\n".join(lines) + "\n"

    def text(self) -> str:
        """Aligned plain-text columns."""
        rows = [self.header, *(tuple(c or NO for c in row) for row in self.rows)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.header))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        ]
        return "\n".join([*lines, *self.notes]) + "\n"


def _md_cell(cell: str, code: bool) -> str:
    if not cell:
        return NO
    text, _, mark = cell.partition("^")
    if code:
        text = ", ".join(_code(value) for value in text.split(", "))
    return f"{text}<sup>{mark}</sup>" if mark else text


def _code(value: str) -> str:
    name, space, rest = value.partition(" ")
    return f"`{name}`{space}{rest}"


def feature_table() -> Table:
    """Which provider supports which feature, with footnotes for models that lack one."""
    specs = list(PROVIDERS.values())
    marks: dict[tuple[str, Feature], int] = {}
    notes: list[str] = []
    for spec in specs:
        for rule in spec.model_rules:
            for feature in (f for f in Feature if f in rule.lacks & spec.features):
                marks[(spec.provider.value, feature)] = len(notes) + 1
                models = ", ".join(f"{prefix}…" for prefix in rule.prefixes)
                where = "only on" if rule.others else "not on"
                notes.append(f"{len(notes) + 1}) {spec.provider.value}: {where} {models} models")
    for spec in specs:
        for feature, substitute in SUBSTITUTES.items():
            if feature not in spec.features and substitute in spec.features:
                marks[(spec.provider.value, feature)] = len(notes) + 1
                notes.append(
                    f"{len(notes) + 1}) {spec.provider.value}: served as {substitute.value}"
                )
    rows = []
    for feature in Feature:
        cells = [feature.value]
        for spec in specs:
            served = feature in spec.features or SUBSTITUTES.get(feature) in spec.features
            cell = YES if served else NO
            mark = marks.get((spec.provider.value, feature))
            cells.append(f"{cell}^{mark}" if mark else cell)
        rows.append(tuple(cells))
    header = ("feature", *(spec.provider.value for spec in specs))
    return Table(header, tuple(rows), tuple(notes))


def _listed(values: Sequence[str] | str | None) -> str:
    if not values:
        return ""
    return values if isinstance(values, str) else ", ".join(values)


def defaults_table() -> Table:
    """Each provider's key and base-URL environment variables, endpoint and default models."""
    rows = []
    for spec in PROVIDERS.values():
        key = _listed(spec.key_env)
        rows.append(
            (
                spec.provider.value,
                key if spec.requires_key else f"{key} (optional)",
                _listed(spec.base_url_env),
                _listed(spec.default_base_url),
                _listed(spec.default_model),
                _listed(spec.default_embed_model),
                _listed(spec.default_image_model),
            )
        )
    header = ("provider", "key", "base URL env", "default base URL", "chat", "embed", "image")
    return Table(header, tuple(rows), code_columns=frozenset(range(1, len(header))))


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register `providers` on the command parser."""
    parser = commands.add_parser(
        "providers",
        help="the provider-by-feature table and provider defaults",
        description=DESCRIPTION,
        parents=[common],
    )
    parser.add_argument(
        "--markdown", action="store_true", help="Markdown tables (as in the documentation)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .common import say

    tables = (feature_table(), defaults_table())
    if args.markdown:
        say("\n".join(t.markdown() for t in tables), end="")
    else:
        say("\n".join(t.text() for t in tables), end="")
    return 0
